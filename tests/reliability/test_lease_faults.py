"""The lease table behind the fault proxy: three replicas share a 6-shard stream while 10 % of
their lease-table calls fail every way the proxy knows (Kinesis itself is reached directly).

Asserts: every record handled at least once; checkpoints in the lease table never move backwards; every shard owned at the end; and
duplicates only where a lease changed hands, at most two batches (the one in flight and one
finished ahead of its checkpoint) per hand-over.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fault_proxy import FaultProxy
from fault_support import RATE, duplicates, faults, summary
from lease_support import Fleet, Producer, TableWatch, moto_in_its_own_process, owners, wait_until
from scale import scaled, scaled_seconds
from sqs_support import unique
from stream_support import make_stream

pytestmark = [pytest.mark.integration, pytest.mark.timeout(scaled_seconds(180, 1800))]
BATCH = 10  # replica_config's batch size
RECORDS = scaled(600, 20_000)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """moto in its own OS process, as in test_replicas.py: three replicas' lease traffic and
    this test's polling must not share one GIL with the server (stopped by PID at the end)."""
    yield from moto_in_its_own_process()


def _hand_overs(watch: TableWatch) -> int:
    """Times a shard's owner changed from one replica to another (via no owner or directly)."""
    count = 0
    for seen in watch.history.values():
        owners_seen = [owner for _, owner, _ in seen if owner is not None]
        count += sum(1 for a, b in itertools.pairwise(owners_seen) if a != b)
    return count


def test_three_replicas_with_a_faulty_lease_table_lose_nothing(
    endpoint: str, kinesis: Any, tmp_path: Path
) -> None:
    name, table = unique("s"), unique("leases")
    arn = make_stream(kinesis, name, shards=6)
    with (
        FaultProxy(endpoint, faults(RATE, only=["dynamodb"]), seed=16) as proxy,
        Fleet(endpoint, arn, table, tmp_path) as fleet,
        TableWatch(endpoint, table) as watch,
    ):
        for worker in ("w1", "w2", "w3"):
            fleet.start(worker, dynamodb_endpoint=proxy.url)
        started = time.monotonic()
        with Producer(endpoint, name, per_second=scaled(100, 200)) as producer:
            wait_until(lambda: len(producer.sent) >= RECORDS, scaled(60, 600))
        sent = set(producer.sent)
        wait_until(lambda: set(fleet.delivered()) >= sent, scaled(90, 600))
        took = time.monotonic() - started
        wait_until(lambda: None not in owners(endpoint, table).values(), 30)
        codes = [replica.stop() for replica in fleet.replicas.values()]
    assert codes == [0, 0, 0]
    watch.checkpoints_never_move_backwards()
    delivered = fleet.delivered()
    assert set(delivered) >= sent
    hand_overs = _hand_overs(watch)
    extra = duplicates(fleet.delivered().elements())
    bound = hand_overs * 2 * BATCH
    assert extra <= bound, (extra, hand_overs)
    summary(
        "lease-table-3-replicas",
        records=len(sent),
        lease_calls=sum(n for call, n in proxy.tally.calls.items() if call.service == "dynamodb"),
        faults=proxy.tally.faults(),
        hand_overs=hand_overs,
        duplicates=extra,
        duplicate_bound=bound,
        seconds=round(took, 1),
    )
