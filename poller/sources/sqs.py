"""SQS queue I/O for a mapping: resolve, receive, delete, change visibility."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
from botocore.exceptions import ClientError

from poller.arns import Arn
from poller.aws import retried
from poller.errors import MISSING_QUEUE_CODES, SourceMissing, error_code
from poller.events.sqs import to_message
from poller.model import SqsMessage

DELETE_ATTEMPTS = 5
_MAX_ENTRIES = 10


@dataclass(frozen=True, slots=True)
class QueueInfo:
    url: str
    visibility_timeout: int
    fifo: bool


@dataclass(frozen=True, slots=True)
class DeleteReport:
    deleted: int
    failed: tuple[tuple[str, str], ...]  # (message id, error code) that could not be deleted


def chunks(items: Sequence[SqsMessage], size: int = _MAX_ENTRIES) -> list[Sequence[SqsMessage]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def queue_depth(client: Any, url: str) -> int:
    """Messages in a queue, visible or in flight, for reports and checks (not for polling).

    One reading can miss a message: the server counts visible messages, then in-flight ones,
    and a message whose visibility timeout ends in between is in neither. The larger of two
    readings counts it, so a queue reads empty only when it is.
    """
    readings = []
    for _ in range(2):
        response = await client.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )
        readings.append(sum(int(value) for value in response["Attributes"].values()))
    return max(readings)


class SqsQueue:
    """One queue. Receives ask for every system and message attribute.

    `client` makes every call; `receiver`, when given, makes the receives instead: a client
    whose read timeout outlasts a long poll, so that the other calls (deletes, visibility
    changes) can have a short one and a stalled delete fails in seconds, not after a long
    poll's worth of waiting.
    """

    def __init__(self, client: Any, arn: Arn, info: QueueInfo, receiver: Any = None) -> None:
        self._client = client
        self._receiver = receiver if receiver is not None else client
        self._arn = str(arn)
        self._region = arn.region
        self.info = info

    @staticmethod
    async def resolve(client: Any, arn: Arn) -> QueueInfo:
        """Find the queue's URL and attributes; a missing queue is a StartupError in AWS's words.

        Other errors are raised as they are (see `errors.source_refused`)."""
        try:
            url = (
                await client.get_queue_url(
                    QueueName=arn.resource, QueueOwnerAWSAccountId=arn.account
                )
            )["QueueUrl"]
            attributes = (
                await client.get_queue_attributes(
                    QueueUrl=url, AttributeNames=["VisibilityTimeout", "FifoQueue"]
                )
            )["Attributes"]
        except ClientError as exc:
            code = error_code(exc)
            if code in MISSING_QUEUE_CODES:
                raise SourceMissing(
                    "Error occurred while ReceiveMessage. SQS Error Code: "
                    "AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified "
                    "queue does not exist."
                ) from exc
            raise  # refused for good (AccessDenied, …) or retriable: the mapping decides
        return QueueInfo(
            url=url,
            visibility_timeout=int(attributes.get("VisibilityTimeout", 30)),
            fifo=attributes.get("FifoQueue", "false") == "true",
        )

    async def receive(self, max_messages: int, wait_seconds: int) -> list[SqsMessage]:
        response = await self._receiver.receive_message(
            QueueUrl=self.info.url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return [to_message(m, self._arn, self._region) for m in response.get("Messages", [])]

    async def delete(
        self,
        messages: Sequence[SqsMessage],
        on_retry: Callable[[BaseException, float], None] | None = None,
    ) -> DeleteReport:
        """Delete in batches of 10, retrying entries that failed for the server's reasons.

        Entries failing through the sender's fault (an expired receipt handle, say) are not
        retried: the message is already visible again and will be redelivered. With `on_retry`,
        a call that fails as a network fault, throttle or 5xx is retried with backoff while a
        retry can still help: for at most the queue's visibility timeout, after which the
        messages are visible again anyway. Without it, such an error is raised.
        """
        deleted = 0
        failed: list[tuple[str, str]] = []
        for chunk in chunks(messages):
            pending = {m.message_id: m for m in chunk}
            for attempt in range(DELETE_ATTEMPTS):
                by_index = list(pending.values())
                response = await self._delete_call(by_index, on_retry)
                retry: dict[str, SqsMessage] = {}
                deleted += len(response.get("Successful", []))
                for entry in response.get("Failed", []):
                    message = by_index[int(entry["Id"])]
                    if entry.get("SenderFault") or attempt == DELETE_ATTEMPTS - 1:
                        failed.append((message.message_id, str(entry.get("Code"))))
                    else:
                        retry[message.message_id] = message
                if not retry:
                    break
                pending = retry
                await anyio.sleep(0.2 * 2**attempt)
        return DeleteReport(deleted, tuple(failed))

    async def _delete_call(
        self, messages: list[SqsMessage], on_retry: Callable[[BaseException, float], None] | None
    ) -> dict[str, Any]:
        async def call() -> dict[str, Any]:
            response: dict[str, Any] = await self._client.delete_message_batch(
                QueueUrl=self.info.url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m.receipt_handle}
                    for i, m in enumerate(messages)
                ],
            )
            return response

        if on_retry is None:
            return await call()
        return await retried(call, on_retry, give_up_after=self.info.visibility_timeout)

    async def change_visibility(self, messages: Sequence[SqsMessage], seconds: int) -> int:
        """Set the visibility timeout of each message; returns how many changes succeeded."""
        changed = 0
        for chunk in chunks(messages):
            response = await self._client.change_message_visibility_batch(
                QueueUrl=self.info.url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": seconds}
                    for i, m in enumerate(chunk)
                ],
            )
            changed += len(response.get("Successful", []))
        return changed
