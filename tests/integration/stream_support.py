"""Kinesis and DynamoDB Streams helpers for the integration suite (moto's server over HTTP)."""

from __future__ import annotations

import base64
import textwrap
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import itest_handlers
import pytest
from sqs_support import ACCOUNT, HERE, REGION, until, wait_for

from poller.daemon import Daemon


@pytest.fixture
def kinesis(endpoint: str) -> Any:
    return boto3.client("kinesis", region_name=REGION, endpoint_url=endpoint)


@pytest.fixture
def dynamodb(endpoint: str) -> Any:
    return boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)


def stream_arn(name: str) -> str:
    return f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{name}"


def make_stream(kinesis: Any, name: str, shards: int = 1) -> str:
    """Create a stream and wait until it is ACTIVE; returns its ARN."""
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    kinesis.get_waiter("stream_exists").wait(
        StreamName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50}
    )
    return stream_arn(name)


def put(kinesis: Any, name: str, items: list[tuple[str, str]]) -> None:
    """Put (partition key, data) pairs in order, 500 per call, from one caller.

    One caller at a time: moto's shard put is not thread-safe (see docs/testing.md).
    """
    for start in range(0, len(items), 500):
        chunk = items[start : start + 500]
        response = kinesis.put_records(
            StreamName=name,
            Records=[{"PartitionKey": key, "Data": data.encode()} for key, data in chunk],
        )
        assert response.get("FailedRecordCount", 0) == 0, response


def shard_ids(kinesis: Any, name: str) -> list[str]:
    return [s["ShardId"] for s in kinesis.list_shards(StreamName=name)["Shards"]]


def make_table(dynamodb: Any, name: str, view: str = "NEW_AND_OLD_IMAGES") -> str:
    """A table keyed by pk (S) + sk (N) with a stream; returns the stream's ARN."""
    table = dynamodb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": view},
    )["TableDescription"]
    arn = str(table["LatestStreamArn"])
    wait_stream_enabled(dynamodb, arn)
    return arn


def wait_stream_enabled(dynamodb: Any, stream_arn: str, timeout: float = 30) -> None:
    """Until a new table's stream is ENABLED: as on AWS, what is written while it is ENABLING
    never reaches it (LocalStack takes about 0.5 s; moto is ENABLED at once)."""
    streams = boto3.client(
        "dynamodbstreams",
        region_name=dynamodb.meta.region_name,
        endpoint_url=dynamodb.meta.endpoint_url,
    )

    def enabled() -> bool:
        described = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]
        return bool(described["StreamStatus"] == "ENABLED")

    until(enabled, timeout)


def wait_stream_active(kinesis: Any, name: str) -> None:
    """Until the stream is ACTIVE again: AWS (and LocalStack) refuse a reshard while it is
    UPDATING after the last one."""
    kinesis.get_waiter("stream_exists").wait(
        StreamName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150}
    )


def stream_config(
    endpoint: str,
    source_arn: str,
    state: Path,
    extra_mapping: str = "",
    starting_position: str = "TRIM_HORIZON",
    timeout: int = 3,
) -> str:
    return textwrap.dedent(f"""\
        aws: {{region: {REGION}, endpoint_url: "{endpoint}"}}
        http: {{listen: "127.0.0.1:0"}}
        state: {{path: "{state}"}}
        shutdown_timeout: 10
        functions:
          fn:
            handler: "itest_handlers:handler"
            timeout: {timeout}
            code_uri: "{HERE}"
        mappings:
          - function: fn
            event_source_arn: "{source_arn}"
            starting_position: {starting_position}
            shard_refresh_seconds: 0.5
        """) + textwrap.indent(textwrap.dedent(extra_mapping), "    ")


def kinesis_data(record: dict[str, Any]) -> str:
    """A delivered Kinesis record's data, decoded."""
    return base64.b64decode(record["kinesis"]["data"]).decode()


def delivered_data() -> list[str]:
    """Kinesis data of every delivered record, decoded, in invocation order."""
    return [kinesis_data(r) for r in itest_handlers.records()]


def per_key(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        out[record["kinesis"]["partitionKey"]].append(record)
    return out


Sample = Callable[..., float]  # metric(name, **labels) of one daemon: Metrics.value or scrape


def read_past(sample: Sample, delivered: Callable[[], int]) -> Callable[[], bool]:
    """A predicate for wait_for / until, made once the records a test waits for have arrived:
    true once the daemon's stream readers have each looked at their shard again since, and
    every record they have read has reached the handler (`delivered()` counts the records the
    handler has been given). From then on, a record the handler has not seen was not read:
    "nothing more arrives" is shown, not waited out.

    GetRecords calls are counted as they start and a reader's calls follow one another, so a
    reader's second call from now begins only after its first has returned and its page was
    routed to the lanes. The count is the daemon's, over all its readers, so with several
    shards it asks for two calls per shard read: a reader at the tip calls at most once per
    idle interval (1 s on Kinesis), so the others make them all only if one reader stalls
    for longer than that, not in the idle polling these waits follow.
    """
    shards = max(1.0, sample("poller_shards_owned"))
    calls = sample("poller_aws_api_calls_total", operation="GetRecords")

    def done() -> bool:
        if sample("poller_aws_api_calls_total", operation="GetRecords") < calls + 2 * shards:
            return False
        read = sample("poller_polled_events_total") - sample("poller_filtered_out_events_total")
        return delivered() >= read

    return done


async def wait_read_past(daemon: Daemon, timeout: float = 30) -> None:
    """read_past for a daemon in this process whose handler is itest_handlers.handler."""

    def sample(name: str, **labels: str) -> float:
        return daemon.metrics.value(name, **labels)

    await wait_for(read_past(sample, lambda: len(itest_handlers.records())), timeout)


def wait_seconds(start: float, seconds: float) -> float:
    return max(0.0, start + seconds - time.monotonic())


def split_then_merge(kinesis: Any, name: str) -> tuple[dict[str, list[str]], str]:
    """Split the first shard of a 2-shard stream, then merge its upper child with the second
    shard. Returns every shard's parents (by shard id) and the merged child's id."""
    shards = kinesis.list_shards(StreamName=name)["Shards"]
    first = shards[0]["HashKeyRange"]
    middle = (int(first["StartingHashKey"]) + int(first["EndingHashKey"])) // 2
    kinesis.split_shard(
        StreamName=name, ShardToSplit=shards[0]["ShardId"], NewStartingHashKey=str(middle)
    )
    wait_stream_active(kinesis, name)
    upper = next(
        s["ShardId"]
        for s in kinesis.list_shards(StreamName=name)["Shards"]
        if s.get("ParentShardId") == shards[0]["ShardId"]
        and s["HashKeyRange"]["EndingHashKey"] == first["EndingHashKey"]
    )
    kinesis.merge_shards(
        StreamName=name, ShardToMerge=upper, AdjacentShardToMerge=shards[1]["ShardId"]
    )
    wait_stream_active(kinesis, name)
    lineage = {
        s["ShardId"]: [p for k in ("ParentShardId", "AdjacentParentShardId") if (p := s.get(k))]
        for s in kinesis.list_shards(StreamName=name)["Shards"]
    }
    merged = next(sid for sid, parents in lineage.items() if len(parents) == 2)
    return lineage, merged


def ancestors(lineage: dict[str, list[str]]) -> dict[str, set[str]]:
    """Every shard's parents, their parents, and so on."""
    out: dict[str, set[str]] = {}
    for shard in lineage:
        todo, seen = list(lineage[shard]), set()
        while todo:
            parent = todo.pop()
            seen.add(parent)
            todo.extend(lineage.get(parent, []))
        out[shard] = seen
    return out
