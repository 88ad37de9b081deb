"""An in-memory AWS for benchmarks: poller's pipeline with no network and no server.

`FakeAws` stands in for `poller.aws.Aws`: its clients answer the calls poller's SQS, Kinesis and
DynamoDB Streams readers make from records generated up front, shaped exactly as botocore hands
them to poller (blobs and timestamps go through the same parsers `Aws` installs in botocore, at
read time, so that cost is counted as it is on a real client). `FakeDaemon` is poller's `Daemon`
on a `FakeAws`. Every call is counted in `poller_aws_api_calls_total`, as `Aws` does.

The fakes are not AWS: no visibility timeouts (a received message is gone), no iterator expiry,
no throttling. They measure poller's own cost per record, not a server's behaviour.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.lowlevel

from poller.aws import Aws
from poller.config.settings import AwsConfig
from poller.daemon import Daemon
from poller.telemetry.metrics import Metrics

REGION = "us-east-1"
ACCOUNT = "123456789012"
QUEUE_NAME = "bench"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{QUEUE_NAME}"
QUEUE_URL = f"http://127.0.0.1/{ACCOUNT}/{QUEUE_NAME}"
KINESIS_ARN = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/bench"
DYNAMODB_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/bench/stream/2026-12-06T00:00:00.000"
ARRIVAL = 1_764_000_000.123  # epoch seconds, as the JSON protocols send timestamps


def _parsers() -> dict[str, Any]:
    """The blob and timestamp parsers `Aws` installs in botocore (botocore's defaults if none)."""
    factory = Aws(AwsConfig(region=REGION), Metrics())._session._session.get_component(
        "response_parser_factory"
    )
    defaults: dict[str, Any] = factory._defaults
    return {
        "blob": defaults.get("blob_parser", base64.b64decode),
        "timestamp": defaults.get("timestamp_parser", lambda v: datetime.fromtimestamp(v, UTC)),
    }


PARSERS = _parsers()


def _blob(value: str) -> Any:
    """A base64 blob as botocore hands it to poller: through the parser `Aws` installs."""
    return PARSERS["blob"](value)


def _payload(i: int) -> bytes:
    # ~130 bytes of JSON, the shape of the end-to-end benchmarks' records.
    body = {"order_id": f"o-{i:08d}", "customer": f"c-{i % 977:05d}", "amount": i % 1000 / 10}
    return json.dumps(body | {"note": "x" * 60}).encode()


# ---------------------------------------------------------------------------------------------
# Records, as the wire carries them (JSON protocols: blobs base64, timestamps epoch seconds)


def sqs_messages(count: int) -> list[dict[str, Any]]:
    return [
        {
            "MessageId": f"{i:08d}-0000-4000-8000-000000000000",
            "ReceiptHandle": f"rh-{i}-" + "r" * 120,
            "MD5OfBody": "0" * 32,
            "Body": _payload(i).decode(),
            "Attributes": {
                "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                "ApproximateFirstReceiveTimestamp": "1764000000123",
                "ApproximateReceiveCount": "1",
                "SentTimestamp": "1764000000000",
            },
            "MD5OfMessageAttributes": "1" * 32,
            "MessageAttributes": {"source": {"StringValue": "bench", "DataType": "String"}},
        }
        for i in range(count)
    ]


def kinesis_records(shard: int, count: int) -> list[dict[str, Any]]:
    return [
        {
            "SequenceNumber": f"4959{shard:04d}{i:040d}",
            "ApproximateArrivalTimestamp": ARRIVAL + i / 1000,
            "Data": base64.b64encode(_payload(i)).decode(),
            "PartitionKey": f"pk-{i % 64}",
        }
        for i in range(count)
    ]


def _item(i: int) -> dict[str, Any]:
    return {
        "pk": {"S": f"order#{i % 500:05d}"},
        "sk": {"N": str(i)},
        "customer": {"S": f"c-{i % 977:05d}"},
        "amount": {"N": f"{i % 1000}.5"},
        "paid": {"BOOL": i % 2 == 0},
        "lines": {"L": [{"M": {"sku": {"S": f"sku-{n}"}, "qty": {"N": "2"}}} for n in range(2)]},
        "tags": {"SS": ["a", "b"]},
        "note": {"NULL": True},
    }


def dynamodb_records(shard: int, count: int) -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        keys = {"pk": {"S": f"order#{i % 500:05d}"}, "sk": {"N": str(i)}}
        out.append(
            {
                "eventID": f"{shard:04d}{i:028x}",
                "eventName": "MODIFY",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": REGION,
                "dynamodb": {
                    "ApproximateCreationDateTime": ARRIVAL + i / 1000,
                    "Keys": keys,
                    "NewImage": _item(i),
                    "OldImage": _item(i + 1),
                    "SequenceNumber": f"1{shard:04d}{i:020d}",
                    "SizeBytes": 420,
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
            }
        )
    return out


# ---------------------------------------------------------------------------------------------
# The clients


class _Calls:
    """Counts each call as `Aws`'s `before-call` hook does (each series looked up once)."""

    service = ""

    def __init__(self, metrics: Metrics, world: World) -> None:
        self._metrics = metrics
        self._world = world
        self._series: dict[str, Any] = {}

    def count(self, operation: str) -> None:
        series = self._series.get(operation)
        if series is None:
            series = self._series[operation] = self._metrics.aws_api_calls.labels(
                self.service, operation
            )
        series.inc()


class FakeSqs(_Calls):
    """One standard queue; a receive takes messages for good (no visibility timeout)."""

    service = "sqs"

    async def get_queue_url(self, **_: Any) -> dict[str, Any]:
        self.count("GetQueueUrl")
        return {"QueueUrl": QUEUE_URL}

    async def get_queue_attributes(self, **_: Any) -> dict[str, Any]:
        self.count("GetQueueAttributes")
        return {"Attributes": {"VisibilityTimeout": "300", "FifoQueue": "false"}}

    async def receive_message(
        self, MaxNumberOfMessages: int, WaitTimeSeconds: int, **_: Any
    ) -> Any:
        self.count("ReceiveMessage")
        world = self._world
        taken = world.queue[world.next_message : world.next_message + MaxNumberOfMessages]
        world.next_message += len(taken)
        if not taken:
            # A long poll on an empty queue, cut to a second so that a stop (which lets a
            # receive in flight finish, poller's default) does not wait 20 s per run.
            await anyio.sleep(min(WaitTimeSeconds, 1))
            return {}
        await asyncio.sleep(0)  # a real call yields to the event loop (anyio's costs more)
        return {"Messages": [_received(m) for m in taken]}

    async def delete_message_batch(self, Entries: list[dict[str, Any]], **_: Any) -> Any:
        self.count("DeleteMessageBatch")
        self._world.deleted += len(Entries)
        await asyncio.sleep(0)
        return {"Successful": [{"Id": e["Id"]} for e in Entries]}

    async def change_message_visibility_batch(self, Entries: list[dict[str, Any]], **_: Any) -> Any:
        self.count("ChangeMessageVisibilityBatch")
        return {"Successful": [{"Id": e["Id"]} for e in Entries]}


def _received(message: dict[str, Any]) -> dict[str, Any]:
    # botocore builds fresh dicts for every response; so does the fake.
    return message | {"Attributes": dict(message["Attributes"])}


class FakeKinesis(_Calls):
    """One stream of `world.shards` open shards; records arrive as `world.kinesis` holds them."""

    service = "kinesis"

    async def describe_stream_summary(self, **_: Any) -> dict[str, Any]:
        self.count("DescribeStreamSummary")
        return {"StreamDescriptionSummary": {"StreamARN": KINESIS_ARN, "StreamStatus": "ACTIVE"}}

    async def list_shards(self, **_: Any) -> dict[str, Any]:
        self.count("ListShards")
        return {"Shards": _shards(self._world.shard_ids, "4959")}

    async def get_shard_iterator(self, ShardId: str, **_: Any) -> dict[str, Any]:
        self.count("GetShardIterator")
        return {"ShardIterator": f"{ShardId}|0"}

    async def get_records(self, ShardIterator: str, Limit: int, **_: Any) -> dict[str, Any]:
        self.count("GetRecords")
        shard_id, start = ShardIterator.split("|")
        records = self._world.kinesis.get(shard_id, [])
        page = records[int(start) : int(start) + Limit]
        end = int(start) + len(page)
        await asyncio.sleep(0)
        return {
            "Records": [
                r | {"Data": _blob(r["Data"]), "ApproximateArrivalTimestamp": _time(r)}
                for r in page
            ],
            "NextShardIterator": f"{shard_id}|{end}",
            "MillisBehindLatest": 0 if end >= len(records) else 1000,
        }


def _time(record: dict[str, Any]) -> datetime:
    parsed: datetime = PARSERS["timestamp"](record["ApproximateArrivalTimestamp"])
    return parsed


def _shards(ids: list[str], prefix: str) -> list[dict[str, Any]]:
    return [
        {"ShardId": s, "SequenceNumberRange": {"StartingSequenceNumber": f"{prefix}0"}} for s in ids
    ]


class FakeDynamoDbStreams(_Calls):
    """One DynamoDB stream of `world.shards` open shards."""

    service = "dynamodbstreams"

    async def describe_stream(self, **_: Any) -> dict[str, Any]:
        self.count("DescribeStream")
        return {"StreamDescription": {"Shards": _shards(self._world.shard_ids, "1")}}

    async def get_shard_iterator(self, ShardId: str, **_: Any) -> dict[str, Any]:
        self.count("GetShardIterator")
        return {"ShardIterator": f"{ShardId}|0"}

    async def get_records(self, ShardIterator: str, Limit: int, **_: Any) -> dict[str, Any]:
        self.count("GetRecords")
        shard_id, start = ShardIterator.split("|")
        page = self._world.dynamodb.get(shard_id, [])[int(start) : int(start) + Limit]
        await asyncio.sleep(0)
        return {
            "Records": [_change_record(r) for r in page],
            "NextShardIterator": f"{shard_id}|{int(start) + len(page)}",
        }


def _change_record(record: dict[str, Any]) -> dict[str, Any]:
    change = record["dynamodb"]
    return record | {"dynamodb": change | {"ApproximateCreationDateTime": _time_of(change)}}


def _time_of(change: dict[str, Any]) -> datetime:
    return _time({"ApproximateArrivalTimestamp": change["ApproximateCreationDateTime"]})


@dataclass
class World:
    """What the fake AWS holds: one queue, one Kinesis stream, one DynamoDB stream."""

    queue: list[dict[str, Any]] = field(default_factory=list)
    next_message: int = 0
    deleted: int = 0
    shard_ids: list[str] = field(default_factory=list)
    kinesis: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    dynamodb: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def build(cls, source: str, records: int, shards: int = 1) -> World:
        """`records` records of `source` (sqs | kinesis | dynamodb), spread over `shards`."""
        world = cls(shard_ids=[f"shardId-{n:012d}" for n in range(shards)])
        if source == "sqs":
            world.queue = sqs_messages(records)
        per_shard = [records // shards + (n < records % shards) for n in range(shards)]
        for n, (shard_id, count) in enumerate(zip(world.shard_ids, per_shard, strict=True)):
            if source == "kinesis":
                world.kinesis[shard_id] = kinesis_records(n, count)
            elif source == "dynamodb":
                world.dynamodb[shard_id] = dynamodb_records(n, count)
        return world


class FakeDynamoDb(_Calls):
    """The table client a DynamoDB mapping opens; a stream ARN never needs it."""

    service = "dynamodb"


_CLIENTS = {
    "sqs": FakeSqs,
    "kinesis": FakeKinesis,
    "dynamodbstreams": FakeDynamoDbStreams,
    "dynamodb": FakeDynamoDb,
}


class FakeAws(Aws):
    """`Aws` whose clients are the in-memory fakes above, all over one `World`."""

    def __init__(self, metrics: Metrics, world: World) -> None:
        super().__init__(AwsConfig(region=REGION), metrics)
        self.world = world

    def client(self, service: str, *_: Any, **__: Any) -> AbstractAsyncContextManager[Any]:
        @asynccontextmanager
        async def opened() -> AsyncIterator[Any]:
            yield _CLIENTS[service](self._metrics, self.world)

        return opened()


class FakeDaemon(Daemon):
    """poller's `Daemon`, connected to a `FakeAws` instead of an endpoint."""

    world: World

    async def _connect(self, stack: AsyncExitStack) -> Aws:
        return FakeAws(self.metrics, self.world)


def call_counts(metrics: Metrics) -> dict[str, int]:
    """`poller_aws_api_calls_total` by operation, every service together."""
    return {
        s.labels["operation"]: int(s.value)
        for family in metrics.registry.collect()
        if family.name == "poller_aws_api_calls"
        for s in family.samples
        if s.name == "poller_aws_api_calls_total"
    }


__all__ = ["FakeAws", "FakeDaemon", "World", "call_counts"]
