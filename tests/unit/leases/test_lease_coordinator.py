"""LeaseCoordinator: replicas sharing one in-memory lease table (tests/support/fake_lease_table.py).

Real anyio time with a small failover: 0.3 s (renew every 0.1 s), or 0.6-1.2 s where the margin
between two protocol times is the point, or a lone lease must outlive a stalled CI machine.
Assertions compare the fake table's call log with what the coordinators did: as orderings where
the protocol promises one (nobody takes a lease before its owner stopped using it), with generous
slack where it only promises "about" (liveness).
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from anyio.abc import TaskGroup, TaskStatus
from botocore.exceptions import ClientError
from fake_lease_table import Call, FakeLeaseTable, ResponseLost

from poller.aws import Aws
from poller.config.settings import AwsConfig
from poller.errors import LeaseLost
from poller.leases.coordinator import LeaseCoordinator
from poller.leases.holder import LeaseScope
from poller.leases.plan import Timing
from poller.lifecycle import Lifecycle
from poller.runtime import Runtime
from poller.sources.shards import SHARD_END, ShardInfo
from poller.telemetry.http import Readiness
from poller.telemetry.metrics import Metrics

pytestmark = pytest.mark.anyio

MAPPING = "mapping-uuid"
LABELS = ("orders", "fn", "kinesis")
TIMING = Timing(0.3)  # renew_interval 0.1 s, hold 0.25 s
# For one replica whose lease must survive table trouble (or just a stalled CI machine) for the
# hold time: renew 0.3 s, hold 0.75 s.
ROOMY = Timing(0.9)
SLACK = 0.3  # added to "about" bounds: a loaded 2-core CI machine can stall the loop a while
EPSILON = 0.005  # a coordinator reads its clock just before the fake's call log does


def shard_list(count: int) -> list[ShardInfo]:
    return [ShardInfo(f"shardId-{i:012d}") for i in range(count)]


def ids(shards: Sequence[ShardInfo]) -> list[str]:
    return [shard.shard_id for shard in shards]


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "UpdateItem")


class Log:
    """A structlog stand-in that records (time, level, event, fields)."""

    def __init__(self, lines: list[tuple[float, str, str, dict[str, Any]]] | None = None) -> None:
        self.lines = [] if lines is None else lines
        self._bound: dict[str, Any] = {}

    def bind(self, **fields: Any) -> Log:
        log = Log(self.lines)
        log._bound = {**self._bound, **fields}
        return log

    def _emit(self, level: str, event: str, fields: dict[str, Any]) -> None:
        self.lines.append((time.monotonic(), level, event, {**self._bound, **fields}))

    def debug(self, event: str, **fields: Any) -> None:
        self._emit("debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._emit("info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._emit("warning", event, fields)

    def events(self, event: str) -> list[tuple[float, dict[str, Any]]]:
        return [(at, fields) for at, _, name, fields in self.lines if name == event]


class Replica:
    """One coordinator with its own handle on the shared table, metrics, lifecycle and log."""

    def __init__(
        self,
        table: FakeLeaseTable,
        name: str,
        timing: Timing = TIMING,
        position: str = "TRIM_HORIZON",
    ) -> None:
        self.name = name
        self.table = table.client(name)
        self.timing = timing
        self.metrics = Metrics()
        self.lifecycle = Lifecycle()
        self.log = Log()
        self.checkpoints: dict[str, str] = {}
        # (when, the shards this replica may read then): one entry per on_change call
        self.changes: list[tuple[float, frozenset[str]]] = []
        runtime = Runtime(Aws(AwsConfig(), self.metrics), self.metrics, Readiness(), self.lifecycle)
        scope = LeaseScope(self.table, MAPPING, name, timing, runtime, LABELS, self.log)
        self.coordinator = LeaseCoordinator(scope, position, self.checkpoints)
        self.scope = anyio.CancelScope()
        self.ended = anyio.Event()

    @property
    def held(self) -> list[str]:
        return self.coordinator.held

    def readable(self) -> frozenset[str]:
        return frozenset(s for s in self.coordinator.held if self.coordinator.may_start(s))

    def count(self, metric: str) -> float:
        return self.metrics.value(metric, mapping=LABELS[0])

    async def start(self, group: TaskGroup, shards: Sequence[ShardInfo]) -> None:
        self.coordinator.offer(shards)
        await group.start(self._run)

    async def _run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        try:
            with self.scope:
                await self.coordinator.run(self._changed, task_status=task_status)
        finally:
            self.ended.set()

    def _changed(self) -> None:
        self.changes.append((time.monotonic(), self.readable()))

    async def kill(self) -> None:
        """The process dies: no release, no more writes."""
        self.scope.cancel()
        await self.ended.wait()

    def ok_calls(self, op: str, shard_id: str | None = None) -> list[Call]:
        return [c for c in self.table.calls_of(self.name, op, shard_id) if c.outcome == "ok"]

    def last_write(self, shard_id: str) -> Call:
        """This replica's last write to `shard_id` that reached the table."""
        landed = [c for c in self.table.calls_of(self.name, shard_id=shard_id) if c.applied]
        return max(landed, key=lambda c: c.applied or 0.0)


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> float:
    """Poll every few ms until `predicate()`; the monotonic time it first held."""
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.003)
    return time.monotonic()


async def settle(predicate: Callable[[], bool], steady: float, timeout: float = 8.0) -> None:
    """Wait until `predicate()` has held for `steady` seconds without a break."""
    with anyio.fail_after(timeout):
        since: float | None = None
        while since is None or time.monotonic() - since < steady:
            if not predicate():
                since = None
            elif since is None:
                since = time.monotonic()
            await anyio.sleep(0.003)


@asynccontextmanager
async def lone_replica(
    timing: Timing = TIMING,
) -> AsyncIterator[tuple[FakeLeaseTable, Replica, str]]:
    """One replica "a" holding the only lease of a one-shard stream; cancelled at the end."""
    table = FakeLeaseTable()
    async with anyio.create_task_group() as group:
        a = Replica(table, "a", timing)
        await a.start(group, shard_list(1))
        await wait_for(lambda: len(a.held) == 1)
        yield table, a, a.held[0]
        group.cancel_scope.cancel()


async def renewed(replica: Replica, *shard_ids: str) -> None:
    """Wait for a fresh renewal of each of `shard_ids`: their renewers then sleep a whole
    interval."""
    before = {s: len(replica.ok_calls("renew", s)) for s in shard_ids}
    await wait_for(lambda: all(len(replica.ok_calls("renew", s)) > before[s] for s in shard_ids))


# -- taking ---------------------------------------------------------------------------------------


async def test_a_lone_coordinator_creates_then_takes_every_lease() -> None:
    table = FakeLeaseTable()
    a = Replica(table, "a")
    shards = shard_list(4)
    async with anyio.create_task_group() as group:
        await a.start(group, shards)
        await wait_for(lambda: len(a.held) == 4)
        assert all(a.coordinator.may_start(s) for s in ids(shards))
        assert not a.coordinator.may_start("shardId-999999999999")

        creates = [c for c in table.calls_of(op="create") if c.outcome == "ok"]
        takes = a.ok_calls("take")
        assert sorted(c.shard_id or "" for c in creates) == ids(shards)
        assert sorted(c.shard_id or "" for c in takes) == ids(shards)
        assert max(c.ended or 0.0 for c in creates) <= min(c.started for c in takes)
        for lease in table.items(MAPPING):
            assert (lease.owner, lease.checkpoint, lease.owner_switches) == ("a", "TRIM_HORIZON", 1)
            assert lease.counter >= 1
        assert a.count("poller_lease_takes_total") == 4
        assert a.count("poller_leases_owned") == 4
        assert a.count("poller_lease_steals_total") == 0
        assert a.count("poller_lease_losses_total") == 0
        assert a.changes
        assert a.changes[-1][1] == frozenset(ids(shards))
        group.cancel_scope.cancel()


class Episodes:
    """How long each shard stayed in some condition, from polls: shard -> durations."""

    def __init__(self) -> None:
        self.durations: dict[str, list[float]] = {}
        self._since: dict[str, float] = {}

    def observe(self, now: float, shards: set[str]) -> None:
        for shard_id in shards:
            self._since.setdefault(shard_id, now)
        for shard_id in set(self._since) - shards:
            self.durations.setdefault(shard_id, []).append(now - self._since.pop(shard_id))

    def finish(self, now: float) -> dict[str, list[float]]:
        """Every episode, the ones still going ending `now`."""
        self.observe(now, set())
        return self.durations


@pytest.mark.parametrize(
    ("replicas", "shards"),
    [(2, 5), (3, 6), (3, 7)],
    ids=["2-replicas-5-shards", "3-replicas-6-shards", "3-replicas-7-shards"],
)
async def test_replicas_converge_to_a_balanced_split_never_reading_a_shard_twice(
    replicas: int, shards: int
) -> None:
    """A replica whose lease was stolen lists it in `held` until its next renewal fails (that
    is the protocol: it cannot know sooner), so `held` lists may overlap for about a renew
    interval; the thief may not read the shard meanwhile (`steal_grace`). Checked at every
    poll: a shard in two `held` lists leaves one of them within about a renew interval, and no
    shard is ever readable (`may_start`) by two replicas at once."""
    table = FakeLeaseTable()
    group_of = [Replica(table, f"r{i}") for i in range(replicas)]
    listing = shard_list(shards)
    expected = sorted(_split(shards, replicas))
    held_twice, readable_twice = Episodes(), Episodes()

    async def watch() -> None:
        while True:
            held: set[str] = set()
            readable: set[str] = set()
            both_held: set[str] = set()
            both_readable: set[str] = set()
            for replica in group_of:
                both_held |= held & set(replica.held)
                both_readable |= readable & replica.readable()
                held |= set(replica.held)
                readable |= replica.readable()
            now = time.monotonic()
            held_twice.observe(now, both_held)
            readable_twice.observe(now, both_readable)
            await anyio.sleep(0.002)

    def balanced() -> bool:
        held = [r.readable() for r in group_of]
        union = {s for h in held for s in h}
        return sorted(map(len, held)) == expected and union == set(ids(listing))

    async with anyio.create_task_group() as group:
        group.start_soon(watch)
        for replica in group_of:
            await replica.start(group, listing)
        await settle(balanced, steady=2 * TIMING.renew_interval)
        assert max(len(r.held) for r in group_of) == math.ceil(shards / replicas)
        for replica in group_of:  # the table agrees with every replica
            assert replica.readable() == set(replica.held)
            for shard_id in replica.held:
                lease = table.item(MAPPING, shard_id)
                assert lease is not None
                assert lease.owner == replica.name
        group.cancel_scope.cancel()
    now = time.monotonic()
    longest = max((d for ds in held_twice.finish(now).values() for d in ds), default=0.0)
    assert longest <= TIMING.renew_interval + SLACK
    assert readable_twice.finish(now) == {}


def _split(shards: int, replicas: int) -> list[int]:
    """The balanced split: every replica ceil(shards / replicas) or one less."""
    base, extra = divmod(shards, replicas)
    return [base + 1] * extra + [base] * (replicas - extra)


# -- stealing ---------------------------------------------------------------------------------------


async def _steal_one(table: FakeLeaseTable, group: TaskGroup) -> tuple[Replica, Replica, str, Call]:
    """A holds two shards alone; B joins and steals one (its share). Returns the steal's call."""
    a, b = Replica(table, "a"), Replica(table, "b")
    shards = shard_list(2)
    await a.start(group, shards)
    await wait_for(lambda: len(a.held) == 2)
    await b.start(group, shards)
    await wait_for(lambda: len(b.held) == 1)
    (stolen,) = b.held
    (steal,) = b.ok_calls("take", stolen)
    return a, b, stolen, steal


async def test_the_victim_of_a_steal_drops_the_lease_at_its_next_renewal() -> None:
    table = FakeLeaseTable()
    async with anyio.create_task_group() as group:
        a = Replica(table, "a")
        shards = shard_list(2)
        await a.start(group, shards)
        await wait_for(lambda: len(a.held) == 2)
        guards = {shard_id: a.coordinator.guard(shard_id) for shard_id in a.held}
        b = Replica(table, "b")
        await b.start(group, shards)
        await wait_for(lambda: len(b.held) == 1)
        (stolen,) = b.held
        (kept,) = set(ids(shards)) - {stolen}
        (steal,) = b.ok_calls("take", stolen)

        dropped = await wait_for(lambda: stolen not in a.held)
        assert a.held == [kept]
        assert guards[stolen].cancel_called
        assert not guards[kept].cancel_called
        assert a.count("poller_lease_losses_total") == 1
        assert a.count("poller_leases_owned") == 1
        ((_, lost),) = a.log.events("lease_lost")
        assert (lost["shard"], lost["reason"]) == (stolen, "taken")
        # Noticed by the next renewal: within one renew interval of the steal (plus slack).
        assert dropped - steal.started <= TIMING.renew_interval + SLACK
        with pytest.raises(LeaseLost):
            await a.coordinator.checkpoint(stolen, "100")
        assert a.coordinator.guard(stolen).cancel_called
        assert await a.coordinator.checkpoint(kept, "100") is True
        lease = table.item(MAPPING, stolen)
        assert lease is not None
        assert (lease.owner, lease.checkpoint, lease.owner_switches) == ("b", "TRIM_HORIZON", 2)
        assert b.count("poller_lease_steals_total") == 1
        group.cancel_scope.cancel()


async def test_a_thief_waits_the_steal_grace_before_reading() -> None:
    table = FakeLeaseTable()
    async with anyio.create_task_group() as group:
        a, b, stolen, steal = await _steal_one(table, group)
        first_seen = time.monotonic()
        readable_early = b.coordinator.may_start(stolen)
        readable_at = await wait_for(lambda: b.coordinator.may_start(stolen))
        victim_held_then = stolen in a.held

        assert first_seen < steal.started + TIMING.steal_grace  # seen during the grace...
        assert not readable_early  # ...and not readable then
        assert not victim_held_then  # the victim stopped first (its next renewal failed)
        assert readable_at >= steal.started + TIMING.steal_grace - EPSILON
        assert readable_at <= steal.started + TIMING.steal_grace + SLACK
        # on_change tells the mapping once the shard became readable, not before.
        await wait_for(lambda: any(stolen in readable for _, readable in b.changes))
        at, _ = next((at, r) for at, r in b.changes if stolen in r)
        assert steal.started + TIMING.steal_grace - EPSILON <= at
        assert at <= steal.started + TIMING.steal_grace + SLACK
        group.cancel_scope.cancel()


async def test_a_thief_starts_reading_only_after_a_cut_off_victim_has_stopped() -> None:
    """The victim cannot learn of the steal (its table calls hang) and keeps the lease until its
    hold time runs out; the thief's grace outlasts that, so the two never read at once."""
    timing = Timing(0.6)  # renew 0.2 s, hold 0.5 s
    table = FakeLeaseTable()
    shards = shard_list(2)
    async with anyio.create_task_group() as group:
        a, b = Replica(table, "a", timing), Replica(table, "b", timing)
        await a.start(group, shards)
        await wait_for(lambda: len(a.held) == 2)
        await renewed(a, *ids(shards))
        await anyio.sleep(timing.renew_interval / 2)
        a.table.hang()  # A's last writes were those renewals
        await b.start(group, shards)
        await wait_for(lambda: len(b.held) == 1)
        (stolen,) = b.held
        (steal,) = b.ok_calls("take", stolen)
        readable_at = await wait_for(lambda: b.coordinator.may_start(stolen))
        victim_still_reads = stolen in a.readable()
        a.table.unhang()
        group.cancel_scope.cancel()
    assert not victim_still_reads
    (dropped,) = [at for at, f in a.log.events("lease_lost") if f["shard"] == stolen]
    assert dropped < readable_at
    assert readable_at >= steal.started + timing.steal_grace - EPSILON
    last = a.last_write(stolen)
    assert last.applied is not None
    assert last.applied < steal.started  # the steal was conditional on A's last write


# -- table trouble ----------------------------------------------------------------------------------


async def test_an_owner_cut_off_from_the_table_stops_before_anyone_may_take_over() -> None:
    timing = Timing(0.6)  # renew 0.2 s, hold 0.5 s: 0.1 s between "owner stops" and "expired"
    table = FakeLeaseTable()
    shards = shard_list(1)
    (shard_id,) = ids(shards)
    async with anyio.create_task_group() as group:
        a, b = Replica(table, "a", timing), Replica(table, "b", timing)
        await a.start(group, shards)
        await wait_for(lambda: a.held == [shard_id])
        await b.start(group, shards)
        await wait_for(lambda: len(b.ok_calls("scan")) >= 2)
        assert b.held == []
        guard = a.coordinator.guard(shard_id)
        a.table.hang()  # A's connection to the table hangs; B still reaches it

        await wait_for(lambda: b.held == [shard_id], timeout=5)
        ((dropped, lost),) = a.log.events("lease_lost")
        assert lost["reason"] == "expired"
        assert guard.cancel_called
        last = a.last_write(shard_id)
        assert last.applied is not None
        (take,) = b.ok_calls("take", shard_id)
        # A stopped about `hold` after sending its last successful write...
        assert dropped >= last.started + timing.hold - EPSILON
        assert dropped <= last.started + timing.hold + SLACK
        # ...which is before B could call the lease expired (failover after it saw that write)
        # and took it. A loaded machine can fire A's timer late: slack on the time bound, none
        # on the order.
        assert dropped < last.applied + timing.failover + SLACK
        assert dropped < take.started
        assert take.started >= last.applied + timing.failover
        a.table.unhang()
        group.cancel_scope.cancel()


async def test_transient_renewal_errors_within_the_hold_time_keep_the_lease() -> None:
    async with lone_replica(ROOMY) as (_table, a, shard_id):
        a.table.fail_next(2, client_error("ThrottlingException"), ops={"renew"})
        await wait_for(lambda: a.count("poller_lease_renewal_failures_total") == 2)
        await renewed(a, shard_id)

        assert a.held == [shard_id]
        assert a.coordinator.may_start(shard_id)
        assert a.count("poller_lease_renewal_failures_total") == 2
        assert a.count("poller_lease_losses_total") == 0
        assert [fields["error_code"] for _, fields in a.log.events("lease_renewal_failed")] == [
            "ThrottlingException"
        ] * 2
        renews = a.table.calls_of("a", "renew")
        assert [c.outcome for c in renews].count("error") == 2


async def test_renewal_errors_past_the_hold_time_lose_the_lease() -> None:
    async with lone_replica() as (_table, a, shard_id):
        a.table.fail_next(1000, client_error("InternalServerError"), ops={"renew"})
        await wait_for(lambda: a.held == [])
        ((dropped, lost),) = a.log.events("lease_lost")
        assert lost["reason"] == "expired"
        last = a.last_write(shard_id)
        assert last.started + TIMING.hold - EPSILON <= dropped <= last.started + TIMING.hold + SLACK
        assert a.count("poller_lease_renewal_failures_total") >= 2


async def test_a_renewal_whose_response_was_lost_is_reconciled_and_the_lease_kept() -> None:
    async with lone_replica(ROOMY) as (table, a, shard_id):
        a.table.lose_responses(1, ops={"renew"})
        await wait_for(lambda: a.count("poller_lease_renewal_failures_total") == 1)
        (lost,) = [c for c in a.table.calls_of("a", "renew") if c.outcome == "lost"]
        await wait_for(lambda: bool(a.table.calls_of("a", "get", shard_id)))
        await renewed(a, shard_id)

        assert a.held == [shard_id]
        assert a.count("poller_lease_losses_total") == 0
        (get,) = a.table.calls_of("a", "get", shard_id)
        assert lost.ended is not None
        assert get.started > lost.ended
        retries = [c for c in a.table.calls_of("a", "renew") if c.started > lost.started]
        assert retries[0].outcome == "condition-failed"  # the lost write had landed
        lease = table.item(MAPPING, shard_id)
        assert lease is not None
        assert lease.owner == "a"


async def test_a_checkpoint_whose_response_was_lost_counts_as_done_on_retry() -> None:
    async with lone_replica(ROOMY) as (table, a, shard_id):
        await renewed(a, shard_id)  # the renewer now sleeps: the retry below meets the lost write
        a.table.lose_responses(1, ops={"checkpoint"})
        with pytest.raises(ResponseLost):
            await a.coordinator.checkpoint(shard_id, "100")
        lease = table.item(MAPPING, shard_id)
        assert lease is not None
        assert lease.checkpoint == "100"  # it landed

        assert await a.coordinator.checkpoint(shard_id, "100") is True
        assert a.held == [shard_id]
        assert a.count("poller_lease_losses_total") == 0
        assert a.table.calls_of("a", "get", shard_id)  # reconciled against the table
        lease = table.item(MAPPING, shard_id)
        assert lease is not None
        assert (lease.owner, lease.checkpoint) == ("a", "100")


@pytest.mark.parametrize("lost_op", ["renew", "checkpoint"])
async def test_a_checkpoint_after_an_earlier_lost_response_keeps_the_lease(lost_op: str) -> None:
    timing = Timing(1.2)  # renew 0.4 s, hold 1 s
    async with lone_replica(timing) as (table, a, shard_id):
        if lost_op == "renew":
            a.table.lose_responses(1, ops={"renew"})
            # Then the renewer's retries are throttled: only the checkpoint meets the lost write.
            a.table.fail_next(1000, client_error("ThrottlingException"), ops={"renew"})
            await wait_for(lambda: a.count("poller_lease_renewal_failures_total") >= 1)
        else:
            await renewed(a, shard_id)
            a.table.lose_responses(1, ops={"checkpoint"})
            with pytest.raises(ResponseLost):
                await a.coordinator.checkpoint(shard_id, "100")
        # Our own earlier write bumped the counter; the lease is still ours in the table.
        lease = table.item(MAPPING, shard_id)
        assert lease is not None
        assert lease.owner == "a"
        outcome: bool | LeaseLost
        try:
            outcome = await a.coordinator.checkpoint(shard_id, "200")
        except LeaseLost as exc:
            outcome = exc
        lease = table.item(MAPPING, shard_id)
    assert lease is not None
    assert lease.owner == "a"  # nobody else ever wrote it
    assert outcome is True, f"{outcome!r}; {a.log.events('lease_lost')}"
    assert a.count("poller_lease_losses_total") == 0


# -- checkpoints and release --------------------------------------------------------------------------


async def test_checkpoint_refuses_to_go_back_and_needs_the_lease() -> None:
    async with lone_replica(ROOMY) as (table, a, shard_id):

        def stored() -> str | None:
            lease = table.item(MAPPING, shard_id)
            assert lease is not None
            return lease.checkpoint

        assert await a.coordinator.checkpoint(shard_id, "100") is True
        assert stored() == "100"
        writes = len(table.calls_of(op="checkpoint"))
        assert await a.coordinator.checkpoint(shard_id, "99") is False  # numerically behind
        assert len(table.calls_of(op="checkpoint")) == writes  # nothing written
        assert stored() == "100"
        assert await a.coordinator.checkpoint(shard_id, "100") is True  # the same again is fine
        assert await a.coordinator.checkpoint(shard_id, "1000") is True
        assert await a.coordinator.checkpoint(shard_id, SHARD_END) is True
        assert stored() == SHARD_END
        writes = len(table.calls_of(op="checkpoint"))
        assert await a.coordinator.checkpoint(shard_id, "2000") is False  # nothing after the end
        assert len(table.calls_of(op="checkpoint")) == writes
        assert stored() == SHARD_END
        lease = table.item(MAPPING, shard_id)
        assert lease is not None
        assert (lease.owner, lease.owner_switches) == ("a", 0)
        with pytest.raises(LeaseLost) as lost:
            await a.coordinator.checkpoint("shardId-000000000007", "5")
        assert lost.value.shard_id == "shardId-000000000007"
        assert a.coordinator.guard("shardId-000000000007").cancel_called


async def test_release_all_leaves_every_lease_unowned_with_its_last_checkpoint() -> None:
    table = FakeLeaseTable()
    shards = shard_list(3)
    first, second, third = ids(shards)
    async with anyio.create_task_group() as group:
        a = Replica(table, "a", ROOMY)
        await a.start(group, shards)
        await wait_for(lambda: len(a.held) == 3)
        assert await a.coordinator.checkpoint(first, "10")
        assert await a.coordinator.checkpoint(second, SHARD_END)
        a.lifecycle.stop()  # shutdown: balancing stops, renewals go on
        await a.coordinator.release_all()
        assert a.held == []
        assert a.count("poller_leases_owned") == 0
        with anyio.fail_after(2):  # nothing left to run: run() returns by itself
            await a.ended.wait()
        released = {lease.shard_id: lease for lease in table.items(MAPPING)}
        assert {s: (lease.owner, lease.checkpoint) for s, lease in released.items()} == {
            first: (None, "10"),
            second: (None, SHARD_END),
            third: (None, "TRIM_HORIZON"),
        }
        assert len(a.table.calls_of("a", "release")) == 3
        group.cancel_scope.cancel()


# -- failover and lineage ---------------------------------------------------------------------------


async def test_a_dead_coordinators_leases_move_within_the_failover_time() -> None:
    table = FakeLeaseTable()
    shards = shard_list(4)
    async with anyio.create_task_group() as group:
        a, b = Replica(table, "a"), Replica(table, "b")
        await a.start(group, shards)
        await b.start(group, shards)
        await settle(
            lambda: len(a.readable()) == 2 and len(b.readable()) == 2,
            steady=2 * TIMING.renew_interval,
        )
        orphans = a.held
        await a.kill()  # no release: its leases just stop being renewed

        await wait_for(lambda: len(b.held) == 4, timeout=5)
        for shard_id in orphans:
            last = a.last_write(shard_id)
            assert last.applied is not None
            take = b.ok_calls("take", shard_id)[-1]
            # Never before the failover time after the dead owner's last write (B only saw it
            # after it landed)...
            assert take.started >= last.applied + TIMING.failover
            # ...and within a renew interval more (B saw it at its next scan at the latest).
            assert take.started <= last.applied + TIMING.failover + TIMING.renew_interval + SLACK
        taken = {f["shard"]: f["previous_owner"] for _, f in b.log.events("lease_taken")}
        assert all(taken.get(shard_id) == "a" for shard_id in orphans)  # taken, not stolen
        group.cancel_scope.cancel()


async def test_a_child_lease_waits_for_its_parent_to_end_and_be_released() -> None:
    table = FakeLeaseTable()
    parent = ShardInfo("shardId-000000000000", starting_sequence="0", ending_sequence="200")
    child = ShardInfo("shardId-000000000001", (parent.shard_id,), starting_sequence="201")
    shards = [parent, child]
    async with anyio.create_task_group() as group:
        a, b = Replica(table, "a"), Replica(table, "b")
        await a.start(group, shards)
        await wait_for(lambda: a.held == [parent.shard_id])
        await b.start(group, shards)
        # Several balancing passes of both, and longer than the failover time.
        await wait_for(lambda: len(b.ok_calls("scan")) >= 6)
        assert await a.coordinator.checkpoint(parent.shard_id, "150")
        await wait_for(lambda: len(b.ok_calls("scan")) >= 9)
        assert a.held == [parent.shard_id]
        assert b.held == []
        child_lease = table.item(MAPPING, child.shard_id)
        assert child_lease is not None  # created, with its lineage, never taken
        assert (child_lease.owner, child_lease.parents) == (None, (parent.shard_id,))
        assert child_lease.checkpoint == "TRIM_HORIZON"  # a child of a listed parent
        assert table.calls_of(op="take", shard_id=child.shard_id) == []

        assert await a.coordinator.checkpoint(parent.shard_id, SHARD_END)
        await a.coordinator.release(parent.shard_id)
        await wait_for(lambda: child.shard_id in a.held + b.held)
        assert parent.shard_id not in a.held + b.held
        parent_lease = table.item(MAPPING, parent.shard_id)
        assert parent_lease is not None
        assert (parent_lease.owner, parent_lease.checkpoint) == (None, SHARD_END)
        group.cancel_scope.cancel()


async def test_finished_leases_of_shards_gone_from_the_stream_are_deleted() -> None:
    table = FakeLeaseTable()
    old = ShardInfo("shardId-000000000000", starting_sequence="0", ending_sequence="200")
    new = ShardInfo("shardId-000000000001", (old.shard_id,), starting_sequence="201")
    newer = ShardInfo("shardId-000000000002", starting_sequence="0")
    async with anyio.create_task_group() as group:
        a = Replica(table, "a")
        await a.start(group, [old, new])
        await wait_for(lambda: a.held == [old.shard_id])
        assert await a.coordinator.checkpoint(old.shard_id, SHARD_END)
        await a.coordinator.release(old.shard_id)
        await wait_for(lambda: a.held == [new.shard_id])
        # A lease this replica's listing does not show yet, never finished: kept.
        await table.client("other").create(MAPPING, newer.shard_id, (), "TRIM_HORIZON")
        # The old shard is trimmed past retention: the listing drops it.
        a.coordinator.offer([new])
        await wait_for(lambda: table.item(MAPPING, old.shard_id) is None)
        assert [c.outcome for c in a.table.calls_of("a", "delete", old.shard_id)] == ["ok"]
        scans = len(a.ok_calls("scan"))
        await wait_for(lambda: len(a.ok_calls("scan")) >= scans + 2)
        assert table.item(MAPPING, newer.shard_id) is not None
        assert table.item(MAPPING, new.shard_id) is not None  # held: never deleted
        assert [f["shard"] for _, f in a.log.events("lease_deleted")] == [old.shard_id]
        group.cancel_scope.cancel()


async def test_a_take_in_flight_at_shutdown_is_released_too() -> None:
    """Graceful stop: a take that lands after the stop began is held, then released with the
    rest, instead of staying owned until it expires."""
    table = FakeLeaseTable()
    async with anyio.create_task_group() as group:
        a = Replica(table, "a")
        a.table.hang(ops={"take"})
        await a.start(group, shard_list(1))
        await wait_for(lambda: len(table.calls_of("a", "take")) == 1)
        a.lifecycle.stop()
        releasing = anyio.Event()

        async def release_all() -> None:
            await a.coordinator.release_all()
            releasing.set()

        group.start_soon(release_all)
        await anyio.sleep(TIMING.renew_interval / 2)
        assert not releasing.is_set()  # waits for the balancing pass to end
        a.table.unhang()
        with anyio.fail_after(5):
            await releasing.wait()
        (lease,) = table.items(MAPPING)
        assert lease.owner is None
        assert a.held == []
        group.cancel_scope.cancel()
