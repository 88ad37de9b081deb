"""Kinesis Data Streams I/O for a mapping: resolve the stream, list shards, read records."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from poller.errors import SourceMissing, error_code
from poller.events.kinesis import to_stream_record
from poller.sources.shards import Position, ShardInfo
from poller.sources.streams import Pace, Page

KINESIS_PACE = Pace(min_interval=0.2, idle_interval=1.0, max_records=10000)


class KinesisStream:
    """One stream seen through one client; every call names the stream by its ARN."""

    pace = KINESIS_PACE

    def __init__(self, client: Any, stream_arn: str, region: str, identity_arn: str) -> None:
        self._client = client
        self.stream_arn = stream_arn
        self._region = region
        self._identity = identity_arn

    @classmethod
    async def resolve(
        cls, client: Any, stream_arn: str, region: str, identity_arn: str
    ) -> KinesisStream:
        """Check the stream exists; a missing one is a StartupError in AWS's words."""
        try:
            await client.describe_stream_summary(StreamARN=stream_arn)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                raise SourceMissing(f"Stream not found: {stream_arn}") from exc
            raise
        return cls(client, stream_arn, region, identity_arn)

    async def shards(self) -> list[ShardInfo]:
        out: list[ShardInfo] = []
        request: dict[str, Any] = {"StreamARN": self.stream_arn}
        while True:
            response = await self._client.list_shards(**request)
            out.extend(_shard_info(shard) for shard in response.get("Shards", []))
            token = response.get("NextToken")
            if not token:
                return out
            request = {"NextToken": token}  # AWS: a NextToken call names no stream

    async def iterator(self, shard_id: str, position: Position) -> str:
        request: dict[str, Any] = {
            "StreamARN": self.stream_arn,
            "ShardId": shard_id,
            "ShardIteratorType": position.kind,
        }
        if position.sequence is not None:
            request["StartingSequenceNumber"] = position.sequence
        if position.timestamp is not None:
            request["Timestamp"] = datetime.fromtimestamp(position.timestamp, UTC)
        response = await self._client.get_shard_iterator(**request)
        return str(response["ShardIterator"])

    async def read(self, shard_id: str, iterator: str, limit: int) -> Page:
        response = await self._client.get_records(
            StreamARN=self.stream_arn, ShardIterator=iterator, Limit=limit
        )
        records = [
            to_stream_record(raw, shard_id, self.stream_arn, self._region, self._identity)
            for raw in response.get("Records", [])
        ]
        return Page(records, response.get("NextShardIterator"), response.get("MillisBehindLatest"))


def _shard_info(shard: dict[str, Any]) -> ShardInfo:
    parents = tuple(
        p for p in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId")) if p
    )
    numbers = shard.get("SequenceNumberRange", {})
    return ShardInfo(
        shard["ShardId"],
        parents,
        numbers.get("StartingSequenceNumber"),
        numbers.get("EndingSequenceNumber"),
    )
