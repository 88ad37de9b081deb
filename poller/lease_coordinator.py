"""One stream mapping's shard leases on this replica: take, steal, renew, checkpoint, release.

A balancing pass runs every renew interval, and also at the moment the earliest lease seen would
expire (so a dead replica's shards move within the failover time plus one renew interval). It
scans the mapping's leases, creates leases for shards the listing shows and the table lacks, and
acquires what `leases.plan` says. Each held lease has its own renewer. A lease is lost when a
conditional write finds another owner or counter, or when no renewal succeeded for
`Timing.hold`; then the shard's reader is cancelled at once and its checkpoints are refused.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from poller.aws import describe
from poller.errors import LeaseLost
from poller.leases import ExpiryClock, Lease, Timing, plan
from poller.runtime import Runtime
from poller.shards import ShardInfo, startable
from poller.state.base import SHARD_END, advances
from poller.state.lease_table import LeaseTable


def real_checkpoint(value: str | None) -> str | None:
    """A lease's checkpoint if it is one (a sequence number or SHARD_END), else None: the
    initial-position sentinels (TRIM_HORIZON, LATEST, AT_TIMESTAMP) mean nothing settled yet."""
    if value is None or value == SHARD_END or (value.isascii() and value.isdigit()):
        return value
    return None


@dataclass(eq=False)
class _Held:
    lease: Lease  # as this replica last wrote it
    sent: float  # monotonic time the last successful write was sent
    start_after: float = 0.0  # a stolen lease waits for its previous owner to notice
    lock: anyio.Lock = field(default_factory=anyio.Lock)
    renewer: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    reader: anyio.CancelScope | None = None


class LeaseCoordinator:
    """Leases of one mapping held by worker `me`; see the module docstring.

    `checkpoints` is the mapping's shared view of every shard's checkpoint (by shard id); the
    coordinator advances it from what it reads, so lineage decisions see other replicas' work.
    """

    def __init__(
        self,
        table: LeaseTable,
        mapping: str,
        me: str,
        timing: Timing,
        runtime: Runtime,
        labels: tuple[str, str, str],
        log: Any,
        starting_position: str,
        checkpoints: dict[str, str],
    ) -> None:
        self._table = table
        self._mapping = mapping
        self.me = me
        self._timing = timing
        self._rt = runtime
        self._labels = labels
        self._log = log.bind(worker=me)
        self._position = starting_position
        self._checkpoints = checkpoints
        self._clock = ExpiryClock(timing.failover)
        self._held: dict[str, _Held] = {}
        self._shards: list[ShardInfo] | None = None
        self._wake = anyio.Event()
        self._on_change: Callable[[], None] = lambda: None
        self._group: TaskGroup | None = None
        self._rng = random.Random()  # noqa: S311 - spreading replicas' choices, not secrecy

    # -- what the mapping asks -------------------------------------------------------------

    def offer(self, shards: Sequence[ShardInfo]) -> None:
        """The stream's latest shard listing; leases are balanced over it."""
        self._shards = list(shards)
        self._wake.set()

    def may_start(self, shard_id: str) -> bool:
        """Whether this replica may read `shard_id` now: it holds the lease and, for a stolen
        lease, the previous owner has certainly stopped (`Timing.steal_grace`)."""
        held = self._held.get(shard_id)
        return held is not None and time.monotonic() >= held.start_after

    def guard(self, shard_id: str) -> anyio.CancelScope:
        """The cancel scope to read `shard_id` in: cancelled when its lease is lost."""
        scope = anyio.CancelScope()
        held = self._held.get(shard_id)
        if held is None:
            scope.cancel()
        else:
            held.reader = scope
        return scope

    @property
    def held(self) -> list[str]:
        return sorted(self._held)

    async def checkpoint(self, shard_id: str, checkpoint: str) -> bool:
        """Write a checkpoint to a held lease; False if it would move backwards.

        LeaseLost when the lease is not held (any more); the write's own error when the table
        fails (the lease is kept until `Timing.hold` runs out).
        """
        held = self._held.get(shard_id)
        if held is None:
            raise LeaseLost(shard_id)
        if not advances(real_checkpoint(held.lease.checkpoint), checkpoint):
            return False

        async def write(lease: Lease) -> Lease | None:
            return await self._table.checkpoint(lease, checkpoint)

        await self._write(held, write, lambda now: now.checkpoint == checkpoint)
        return True

    # -- running ---------------------------------------------------------------------------

    async def run(
        self,
        on_change: Callable[[], None],
        *,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Balance and renew until cancelled; `on_change` is called whenever the set of shards
        this replica may read changes. Balancing stops at shutdown; renewals go on until the
        mapping releases its leases (`release_all`) or is cancelled."""
        self._on_change = on_change
        self._rt.metrics.register_leases(*self._labels)
        async with anyio.create_task_group() as group:
            self._group = group
            task_status.started()
            group.start_soon(self._balance_loop)

    async def release(self, shard_id: str) -> None:
        """Give up one lease (its shard is finished, or the mapping stops). Bounded, shielded."""
        held = self._held.get(shard_id)
        if held is None:
            return
        # Best effort and quick: an unreleased lease only makes others wait for its expiry.
        with anyio.CancelScope(shield=True), anyio.move_on_after(self._timing.renew_interval):
            async with held.lock:
                if self._held.get(shard_id) is not held:
                    return
                try:
                    released = await self._table.release(held.lease)
                except Exception as exc:
                    self._log.warning("lease_release_failed", shard=shard_id, **describe(exc))
                else:
                    self._log.info("lease_released", shard=shard_id, taken_since=released is None)
        self._drop(shard_id)

    async def release_all(self) -> None:
        """Graceful shutdown: release every held lease (after the readers checkpointed)."""
        async with anyio.create_task_group() as group:
            for shard_id in list(self._held):
                group.start_soon(self.release, shard_id)

    # -- balancing -------------------------------------------------------------------------

    async def _balance_loop(self) -> None:
        lifecycle = self._rt.lifecycle
        while not lifecycle.stopping.is_set():
            leases: list[Lease] = []
            with lifecycle.intake():
                while self._shards is None:
                    await self._wake.wait()
                    self._wake = anyio.Event()
                try:
                    leases = await self._balance(self._shards)
                except Exception as exc:
                    self._rt.metrics.source_errors.labels(
                        *self._labels, "LeaseTable", describe(exc)["error_code"]
                    ).inc()
                    self._log.warning("lease_scan_failed", **describe(exc))
                now = time.monotonic()
                due = now + self._timing.renew_interval
                expiry = self._clock.next_expiry(leases, now)
                with anyio.move_on_after(min(due, expiry or due) - now):
                    await self._wake.wait()
                self._wake = anyio.Event()

    async def _balance(self, shards: list[ShardInfo]) -> list[Lease]:
        leases = await self._table.scan(self._mapping)
        known = {lease.shard_id for lease in leases}
        missing = [shard for shard in shards if shard.shard_id not in known]
        if missing:
            async with anyio.create_task_group() as group:
                for shard in missing:
                    group.start_soon(self._create, shard, {s.shard_id for s in shards})
            leases = await self._table.scan(self._mapping)
        leases = await self._forget_gone(leases, {shard.shard_id for shard in shards})
        now = time.monotonic()
        self._clock.observe(leases, now)
        for lease in leases:
            self._learn(lease)
        live = {
            lease.shard_id
            for lease in leases
            if lease.owner not in (None, self.me)
            and real_checkpoint(lease.checkpoint) != SHARD_END
            and not self._clock.expired(lease, now)
        }
        active = live | set(self._held)
        workable = startable(shards, self._checkpoints, self._position, active=active)
        chosen = plan(leases, self.me, set(self._held), set(workable), self._clock, now, self._rng)
        if chosen:  # shielded: a take that lands must be recorded, shutdown or not
            with anyio.CancelScope(shield=True):
                async with anyio.create_task_group() as group:
                    for lease in chosen.take:
                        group.start_soon(self._acquire, lease, False)
                    for lease in chosen.steal:
                        group.start_soon(self._acquire, lease, True)
        self._rt.metrics.leases_owned.labels(*self._labels).set(len(self._held))
        return leases

    async def _forget_gone(self, leases: list[Lease], listed: set[str]) -> list[Lease]:
        """Delete unowned SHARD_END leases of shards the stream no longer lists (trimmed past
        its retention; children count such parents as done), so the table does not grow with
        every reshard or DynamoDB shard rollover. Returns the rest.

        Only finished leases: an unlisted lease that is not SHARD_END may be a new shard this
        replica's listing does not show yet.
        """
        if not listed:  # an empty listing proves nothing
            return leases
        kept = []
        for lease in leases:
            gone = (
                lease.owner is None
                and lease.checkpoint == SHARD_END
                and lease.shard_id not in listed
            )
            if gone and await self._table.delete(lease):
                self._log.info("lease_deleted", shard=lease.shard_id)
                continue
            kept.append(lease)
        return kept

    async def _create(self, shard: ShardInfo, listed: set[str]) -> None:
        # The KCL's initial checkpoint: a sentinel naming where reading starts.
        read_parent = any(parent in listed for parent in shard.parents)
        sentinel = "TRIM_HORIZON" if read_parent else self._position
        if await self._table.create(self._mapping, shard.shard_id, shard.parents, sentinel):
            self._log.info("lease_created", shard=shard.shard_id)

    def _learn(self, lease: Lease) -> None:
        checkpoint = real_checkpoint(lease.checkpoint)
        if checkpoint is not None and advances(self._checkpoints.get(lease.shard_id), checkpoint):
            self._checkpoints[lease.shard_id] = checkpoint

    async def _acquire(self, lease: Lease, steal: bool) -> None:
        sent = time.monotonic()
        try:
            with anyio.fail_after(self._timing.renew_interval):
                taken = await self._table.take(lease, self.me)
        except Exception as exc:
            self._log.warning("lease_take_failed", shard=lease.shard_id, **describe(exc))
            return
        if taken is None:  # another replica wrote it first
            self._log.debug("lease_take_raced", shard=lease.shard_id)
            return
        grace = self._timing.steal_grace if steal else 0.0
        held = _Held(taken, sent, start_after=sent + grace)
        self._held[lease.shard_id] = held
        self._learn(taken)
        metric = self._rt.metrics.lease_steals if steal else self._rt.metrics.lease_takes
        metric.labels(*self._labels).inc()
        self._rt.metrics.leases_owned.labels(*self._labels).set(len(self._held))
        self._log.info(
            "lease_stolen" if steal else "lease_taken",
            shard=lease.shard_id,
            previous_owner=lease.owner,
            checkpoint=taken.checkpoint,
        )
        assert self._group is not None
        self._group.start_soon(self._renew_loop, held)
        if steal:
            self._group.start_soon(self._change_after, grace)
        else:
            self._on_change()

    async def _change_after(self, delay: float) -> None:
        await anyio.sleep(delay)
        self._on_change()

    # -- holding ---------------------------------------------------------------------------

    async def _renew_loop(self, held: _Held) -> None:
        interval = self._timing.renew_interval
        with held.renewer:
            while True:
                await anyio.sleep(max(0.0, held.sent + interval - time.monotonic()))
                try:
                    await self._write(held, self._table.renew, lambda _: True)
                except LeaseLost:
                    return
                except Exception as exc:
                    self._rt.metrics.lease_renewal_failures.labels(*self._labels).inc()
                    self._log.warning(
                        "lease_renewal_failed", shard=held.lease.shard_id, **describe(exc)
                    )
                    left = held.sent + self._timing.hold - time.monotonic()
                    await anyio.sleep(max(0.0, min(interval / 4, left)))

    async def _write(
        self,
        held: _Held,
        write: Callable[[Lease], Awaitable[Lease | None]],
        landed: Callable[[Lease], bool],
    ) -> None:
        """One conditional write to a held lease, bounded by the time the lease has left.

        A failed condition is checked against the table. When the item is ours, one write
        ahead of what we know, an earlier write of ours landed and only its response was lost:
        if that write was this one (`landed` says so of the item) it counts as done, otherwise
        the item is adopted and this write made once more. Anything else means another replica
        wrote: LeaseLost, as when the hold time runs out. Other errors are raised as they are.
        """
        shard_id = held.lease.shard_id
        async with held.lock:
            if self._held.get(shard_id) is not held:
                raise LeaseLost(shard_id)
            sent = time.monotonic()
            left = held.sent + self._timing.hold - sent
            with anyio.move_on_after(left):
                if left > 0:
                    written = await write(held.lease)
                    if written is None:
                        current = await self._ours(held.lease)
                        if current is not None and landed(current):
                            written = current
                        elif current is not None:
                            held.lease = current
                            written = await write(current)
                    if written is None:
                        self._lose(held, "taken")
                        raise LeaseLost(shard_id)
                    held.lease, held.sent = written, sent
                    return
            self._lose(held, "expired")
            raise LeaseLost(shard_id)

    async def _ours(self, mine: Lease) -> Lease | None:
        """The lease as stored if it is still ours, one write past `mine`; else None."""
        now = await self._table.get(self._mapping, mine.shard_id)
        if now is not None and now.owner == self.me and now.counter == mine.counter + 1:
            return now
        return None

    def _lose(self, held: _Held, reason: str) -> None:
        shard_id = held.lease.shard_id
        self._drop(shard_id)
        self._rt.metrics.lease_losses.labels(*self._labels).inc()
        self._log.warning("lease_lost", shard=shard_id, reason=reason)

    def _drop(self, shard_id: str) -> None:
        held = self._held.pop(shard_id, None)
        if held is None:
            return
        held.renewer.cancel()
        if held.reader is not None:
            held.reader.cancel()
        self._rt.metrics.leases_owned.labels(*self._labels).set(len(self._held))
        self._on_change()
