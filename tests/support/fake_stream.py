"""An in-memory stream with AWS's shard semantics, behind poller's ShardSource protocol.

Not a mock of AWS's API: a fake of poller's own source protocol, so shard readers and lineage
can be tested where moto is not AWS (docs/testing.md): a null NextShardIterator at the end of a
closed shard, new records going to the children after a split, iterators that expire.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from poller.model import InvokeResult, StreamRecord
from poller.sources.shards import Position, ShardInfo
from poller.sources.streams import Pace, Page

BUCKETS = 64


def bucket(key: str) -> int:
    return hashlib.md5(key.encode(), usedforsecurity=False).digest()[0] % BUCKETS


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "GetRecords")


@dataclass
class _Shard:
    shard_id: str
    buckets: frozenset[int]
    parents: tuple[str, ...] = ()
    records: list[StreamRecord] = field(default_factory=list)
    closed: bool = False
    trimmed: int = 0  # records before this index are past retention


class FakeStream:
    """Shards, puts, splits and merges; `errors` are raised by the next reads, in order."""

    pace = Pace(min_interval=0.0, idle_interval=0.02, max_records=10000)

    def __init__(self, shards: int = 1, list_ending_sequence: bool = True) -> None:
        self.stream_arn = "arn:aws:kinesis:us-east-1:123456789012:stream/fake"
        self._shards: dict[str, _Shard] = {}
        self._next_sequence = 1000
        self._list_ending = list_ending_sequence
        self.errors: list[Exception] = []
        self.trimmed_at_acquire = False
        self.reads = 0
        for index in range(shards):
            owned = frozenset(b for b in range(BUCKETS) if b % shards == index)
            self._add(owned)

    def _add(self, buckets: frozenset[int], parents: tuple[str, ...] = ()) -> str:
        shard_id = f"shardId-{len(self._shards):012d}"
        self._shards[shard_id] = _Shard(shard_id, buckets, parents)
        return shard_id

    # -- the producer side -----------------------------------------------------------------

    def put(self, key: str, data: str) -> str:
        shard = next(s for s in self._shards.values() if not s.closed and bucket(key) in s.buckets)
        self._next_sequence += 1
        number = str(self._next_sequence)
        record = {"kinesis": {"partitionKey": key, "data": data, "sequenceNumber": number}}
        record["eventID"] = f"{shard.shard_id}:{number}"  # type: ignore[assignment]
        shard.records.append(StreamRecord(number, key, record, 100, time.time()))
        return shard.shard_id

    def split(self, shard_id: str) -> tuple[str, str]:
        parent = self._shards[shard_id]
        parent.closed = True
        ordered = sorted(parent.buckets)
        half = len(ordered) // 2
        return (
            self._add(frozenset(ordered[:half]), (shard_id,)),
            self._add(frozenset(ordered[half:]), (shard_id,)),
        )

    def merge(self, first: str, second: str) -> str:
        a, b = self._shards[first], self._shards[second]
        a.closed = b.closed = True
        return self._add(a.buckets | b.buckets, (first, second))

    def trim(self, shard_id: str, count: int) -> None:
        self._shards[shard_id].trimmed = count

    # -- the ShardSource protocol ----------------------------------------------------------

    async def shards(self) -> list[ShardInfo]:
        return [
            ShardInfo(
                s.shard_id,
                s.parents,
                "0",
                (s.records[-1].sequence_number if s.records else "0")
                if s.closed and self._list_ending
                else None,
            )
            for s in self._shards.values()
        ]

    async def iterator(self, shard_id: str, position: Position) -> str:
        shard = self._shards[shard_id]
        if position.kind == "TRIM_HORIZON":
            index = shard.trimmed
        elif position.kind == "LATEST":
            index = len(shard.records)
        elif position.kind == "AFTER_SEQUENCE_NUMBER":
            assert position.sequence is not None
            after = int(position.sequence)
            index = next(
                (i for i, r in enumerate(shard.records) if r.sequence > after), len(shard.records)
            )
            if index < shard.trimmed and self.trimmed_at_acquire:
                raise client_error("TrimmedDataAccessException")  # DynamoDB Streams' way
        else:
            raise AssertionError(position)
        return f"{shard_id}|{index}"

    async def read(self, shard_id: str, iterator: str, limit: int) -> Page:
        self.reads += 1
        if self.errors:
            raise self.errors.pop(0)
        name, _, start = iterator.partition("|")
        shard = self._shards[name]
        index = int(start)
        if index < shard.trimmed:
            raise client_error("TrimmedDataAccessException")
        records = shard.records[index : index + limit]
        end = index + len(records)
        done = shard.closed and end >= len(shard.records)
        return Page(records, None if done else f"{name}|{end}", len(shard.records) - end)


class RecordingInvoker:
    """An async handler stand-in: records each event; `fail` decides whether to raise."""

    function_name = "fn"

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.fail: Any = None
        self.respond: Any = None  # event -> JSON-able response

    async def invoke(self, event: dict[str, Any], request_id: str) -> InvokeResult:
        from poller.model import FunctionError

        self.events.append(event)
        if self.fail is not None and self.fail(event):
            return InvokeResult(request_id, 0.001, error=FunctionError("boom", "RuntimeError"))
        if self.respond is not None:
            return InvokeResult(request_id, 0.001, payload=json.dumps(self.respond(event)).encode())
        return InvokeResult(request_id, 0.001)

    def data(self) -> list[str]:
        return [r["kinesis"]["data"] for e in self.events for r in e["Records"]]

    def shards_per_key(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for event in self.events:
            for r in event["Records"]:
                out.setdefault(r["kinesis"]["partitionKey"], []).append(r["eventID"].split(":")[0])
        return out
