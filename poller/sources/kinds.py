"""The one table from a stream source's kind (the service its ARN names) to its reader."""

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
    client = await stack.enter_async_context(aws.client("kinesis", max_connections=50))
    region = Arn.parse(source_arn).region
    return await KinesisStream.resolve(client, source_arn, region, identity_arn)


async def open_dynamodb(
    aws: Aws, stack: AsyncExitStack, source_arn: str, identity_arn: str
) -> ShardSource:
    """A DynamoDB stream (or a table's latest stream); records carry no identity ARN."""
    streams = await stack.enter_async_context(aws.client("dynamodbstreams", max_connections=50))
    tables = await stack.enter_async_context(aws.client("dynamodb"))
    region = Arn.parse(source_arn).region
    return await DynamoDbStream.resolve(streams, tables, source_arn, region)


STREAM_SOURCES: Mapping[str, SourceOpener] = {
    "kinesis": open_kinesis,
    "dynamodb": open_dynamodb,
}
