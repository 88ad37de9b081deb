"""The DynamoDB state backend in one process against moto: the lease table's layout and
conditional writes, checkpoints in the leases, restart from them, and a graceful release."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import anyio
import boto3
import itest_handlers
import pytest
from sqs_support import HERE, REGION, metric, running, unique, wait_for
from stream_support import kinesis_data, make_stream, put, stream_config, wait_read_past

from poller.aws import Aws
from poller.config.loader import parse_config
from poller.config.settings import AwsConfig
from poller.daemon import Daemon
from poller.errors import StartupError
from poller.leases.table import LeaseTable
from poller.telemetry.metrics import Metrics

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


async def test_a_restarted_replica_resumes_from_the_checkpoints_in_its_leases(
    endpoint: str, kinesis: Any
) -> None:
    name, table = unique("s"), unique("leases")
    arn = make_stream(kinesis, name, shards=2)
    put(kinesis, name, [(f"k{i}", f"a-{i}") for i in range(40)])
    async with running(_config(endpoint, arn, table)):
        await wait_for(lambda: len(itest_handlers.records()) >= 40, 30)
    itest_handlers.reset()
    put(kinesis, name, [(f"k{i}", f"b-{i}") for i in range(20)])
    config = _config(endpoint, arn, table).replace("worker_id: solo", "worker_id: next")
    async with running(config) as daemon:
        await wait_for(lambda: len(itest_handlers.records()) >= 20, 30)
        await wait_read_past(daemon)  # anything re-read from before the checkpoint shows now
    assert sorted(kinesis_data(r) for r in itest_handlers.records()) == sorted(
        f"b-{i}" for i in range(20)
    )


async def test_lease_table_is_created_on_demand_and_verified(endpoint: str) -> None:
    name = unique("leases")
    async with _client(endpoint) as client:
        table = LeaseTable(client, name)
        assert await table.ensure() is True
        assert await table.ensure() is False  # exists: verified, not created
        described = (await client.describe_table(TableName=name))["Table"]
        assert described["KeySchema"] == [{"AttributeName": "leaseKey", "KeyType": "HASH"}]
        assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        other = unique("orders")
        await client.create_table(
            TableName=other,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        with pytest.raises(StartupError, match=rf"^state.table: {other} is not a lease table"):
            await LeaseTable(client, other).ensure()


async def test_a_table_that_is_not_a_lease_table_stops_the_daemon_at_start(
    endpoint: str, kinesis: Any
) -> None:
    name, table = unique("s"), unique("orders")
    arn = make_stream(kinesis, name)
    boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint).create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "leaseKey", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "leaseKey", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
    )
    daemon = Daemon(parse_config(_config(endpoint, arn, table), os.environ), HERE, Metrics())
    with pytest.raises(StartupError) as caught, anyio.fail_after(30):
        await daemon.run()
    assert str(caught.value) == (
        f"state.table: {table} is not a lease table: it must be keyed by leaseKey "
        "(a string hash key), not leaseKey (N) HASH"
    )


async def test_conditional_writes_let_exactly_one_replica_win(endpoint: str) -> None:
    mapping = "m-1"
    async with _client(endpoint) as client:
        table = LeaseTable(client, unique("leases"))
        await table.ensure()
        assert await table.create(mapping, "shardId-1", ("shardId-0",), "TRIM_HORIZON")
        assert not await table.create(mapping, "shardId-1", (), "LATEST")  # exists already
        (lease,) = await table.scan(mapping)
        assert (lease.owner, lease.counter, lease.checkpoint) == (None, 0, "TRIM_HORIZON")
        assert lease.parents == ("shardId-0",)

        results = await _gather(table.take(lease, "a"), table.take(lease, "b"))
        winners = [r for r in results if r is not None]
        assert len(winners) == 1
        held = winners[0]
        assert (held.counter, held.owner_switches) == (1, 1)

        thief = await table.take(held, "c")  # a steal: conditional on the counter it read
        assert thief is not None
        assert thief.owner == "c"
        # The previous owner's writes now fail their condition.
        assert await table.renew(held) is None
        assert await table.checkpoint(held, "42") is None
        assert await table.release(held) is None
        done = await table.checkpoint(thief, "42")
        assert done is not None
        assert (done.checkpoint, done.owner_switches, done.counter) == ("42", 0, 3)
        released = await table.release(done)
        assert released is not None
        assert (released.owner, released.checkpoint) == (None, "42")
        assert await table.get(mapping, "shardId-1") == released
        assert await table.scan("m-2") == []  # keyed by mapping: others see nothing
        assert not await table.delete(done)  # stale: the release bumped the counter
        assert await table.delete(released)
        assert await table.get(mapping, "shardId-1") is None


def _client(endpoint: str) -> Any:
    aws = Aws(AwsConfig(region=REGION, endpoint_url=endpoint), Metrics())
    return aws.client("dynamodb")


async def _gather(*calls: Any) -> list[Any]:
    results: list[Any] = [None] * len(calls)

    async def run(index: int, call: Any) -> None:
        results[index] = await call

    async with anyio.create_task_group() as group:
        for index, call in enumerate(calls):
            group.start_soon(run, index, call)
    return results


async def test_an_unreachable_lease_table_is_retried_until_shutdown(
    endpoint: str, kinesis: Any
) -> None:
    arn = make_stream(kinesis, unique("s"))
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    text = _config(endpoint, arn, unique("leases")).replace(
        f'endpoint_url: "{endpoint}"',
        f'endpoint_url: "{endpoint}", endpoints: {{dynamodb: "http://127.0.0.1:{port}"}}',
    )
    metrics = Metrics()
    daemon = Daemon(parse_config(text, os.environ), HERE, metrics)
    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            group.start_soon(daemon.run)
            await wait_for(
                lambda: metrics.value("poller_source_errors_total", operation="DescribeTable") >= 2
            )
            daemon.stop()  # returns without having started a mapping
    assert metrics.value("poller_invocations_total") == 0


async def test_disabling_a_mapping_releases_its_leases(endpoint: str, kinesis: Any) -> None:
    name, table = unique("s"), unique("leases")
    arn = make_stream(kinesis, name, shards=2)
    put(kinesis, name, [(f"k{i}", f"r-{i}") for i in range(10)])
    async with running(_config(endpoint, arn, table)) as daemon:
        await wait_for(lambda: len(itest_handlers.records()) >= 10, 30)
        assert {i.get("leaseOwner", {}).get("S") for i in _leases(endpoint, table)} == {"solo"}
        assert await daemon.set_enabled(f"fn-{name}", False)
        await wait_for(
            lambda: all("leaseOwner" not in i for i in _leases(endpoint, table)), timeout=15
        )
