"""Fault suites: poller behind the fault proxy, 10 % of its calls failing in every way the proxy
knows (500, 503, each service's throttling, resets before and after the server acted, answers
held past the read timeout, truncated bodies), and one full outage mid-run.

Each run asserts: every record handled at least once; order kept where the source promises it
(FIFO groups, Kinesis and DynamoDB keys); duplicates within a stated bound; no crash; the
mapping handles records again within `recovery_bound()` of the outage ending; checkpoints never
move backwards; the retries visible in poller_source_errors_total. Sizes: RECORDS (scale.py).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import itest_handlers
import pytest
from fault_proxy import Call, FaultPlan, FaultProxy
from fault_support import (
    RECORDS,
    CheckpointWatch,
    duplicates,
    faults,
    first_delivery_order,
    half_way,
    outage_then_recovery,
    recovery_bound,
    source_errors,
    summary,
)
from scale import scaled, scaled_seconds
from sqs_support import (
    MOTO_REPEATS,
    config_yaml,
    make_queue,
    running,
    send,
    unique,
    wait_for,
)
from stream_support import kinesis_data, make_stream, make_table, stream_config

from poller.aws import LONG_POLL

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.integration,
    pytest.mark.timeout(scaled_seconds(180, 3600)),
]
FAULTS_UNTIL = scaled(120, 1800)  # seconds a run may take to handle every record
GROUPS = 50  # FIFO message groups
BACKLOG = 300  # standard messages sent ahead of the handler
# FIFO runs from a backlog (below), and moto's receive rescans the whole queue for each message
# it returns: a 20,000-message FIFO backlog is beyond it. 2,000 is what fits at full size.
FIFO_RECORDS = scaled(300, 2_000)


@pytest.fixture
def proxy(endpoint: str) -> Iterator[FaultProxy]:
    with FaultProxy(endpoint, faults(), seed=random.randrange(1 << 30), slow_cap=30) as proxy:
        yield proxy


def through(config: str, endpoint: str, proxy: FaultProxy) -> str:
    """A config whose calls go through the proxy, with the suites' short read timeout."""
    old = f'endpoint_url: "{endpoint}"'
    assert old in config
    return config.replace(old, f'endpoint_url: "{proxy.url}", read_timeout: 2')


def handled_count() -> int:
    return len(itest_handlers.records())


def sqs_bodies() -> list[str]:
    return [r["body"] for r in itest_handlers.records()]


def _sqs_duplicate_bound(proxy: FaultProxy, batch_size: int) -> int:
    """A message reaches the handler twice only when its batch's delete (or, for a long batch,
    a visibility extension) never got through: at most one batch per such fault that botocore's
    retries did not hide, so at most batch_size per fault injected on those calls; plus the
    repeats moto makes of its own (MOTO_REPEATS)."""
    settling = proxy.tally.faults(None, "DeleteMessageBatch", "ChangeMessageVisibilityBatch")
    return batch_size * settling + MOTO_REPEATS


async def _run_sqs(
    endpoint: str, sqs: Any, proxy: FaultProxy, tmp_path: Path, fifo: bool
) -> dict[str, Any]:
    name = unique("faults") + (".fifo" if fifo else "")
    url = make_queue(sqs, name, visibility=5)
    bodies = [str(i) for i in range(FIFO_RECORDS if fifo else RECORDS)]
    config = through(config_yaml(endpoint, name, timeout=3), endpoint, proxy)
    if fifo:
        # The backlog first. Produced while consumed, with receives whose answers were lost,
        # moto was seen handing out a group's later message while an earlier one was still
        # in flight (LocalStack kept order in the same run): an open finding, RELIABILITY.md.
        _send_all(sqs, url, bodies, fifo)
    async with running(config) as daemon:
        sender = threading.Thread(
            target=_send_all, args=(sqs, url, [] if fifo else bodies, fifo), daemon=True
        )
        sender.start()
        await half_way(handled_count, len(bodies))
        recovery = await outage_then_recovery(proxy, daemon, handled_count, len(bodies))
        await wait_for(lambda: set(sqs_bodies()) >= set(bodies), timeout=FAULTS_UNTIL)
        sender.join(timeout=30)
        errors = source_errors(daemon)
    delivered = sqs_bodies()
    return {
        "bodies": bodies,
        "delivered": delivered,
        "recovery": recovery,
        "errors": errors,
        "duplicates": duplicates(delivered),
    }


def _send_all(sqs: Any, url: str, bodies: list[str], fifo: bool) -> None:
    """Send in order from one thread; FIFO messages in GROUPS groups, each its own order.

    Standard messages are sent while they are consumed, at most BACKLOG ahead of the handler:
    moto's receives and deletes rescan the whole queue, and a deep one slows them past the
    suites' 2 s read timeout (docs/testing.md)."""
    if not fifo:
        for start in range(0, len(bodies), 100):
            while start - len(set(sqs_bodies())) > BACKLOG:
                time.sleep(0.05)  # back-pressure on the producer: scenario pacing
            send(sqs, url, bodies[start : start + 100])
        return
    for start in range(0, len(bodies), 10):
        chunk = bodies[start : start + 10]
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {
                    "Id": str(i),
                    "MessageBody": body,
                    "MessageGroupId": f"g{int(body) % GROUPS}",
                    "MessageDeduplicationId": body,
                }
                for i, body in enumerate(chunk)
            ],
        )


@pytest.mark.parametrize("fifo", [False, True], ids=["standard", "fifo"])
async def test_sqs_under_faults_handles_every_message(
    endpoint: str, sqs: Any, tmp_path: Path, proxy: FaultProxy, fifo: bool
) -> None:
    run = await _run_sqs(endpoint, sqs, proxy, tmp_path, fifo)
    delivered, bodies = run["delivered"], run["bodies"]
    assert set(delivered) == set(bodies)  # every message handled at least once
    bound = _sqs_duplicate_bound(proxy, batch_size=10)
    assert run["duplicates"] <= bound, (run["duplicates"], bound)
    assert run["recovery"] <= recovery_bound(), run["recovery"]
    assert run["errors"] > 0  # the outage's retries are counted
    if fifo:
        groups = first_delivery_order((int(b) % GROUPS, int(b)) for b in delivered)
        for group, order in groups.items():
            assert order == sorted(order), f"group g{group} out of order"
    summary(
        f"sqs-{'fifo' if fifo else 'standard'}",
        records=len(bodies),
        calls=sum(proxy.tally.calls.values()),
        faults=proxy.tally.faults(),
        duplicates=run["duplicates"],
        duplicate_bound=bound,
        recovery_s=round(run["recovery"], 2),
        source_errors=int(run["errors"]),
    )


@dataclass
class StreamRun:
    """What a stream fault run saw: (key, value) per delivery in order, the recovery after the
    outage, the source errors counted, and the checkpoint watch."""

    delivered: list[tuple[str, str]]
    recovery: float
    errors: float
    watch: CheckpointWatch


async def _stream_run(
    config: str,
    state: Path,
    proxy: FaultProxy,
    count: int,
    produce: Callable[[], None],
    key_value: Callable[[dict[str, Any]], tuple[str, str]],
) -> StreamRun:
    """Run the daemon on `config` while `produce` writes `count` records from a thread, with
    the outage halfway; checkpoints are read from `state` throughout."""
    with CheckpointWatch(state) as watch:
        async with running(config) as daemon:
            producer = threading.Thread(target=produce, daemon=True)
            producer.start()
            await half_way(handled_count, count)
            recovery = await outage_then_recovery(proxy, daemon, handled_count, count)
            await wait_for(lambda: handled_count() >= count, timeout=FAULTS_UNTIL)
            producer.join(timeout=30)
            errors = source_errors(daemon)
            await _checkpoints_settle(watch)
    delivered = [key_value(r) for r in itest_handlers.records()]
    return StreamRun(delivered, recovery, errors, watch)


def _assert_stream_run(run: StreamRun, items: list[tuple[str, str]]) -> None:
    assert {d for _, d in run.delivered} == {d for _, d in items}
    # Checkpoints are written to local SQLite, never through the proxy: a fault can only fail a
    # read, which is retried with the same iterator, so nothing is delivered twice.
    assert duplicates(run.delivered) == 0
    for key, order in first_delivery_order(run.delivered).items():
        assert [int(d) for d in order] == sorted(int(d) for d in order), key
    assert run.watch.readings > 0
    assert not run.watch.backwards()
    assert run.recovery <= recovery_bound(), run.recovery
    assert run.errors > 0


def _stream_summary(name: str, run: StreamRun, proxy: FaultProxy) -> None:
    summary(
        name,
        records=len(set(run.delivered)),
        calls=sum(proxy.tally.calls.values()),
        faults=proxy.tally.faults(),
        duplicates=duplicates(run.delivered),
        recovery_s=round(run.recovery, 2),
        source_errors=int(run.errors),
        checkpoint_readings=run.watch.readings,
    )


async def test_kinesis_four_shards_parallelization_two_under_faults(
    endpoint: str, kinesis: Any, tmp_path: Path, proxy: FaultProxy
) -> None:
    """4 shards, ParallelizationFactor 2: per-key order kept, no record twice (a failed
    GetRecords is retried with the same iterator; checkpoints are local), checkpoints only
    move forward."""
    name = unique("faults")
    arn = make_stream(kinesis, name, shards=4)
    state = tmp_path / "state.db"
    extra = "parallelization_factor: 2\nbatch_size: 100\n"
    config = through(stream_config(endpoint, arn, state, extra), endpoint, proxy)
    items = [(f"k{i % 32}", str(i)) for i in range(RECORDS)]
    run = await _stream_run(
        config,
        state,
        proxy,
        len(items),
        lambda: _put_all(kinesis, name, items),
        lambda r: (r["kinesis"]["partitionKey"], kinesis_data(r)),
    )
    _assert_stream_run(run, items)
    _stream_summary("kinesis-4-shards-pf2", run, proxy)


def _put_all(kinesis: Any, name: str, items: list[tuple[str, str]]) -> None:
    """Put in chunks of 20 from one thread (moto loses concurrent puts), paced so reads and
    writes interleave as in a live stream and the readers make many calls."""
    for start in range(0, len(items), 20):
        chunk = items[start : start + 20]
        response = kinesis.put_records(
            StreamName=name, Records=[{"PartitionKey": k, "Data": d.encode()} for k, d in chunk]
        )
        assert response.get("FailedRecordCount", 0) == 0, response
        time.sleep(0.1)  # pacing the producer: scenario


async def _checkpoints_settle(watch: CheckpointWatch) -> None:
    """A few more readings after the last record, so the final checkpoints are seen."""
    readings = watch.readings
    await wait_for(lambda: watch.readings >= readings + 5, timeout=10)


async def test_dynamodb_streams_under_faults(
    endpoint: str, dynamodb: Any, tmp_path: Path, proxy: FaultProxy
) -> None:
    name = unique("faults")
    arn = make_table(dynamodb, name)
    state = tmp_path / "state.db"
    config = through(stream_config(endpoint, arn, state, "batch_size: 100\n"), endpoint, proxy)
    count = RECORDS // 2 if RECORDS > 1000 else RECORDS  # moto writes items one call each
    items = [(f"k{i % 16}", str(i)) for i in range(count)]
    run = await _stream_run(
        config,
        state,
        proxy,
        len(items),
        lambda: _write_all(dynamodb, name, items),
        lambda r: (r["dynamodb"]["Keys"]["pk"]["S"], r["dynamodb"]["NewImage"]["n"]["N"]),
    )
    _assert_stream_run(run, items)
    _stream_summary("dynamodb-streams", run, proxy)


def _write_all(dynamodb: Any, name: str, items: list[tuple[str, str]]) -> None:
    for n, (key, value) in enumerate(items):
        dynamodb.put_item(
            TableName=name,
            Item={"pk": {"S": key}, "sk": {"N": str(n)}, "n": {"N": value}},
        )


async def test_a_stalled_delete_fails_after_the_read_timeout_not_a_long_poll(
    endpoint: str, sqs: Any, proxy: FaultProxy
) -> None:
    """Fault suite finding: deletes shared the receive client, whose read timeout must outlast
    a 20 s long poll, so a stalled DeleteMessageBatch held its poller (and shutdown) for
    20 s + aws.read_timeout. Deletes now wait aws.read_timeout (2 s here) and are retried."""
    stalled: list[Call] = []

    def first_delete(call: Call) -> bool:
        if call.operation == "DeleteMessageBatch" and not stalled:
            stalled.append(call)
            return True
        return False

    proxy.plan = FaultPlan(1.0, ("slow",), applies=first_delete)
    name = unique("stall")
    url = make_queue(sqs, name, visibility=60)
    config = through(config_yaml(endpoint, name, timeout=3), endpoint, proxy)
    async with running(config) as daemon:
        send(sqs, url, ["once"])
        await wait_for(lambda: handled_count() == 1)
        handled_at = time.monotonic()
        deleted = "poller_deleted_events_total"
        await wait_for(lambda: daemon.metrics.value(deleted) == 1, timeout=LONG_POLL + 10)
        took = time.monotonic() - handled_at
    assert stalled  # the delete did stall
    assert took < LONG_POLL, took  # read_timeout (2 s) and a retry, not a long poll's 22 s
    assert sqs_bodies() == ["once"]
