"""On-failure destinations for stream mappings: an SQS queue, an SNS topic or an S3 bucket.

Delivery is retried with backoff while the error may heal (network, throttling, 5xx) for up to
`DELIVERY_SECONDS`; the lane waits meanwhile, so nothing moves past an undelivered record. A
delivery that fails for good (missing queue, access denied, or still failing at the deadline)
raises DeliveryFailed: the caller then drops the batch as Lambda does, counting it
(DestinationDeliveryFailures, DroppedEventCount) and logging the whole record.
"""

from __future__ import annotations

import abc
import json
from contextlib import AsyncExitStack
from typing import Any, Protocol

from poller.arns import Arn
from poller.aws import Aws, retrying
from poller.errors import DeliveryFailed
from poller.events.failure import Discard, failure_record, s3_key, with_payload

DELIVERY_SECONDS = 120.0


class Destination(Protocol):
    arn: str

    async def send(self, discard: Discard, now: float) -> dict[str, Any]:
        """Deliver the record of `discard`; returns the record sent."""
        ...


class _Base(abc.ABC):
    """Delivery with retries; subclasses only put one record."""

    def __init__(self, arn: str, client: Any, mapping_uuid: str, on_retry: Any) -> None:
        self.arn = arn
        self._arn = Arn.parse(arn)
        self._client = client
        self._uuid = mapping_uuid
        self._on_retry = on_retry

    async def send(self, discard: Discard, now: float) -> dict[str, Any]:
        record = failure_record(discard, now)
        try:
            async for attempt in retrying(self._on_retry, give_up_after=DELIVERY_SECONDS):
                with attempt:
                    await self._put(record, discard, now)
        except Exception as exc:
            raise DeliveryFailed(str(exc), record) from exc
        return record

    @abc.abstractmethod
    async def _put(self, record: dict[str, Any], discard: Discard, now: float) -> None:
        """One attempt to hand `record` to the destination."""


class SqsDestination(_Base):
    _url: str | None = None

    async def _put(self, record: dict[str, Any], discard: Discard, now: float) -> None:
        if self._url is None:
            response = await self._client.get_queue_url(
                QueueName=self._arn.resource, QueueOwnerAWSAccountId=self._arn.account
            )
            self._url = str(response["QueueUrl"])
        await self._client.send_message(QueueUrl=self._url, MessageBody=json.dumps(record))


class SnsDestination(_Base):
    async def _put(self, record: dict[str, Any], discard: Discard, now: float) -> None:
        await self._client.publish(TopicArn=self.arn, Message=json.dumps(record))


class S3Destination(_Base):
    async def _put(self, record: dict[str, Any], discard: Discard, now: float) -> None:
        await self._client.put_object(
            Bucket=self._arn.resource,
            Key=s3_key(self._uuid, discard.shard_id, now),
            Body=json.dumps(with_payload(record, discard)).encode("utf-8"),
            ContentType="application/json",
        )


_KINDS: dict[str, type[_Base]] = {"sqs": SqsDestination, "sns": SnsDestination, "s3": S3Destination}


async def open_destination(
    arn: str, aws: Aws, stack: AsyncExitStack, mapping_uuid: str, on_retry: Any
) -> Destination:
    """A destination for `arn` (its service was checked when the config loaded)."""
    parsed = Arn.parse(arn)
    client = await stack.enter_async_context(aws.client_for(parsed))  # in the ARN's region
    return _KINDS[parsed.service](arn, client, mapping_uuid, on_retry)
