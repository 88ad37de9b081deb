"""DynamoDB Streams I/O for a mapping: resolve the stream (or a table's), list shards, read."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from poller.arns import Arn
from poller.errors import SourceMissing, StartupError, error_code
from poller.events.dynamodb import to_stream_record
from poller.sources.shards import Position, ShardInfo
from poller.sources.streams import Pace, Page

DYNAMODB_PACE = Pace(min_interval=0.25, idle_interval=0.25, max_records=1000)


class DynamoDbStream:
    """One DynamoDB stream seen through a `dynamodbstreams` client."""

    pace = DYNAMODB_PACE

    def __init__(self, client: Any, stream_arn: str, region: str) -> None:
        self._client = client
        self.stream_arn = stream_arn
        self._region = region

    @classmethod
    async def resolve(
        cls, streams: Any, tables: Any, source_arn: str, region: str
    ) -> DynamoDbStream:
        """Accept a stream ARN, or a table ARN whose latest stream is read.

        A missing table or stream, or a table without a stream, is a StartupError.
        """
        arn = Arn.parse(source_arn)
        stream_arn = source_arn
        if "/stream/" not in arn.resource:
            table = arn.resource_name
            try:
                described = (await tables.describe_table(TableName=table))["Table"]
            except ClientError as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    raise SourceMissing(f"Table not found: {source_arn}") from exc
                raise
            latest = described.get("LatestStreamArn")
            enabled = described.get("StreamSpecification", {}).get("StreamEnabled", False)
            if not latest or not enabled:
                raise StartupError(
                    f"table {table} has no stream: enable DynamoDB Streams on it "
                    "(StreamSpecification: StreamEnabled true, a StreamViewType)"
                )
            stream_arn = str(latest)
        try:
            await streams.describe_stream(StreamArn=stream_arn, Limit=1)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                raise SourceMissing(f"Stream not found: {stream_arn}") from exc
            raise
        return cls(streams, stream_arn, region)

    async def shards(self) -> list[ShardInfo]:
        out: list[ShardInfo] = []
        request: dict[str, Any] = {"StreamArn": self.stream_arn}
        while True:
            description = (await self._client.describe_stream(**request))["StreamDescription"]
            for shard in description.get("Shards", []):
                numbers = shard.get("SequenceNumberRange", {})
                parent = shard.get("ParentShardId")
                out.append(
                    ShardInfo(
                        shard["ShardId"],
                        (parent,) if parent else (),
                        numbers.get("StartingSequenceNumber"),
                        numbers.get("EndingSequenceNumber"),
                    )
                )
            last = description.get("LastEvaluatedShardId")
            if not last:
                return out
            request = {"StreamArn": self.stream_arn, "ExclusiveStartShardId": last}

    async def iterator(self, shard_id: str, position: Position) -> str:
        request: dict[str, Any] = {
            "StreamArn": self.stream_arn,
            "ShardId": shard_id,
            "ShardIteratorType": position.kind,
        }
        if position.sequence is not None:
            request["SequenceNumber"] = position.sequence
        response = await self._client.get_shard_iterator(**request)
        return str(response["ShardIterator"])

    async def read(self, shard_id: str, iterator: str, limit: int) -> Page:
        response = await self._client.get_records(ShardIterator=iterator, Limit=limit)
        records = [
            to_stream_record(raw, self.stream_arn, self._region)
            for raw in response.get("Records", [])
        ]
        return Page(records, response.get("NextShardIterator"))
