"""The DynamoDB state backend in one process against moto: the lease table's layout and
conditional writes, checkpoints in the leases, restart from them, and a graceful release."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import itest_handlers
import pytest
from sqs_support import REGION, metric, running, unique, wait_for
from stream_support import make_stream, put, stream_config

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def _config(endpoint: str, arn: str, table: str, extra: str = "") -> str:
    text = stream_config(endpoint, arn, Path("unused.db"), extra)
    return text.replace(
        'state: {path: "unused.db"}',
        f"state: {{backend: dynamodb, table: {table}, failover_seconds: 3, worker_id: solo}}",
    )


def _leases(endpoint: str, table: str) -> list[dict[str, Any]]:
    client = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)
    return list(client.scan(TableName=table, ConsistentRead=True)["Items"])


async def test_one_replica_reads_every_shard_and_checkpoints_in_the_lease_table(
    endpoint: str, kinesis: Any
) -> None:
    name, table = unique("s"), unique("leases")
    arn = make_stream(kinesis, name, shards=3)
    put(kinesis, name, [(f"k{i}", f"r-{i}") for i in range(90)])
    async with running(_config(endpoint, arn, table)) as daemon:
        await wait_for(lambda: len(itest_handlers.records()) >= 90, 30)
        assert metric(daemon, "poller_lease_takes_total") == 3
        assert metric(daemon, "poller_leases_owned") == 3
    items = _leases(endpoint, table)
    assert len(items) == 3
    for item in items:
        assert "leaseOwner" not in item  # released at shutdown
        assert item["checkpoint"]["S"].isdigit()
        assert item["checkpointSubSequenceNumber"] == {"N": "0"}
        assert item["ownerSwitchesSinceCheckpoint"] == {"N": "0"}
        assert int(item["leaseCounter"]["N"]) >= 3  # created, taken, checkpointed, released
