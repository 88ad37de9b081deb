"""The one table from a stream source's kind (the service its ARN names) to its reader.

Each reader's clients are in the ARN's region: Lambda reads exactly the resource an ARN names.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack

from poller.arns import Arn
from poller.aws import Aws
from poller.sources.dynamodb import DynamoDbStream
from poller.sources.kinesis import KinesisStream
from poller.sources.streams import ShardSource

# (aws, stack, event source ARN, invokeIdentityArn) -> the resolved source; its clients close
# with `stack`. A missing stream or table is a StartupError.
SourceOpener = Callable[[Aws, AsyncExitStack, str, str], Awaitable[ShardSource]]


async def open_kinesis(
    aws: Aws, stack: AsyncExitStack, source_arn: str, identity_arn: str
) -> ShardSource:
    arn = Arn.parse(source_arn)
    client = await stack.enter_async_context(aws.client_for(arn, max_connections=50))
    async with aws.locating(arn):
        return await KinesisStream.resolve(client, source_arn, arn.region, identity_arn)


async def open_dynamodb(
    aws: Aws, stack: AsyncExitStack, source_arn: str, identity_arn: str
) -> ShardSource:
    """A DynamoDB stream (or a table's latest stream); records carry no identity ARN."""
    arn = Arn.parse(source_arn)
    streams = await stack.enter_async_context(
        aws.client("dynamodbstreams", max_connections=50, region=arn.region)
    )
    tables = await stack.enter_async_context(aws.client_for(arn))
    async with aws.locating(arn):
        return await DynamoDbStream.resolve(streams, tables, source_arn, arn.region)


STREAM_SOURCES: Mapping[str, SourceOpener] = {
    "kinesis": open_kinesis,
    "dynamodb": open_dynamodb,
}
