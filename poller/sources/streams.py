"""What a stream mapping needs from Kinesis or DynamoDB Streams, behind one protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from poller.model import StreamRecord
from poller.sources.shards import Position, ShardInfo

# Error codes after which a shard iterator must be acquired again.
EXPIRED_ITERATOR = "ExpiredIteratorException"
TRIMMED_DATA = "TrimmedDataAccessException"


@dataclass(frozen=True, slots=True)
class Page:
    """One GetRecords response. `next_iterator` is None at the end of a closed shard (AWS)."""

    records: list[StreamRecord]
    next_iterator: str | None
    millis_behind_latest: int | None = None


@dataclass(frozen=True, slots=True)
class Pace:
    """A source's GetRecords pacing: Kinesis allows 5 calls/s/shard and Lambda polls an idle
    shard about once a second; DynamoDB Streams about 4 times a second."""

    min_interval: float
    idle_interval: float
    max_records: int


class ShardSource(Protocol):
    """A resolved stream: its ARN, its shards and their records."""

    stream_arn: str
    pace: Pace

    async def shards(self) -> list[ShardInfo]:
        """Every shard the stream lists now, open and closed, all pages."""
        ...

    async def iterator(self, shard_id: str, position: Position) -> str: ...

    async def read(self, shard_id: str, iterator: str, limit: int) -> Page: ...
