"""Crash loops: `poller run` SIGKILLed at random moments and restarted on the same config and
state file, through an SQS run, a Kinesis run and a Kinesis run resharded between kills.

Each test prints its seed (set POLLER_CRASH_SEED to replay one) and one summary line (records,
kills, duplicates, time to drain after the last restart); `-s` shows them. Full size:
`POLLER_TEST_SCALE=full .venv/bin/pytest tests/reliability/test_crash_loops.py -s -q`.
"""

from __future__ import annotations

import os
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

import crash_support
import pytest
from crash_support import (
    Checkpoints,
    Daemon,
    Delivery,
    DeliveryLog,
    Duplicates,
    Producer,
    assert_not_rolled_back,
    crash_loop,
    duplicates,
    exposure,
    kill_points,
    read_state,
)
from scale import NAME, scaled
from sqs_support import (
    MOTO_REPEATS,
    config_yaml,
    depth,
    logged_port,
    make_queue,
    scrape,
    send,
    unique,
    until,
)
from stream_support import ancestors, make_stream, put, read_past, stream_config, wait_stream_active

pytestmark = pytest.mark.integration

# SQS: a poller holds at most one batch (no 6 MB carry with these small bodies), and their
# number is fixed: Lambda's floor is min(5, MaximumConcurrency) and the cap MaximumConcurrency.
SQS_BATCH, SQS_POLLERS, VISIBILITY = 10, 4, 4
# Kinesis: 4 shards, 2 lanes each.
SHARDS, LANES, STREAM_BATCH = 4, 2, 20
# Batches a lane can have delivered past its durable checkpoint at a kill (README, Checkpoints):
# the one in flight and the one finished just before it.
AHEAD = 2


def _rng(test: str) -> random.Random:
    seed = int(os.environ.get("POLLER_CRASH_SEED") or random.SystemRandom().randrange(2**32))
    print(f"\n{test}: seed {seed} (POLLER_CRASH_SEED={seed} replays it)")
    return random.Random(seed)


@pytest.mark.timeout(scaled(150, 1500))
def test_sqs_crash_loop_loses_nothing(endpoint: str, sqs: Any, tmp_path: Path) -> None:
    """Every message is handled at least once across the kills; duplicates stay within what
    was in flight at each kill.

    The bound, per kill: SQS_POLLERS x SQS_BATCH (4 x 10). A message is handled again after a
    kill only if the killed daemon's handler had it and its delete had not been done: each
    poller gathers, invokes and deletes one batch at a time, and the pollers are exactly
    MaximumConcurrency (floor min(5, cap), cap MaximumConcurrency; poller/sqs/scaling.py).
    Messages received but not yet handed to the handler come back too, but are not duplicates.
    A repeat is the kill's when the previous delivery was made by an earlier run.

    Repeats within one run cannot come from a kill: they are the server's. moto sometimes hands
    one message to two concurrent receives (sqs_support.MOTO_REPEATS; about 1 in 600 in
    benchmarks/README.md); AWS standard queues may also deliver twice. They are counted apart,
    each must come inside the visibility timeout of the first (a later one would be poller
    failing to delete in time), and their number is held to 1 % of the messages.
    """
    rng = _rng("sqs crash loop")
    total, kills = scaled(1_500, 20_000), scaled(3, 10)
    name = unique("crash")
    url = make_queue(sqs, name, visibility=VISIBILITY)
    config = tmp_path / "poller.yaml"
    config.write_text(
        config_yaml(
            endpoint,
            name,
            handler="crash_handlers:sqs",
            timeout=VISIBILITY - 1,
            extra_mapping=f"""\
                batch_size: {SQS_BATCH}
                scaling_config: {{maximum_concurrency: {SQS_POLLERS}}}
            """,
        )
    )
    log = DeliveryLog(tmp_path / "deliveries.log")
    ids = [f"m{i:06d}" for i in range(total)]
    daemon = Daemon(config, log.path, state=None)
    producer = Producer(ids, partial(send, sqs, url), log.refresh, chunk=10, backlog=150)
    try:
        seen_at_kill = crash_loop(daemon, log, rng, kill_points(rng, total, kills), timeout=120)
        restarted = time.monotonic()
        until(lambda: producer.check() and log.refresh() >= total, timeout=scaled(120, 900))
        until(lambda: depth(sqs, url) == 0, timeout=2 * VISIBILITY + 30)
        drain = time.monotonic() - restarted
        producer.check()
        assert daemon.stop() == 0
    finally:
        producer.stop()
        daemon.close()

    log.refresh()
    assert max(seen_at_kill) < total, f"a kill came after the run: {seen_at_kill}"
    assert log.distinct == {(i,) for i in ids}, "a message was lost (or one never sent came)"
    dups = duplicates(log.deliveries, lambda d: d.fields)
    bound = SQS_POLLERS * SQS_BATCH
    late = [(key, gap) for key, gap in dups.same_run if gap >= VISIBILITY]
    assert not late, f"redelivered within one run after the visibility timeout: {late}"
    assert len(dups.same_run) <= max(MOTO_REPEATS, total // 100), dups.same_run
    _summary("sqs", total, kills, dups, drain, seen_at_kill, bound)
    for kill, count in dups.per_kill.items():
        assert count <= bound, f"kill {kill}: {count} redelivered, over {bound} in flight"


@pytest.mark.timeout(scaled(120, 900))
def test_kinesis_crash_loop_loses_nothing(endpoint: str, kinesis: Any, tmp_path: Path) -> None:
    """Every record is handled at least once across the kills, in order per partition key; the
    SQLite state is whole and never behind itself after each kill; each kill redelivers exactly
    what its state did not cover, and that is within the in-flight bound.

    The bound, per kill and shard: LANES x AHEAD x STREAM_BATCH (2 x 2 x 20 = 80), so per kill
    SHARDS times that (320): each lane runs at most one finished batch ahead of its durable
    checkpoint, plus the batch in flight (README, Checkpoints). It is checked where it is
    sharpest: after each kill, the records the killed run delivered above its shard's
    checkpoint ("exposed") are at most that, and the later runs deliver again exactly the
    exposed records, no more, no fewer. No record is delivered twice within one run.
    """
    rng = _rng("kinesis crash loop")
    total, kills = scaled(1_500, 20_000), scaled(3, 10)
    name = unique("crash")
    arn = make_stream(kinesis, name, shards=SHARDS)
    config, state = tmp_path / "poller.yaml", tmp_path / "state.db"
    config.write_text(_stream_config(endpoint, arn, state, LANES, STREAM_BATCH))
    log = DeliveryLog(tmp_path / "deliveries.log")
    items = [(f"k{i % 64}", str(i)) for i in range(total)]
    # The handler is the bottleneck (about 300 records/s over the 8 lanes), so at any moment
    # most lanes have a batch in flight and the kills land in a busy run.
    daemon = Daemon(config, log.path, state, POLLER_CRASH_SLEEP="0.5")
    producer = Producer(
        [f"{key} {data}" for key, data in items],
        lambda chunk: put(kinesis, name, [(line.split()[0], line.split()[1]) for line in chunk]),
        log.refresh,
        chunk=500,
        backlog=2_000,
    )
    try:
        seen_at_kill = crash_loop(daemon, log, rng, kill_points(rng, total, kills), timeout=120)
        drain = _drain(daemon, log, lambda: producer.check() and _data(log) >= total)
        producer.check()
        assert daemon.stop() == 0
    finally:
        producer.stop()
        daemon.close()

    assert max(seen_at_kill) < total, f"a kill came after the run: {seen_at_kill}"
    assert {_data_of(d) for d in log.deliveries} == {data for _, data in items}
    final = read_state(state)
    assert len({shard for _, shard in final}) == SHARDS
    dups = _check_stream(daemon, log, final, LANES * AHEAD * STREAM_BATCH)
    _check_key_order(log.deliveries, {key for key, _ in items})
    _summary(
        "kinesis", total, kills, dups, drain, seen_at_kill, SHARDS * LANES * AHEAD * STREAM_BATCH
    )


@pytest.mark.timeout(scaled(150, 600))
def test_kinesis_crash_loop_through_a_reshard(endpoint: str, kinesis: Any, tmp_path: Path) -> None:
    """A 2-shard stream with a backlog, split and then merged while the daemon is killed around
    it: the split made while it is down (between two kills), the merge while it runs and a kill
    just after, more kills while the children are read. Every record the stream holds is
    handled, per key every record of a parent before any of its children, order kept per
    shard and key; state checks and the per-kill bound as in the Kinesis crash loop (per
    shard: LANES x AHEAD x 10).

    moto is not AWS here (tests/integration/test_resharding.py): records stay in the split
    parent, and a merge copies both parents' records into the child. So the backlog is put
    before the reshard, and "every record" is what every shard holds, read back at the end;
    the merged child's copies of a key must come after all of its originals.
    """
    rng = _rng("kinesis crash loop through a reshard")
    total, extra_kills, batch = scaled(600, 2_000), scaled(1, 5), 10
    name = unique("crash")
    arn = make_stream(kinesis, name, shards=2)
    items = [(f"k{i % 40}", str(i)) for i in range(total)]
    put(kinesis, name, items)
    config, state = tmp_path / "poller.yaml", tmp_path / "state.db"
    config.write_text(_stream_config(endpoint, arn, state, LANES, batch))
    log = DeliveryLog(tmp_path / "deliveries.log")
    daemon = Daemon(config, log.path, state, POLLER_CRASH_SLEEP="0.03")
    seen_at_kill: list[int] = []

    def kill_after(seen: int) -> None:
        seen_at_kill.append(crash_support.kill_after(daemon, log, rng, seen, 120))

    try:
        daemon.start()
        kill_after(rng.randint(total // 10, total // 4))
        _split_first(kinesis, name)  # while the daemon is down
        daemon.start()
        kill_after(log.refresh() + rng.randint(1, total // 10))
        daemon.start()
        until(lambda: log.refresh() >= total // 2, 120)
        lineage = _merge_upper_child(kinesis, name)  # while it runs: the copies come now
        kill_after(log.refresh() + rng.randint(0, total // 20))
        expected = _stream_contents(kinesis, name)
        now = log.refresh()
        later = (now + rng.randint(0, (len(expected) - now) * 9 // 10) for _ in range(extra_kills))
        for point in sorted(later):
            daemon.start()
            kill_after(point)
        daemon.start()
        drain = _drain(daemon, log, lambda: {_identity(d) for d in log.deliveries} >= expected)
        assert daemon.stop() == 0
    finally:
        daemon.close()

    assert {_identity(d) for d in log.deliveries} == expected
    assert {_data_of(d) for d in log.deliveries} == {data for _, data in items}
    dups = _check_stream(daemon, log, read_state(state), LANES * AHEAD * batch)
    _check_lineage(log.deliveries, lineage)
    _check_key_order(log.deliveries, {key for key, _ in items}, by_data=False)
    kills = len(daemon.after_kill)
    _summary("kinesis-reshard", len(expected), kills, dups, drain, seen_at_kill, None)


# -- streams ----------------------------------------------------------------------------------


def _stream_config(endpoint: str, arn: str, state: Path, lanes: int, batch: int) -> str:
    return stream_config(
        endpoint,
        arn,
        state,
        f"batch_size: {batch}\nparallelization_factor: {lanes}\n",
    ).replace("itest_handlers:handler", "crash_handlers:kinesis")


def _identity(d: Delivery) -> tuple[str, str]:
    """A Kinesis record: its shard and sequence number."""
    return d.fields[0], d.fields[1]


def _data_of(d: Delivery) -> str:
    return str(d.fields[3])


def _data(log: DeliveryLog) -> int:
    log.refresh()
    return len({_data_of(d) for d in log.deliveries})


def _drain(daemon: Daemon, log: DeliveryLog, done: Callable[[], bool]) -> float:
    """Wait for `done()`, then until the last run has read past everything (so no more
    redeliveries can come); returns the seconds from its start until `done()`."""

    def finished() -> bool:
        log.refresh()
        return bool(done())

    until(finished, timeout=scaled(120, 600))
    drain = time.monotonic() - daemon.started_at
    output = daemon.output(daemon.run)
    until(lambda: logged_port(output) is not None, 30)
    port = logged_port(output)
    assert port is not None
    run = daemon.run
    until(read_past(partial(scrape, port), lambda: _refreshed(log, run)), 60)
    return drain


def _refreshed(log: DeliveryLog, run: int) -> int:
    log.refresh()
    return log.count(run)


def _check_stream(
    daemon: Daemon, log: DeliveryLog, final: Checkpoints, per_shard: int
) -> Duplicates:
    """State never behind itself up to the end; each kill's exposure within `per_shard` per
    shard, and redelivered exactly; nothing twice within one run."""
    assert_not_rolled_back(daemon.checkpoints, final, "at the end")
    assert len({mapping for mapping, _ in final}) == 1
    dups = duplicates(log.deliveries, _identity)
    assert not dups.same_run, f"delivered twice within one run: {dups.same_run[:10]}"
    for kill, state in enumerate(daemon.after_kill, start=1):
        exposed = exposure(log.deliveries, kill - 1, state)
        over = {shard: n for shard, n in exposed.items() if n > per_shard}
        assert not over, f"kill {kill}: delivered past the checkpoint, over {per_shard}: {over}"
        assert dups.per_kill[kill] == sum(exposed.values()), (kill, exposed, dups.per_kill)
    return dups


def _check_key_order(deliveries: Iterable[Delivery], keys: set[str], by_data: bool = True) -> None:
    """Per key, first deliveries in put order; within each run, per shard and key, strictly
    increasing sequence numbers (and put order of the data, `by_data`)."""
    first: dict[tuple[str, str], list[int]] = defaultdict(list)
    seen: set[tuple[str, str]] = set()
    runs: dict[tuple[int, str, str], list[int]] = defaultdict(list)
    for d in deliveries:
        shard, sequence, key, data = d.fields
        runs[d.run, shard, key].append(int(sequence))
        if by_data:
            runs[d.run, "data", key].append(int(data))
        if (shard, sequence) not in seen:
            seen.add((shard, sequence))
            first[shard, key].append(int(sequence))
            if by_data:
                first["data", key].append(int(data))
    assert {key for _, key in first} == keys
    for where, order in [*first.items(), *runs.items()]:
        assert order == sorted(set(order)), f"out of order at {where}: {order}"


def _check_lineage(deliveries: Iterable[Delivery], lineage: dict[str, list[str]]) -> None:
    """Per key, no record of a shard's ancestor after a record of the shard."""
    parents_of = ancestors(lineage)
    per_key: dict[str, list[str]] = defaultdict(list)
    for d in deliveries:
        per_key[d.fields[2]].append(d.fields[0])
    for key, shards in per_key.items():
        done: set[str] = set()
        for shard in shards:
            assert shard not in done, f"{key}: {shard} read after one of its children"
            done |= parents_of.get(shard, set())


def _split_first(kinesis: Any, name: str) -> None:
    shard = kinesis.list_shards(StreamName=name)["Shards"][0]
    low, high = (int(shard["HashKeyRange"][k]) for k in ("StartingHashKey", "EndingHashKey"))
    kinesis.split_shard(
        StreamName=name, ShardToSplit=shard["ShardId"], NewStartingHashKey=str((low + high) // 2)
    )
    wait_stream_active(kinesis, name)


def _merge_upper_child(kinesis: Any, name: str) -> dict[str, list[str]]:
    """Merge the split's upper child with the second original shard; every shard's parents."""
    shards = kinesis.list_shards(StreamName=name)["Shards"]
    first, second = shards[0], shards[1]
    upper = next(
        s
        for s in shards
        if s.get("ParentShardId") == first["ShardId"]
        and s["HashKeyRange"]["EndingHashKey"] == first["HashKeyRange"]["EndingHashKey"]
    )
    kinesis.merge_shards(
        StreamName=name, ShardToMerge=upper["ShardId"], AdjacentShardToMerge=second["ShardId"]
    )
    wait_stream_active(kinesis, name)
    return {
        s["ShardId"]: [p for k in ("ParentShardId", "AdjacentParentShardId") if (p := s.get(k))]
        for s in kinesis.list_shards(StreamName=name)["Shards"]
    }


def _stream_contents(kinesis: Any, name: str) -> set[tuple[str, str]]:
    """Every record every shard holds, as (shard, sequence number), read from the start."""
    out = set()
    for shard in kinesis.list_shards(StreamName=name)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            if not page["Records"]:
                break
            out |= {(shard["ShardId"], r["SequenceNumber"]) for r in page["Records"]}
            iterator = page.get("NextShardIterator")
    return out


# -- figures ----------------------------------------------------------------------------------


def _summary(
    source: str,
    records: int,
    kills: int,
    dups: Duplicates,
    drain: float,
    seen_at_kill: list[int],
    bound: int | None,
) -> None:
    per_kill = [dups.per_kill[k] for k in range(1, kills + 1)]
    print(
        f"crash-loop {source} [{NAME}]: records={records} kills={kills} "
        f"duplicates={dups.total} (by kill {per_kill}"
        + (f", bound {bound} each" if bound is not None else "")
        + f"; within one run {len(dups.same_run)}) drain_after_last_restart={drain:.1f}s "
        f"killed_at={seen_at_kill}"
    )
