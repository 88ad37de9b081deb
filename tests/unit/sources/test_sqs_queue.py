"""sources.sqs.SqsQueue.delete: batches of 10; entries failed by the server are retried, entries
failed through the sender's fault are reported at once (the message will come back anyway)."""

from __future__ import annotations

from typing import Any

import pytest

from poller.arns import Arn
from poller.model import SqsMessage
from poller.sources import sqs as sqs_source
from poller.sources.sqs import DELETE_ATTEMPTS, QueueInfo, SqsQueue

pytestmark = pytest.mark.anyio
ARN = Arn.parse("arn:aws:sqs:us-east-1:123456789012:orders")


class FakeClient:
    """DeleteMessageBatch that fails the receipt handles it is told to, per call."""

    def __init__(self, failures: list[dict[str, tuple[str, bool]]]) -> None:
        # failures[n]: receipt handle -> (code, sender fault) for the n-th call; later calls
        # (and handles not listed) succeed.
        self.failures = failures
        self.calls: list[list[str]] = []

    async def delete_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> Any:
        assert len(Entries) <= 10
        failing = self.failures[len(self.calls)] if len(self.calls) < len(self.failures) else {}
        self.calls.append([e["ReceiptHandle"] for e in Entries])
        ok, failed = [], []
        for entry in Entries:
            if entry["ReceiptHandle"] in failing:
                code, sender = failing[entry["ReceiptHandle"]]
                failed.append({"Id": entry["Id"], "Code": code, "SenderFault": sender})
            else:
                ok.append({"Id": entry["Id"]})
        return {"Successful": ok, "Failed": failed}


def messages(count: int) -> list[SqsMessage]:
    return [SqsMessage(f"m{i}", f"r{i}", {}, 0) for i in range(count)]


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    async def instant(seconds: float) -> None:
        return None

    monkeypatch.setattr("poller.sources.sqs.anyio.sleep", instant)


async def delete(client: FakeClient, count: int) -> sqs_source.DeleteReport:
    queue = SqsQueue(client, ARN, QueueInfo("http://queue", 30, False))
    return await queue.delete(messages(count))


async def test_deletes_in_batches_of_ten() -> None:
    client = FakeClient([])
    report = await delete(client, 23)
    assert report == sqs_source.DeleteReport(23, ())
    assert [len(call) for call in client.calls] == [10, 10, 3]


async def test_server_faults_are_retried_alone_until_they_succeed() -> None:
    client = FakeClient([{"r1": ("InternalError", False), "r4": ("ServiceUnavailable", False)}])
    report = await delete(client, 5)
    assert report == sqs_source.DeleteReport(5, ())
    assert client.calls == [["r0", "r1", "r2", "r3", "r4"], ["r1", "r4"]]


async def test_sender_faults_are_reported_without_retry() -> None:
    client = FakeClient([{"r2": ("ReceiptHandleIsInvalid", True)}])
    report = await delete(client, 3)
    assert report == sqs_source.DeleteReport(2, (("m2", "ReceiptHandleIsInvalid"),))
    assert len(client.calls) == 1


async def test_a_server_fault_that_persists_is_reported_after_the_last_attempt() -> None:
    stuck = {"r0": ("InternalError", False)}
    client = FakeClient([stuck] * DELETE_ATTEMPTS)
    report = await delete(client, 2)
    assert report == sqs_source.DeleteReport(1, (("m0", "InternalError"),))
    assert client.calls == [["r0", "r1"]] + [["r0"]] * (DELETE_ATTEMPTS - 1)


class FlakyClient(FakeClient):
    """DeleteMessageBatch whose first `errors` calls raise `error`, as a lost connection or a
    throttle does when botocore's own retries run out."""

    def __init__(self, errors: int, error: Exception) -> None:
        super().__init__([])
        self.errors, self.error, self.raised = errors, error, 0

    async def delete_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> Any:
        if self.raised < self.errors:
            self.raised += 1
            raise self.error
        return await super().delete_message_batch(QueueUrl, Entries)


def _throttled() -> Exception:
    from botocore.exceptions import ClientError

    error: Exception = ClientError(
        {"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "Delete"
    )
    return error


async def test_a_delete_call_that_fails_for_a_moment_is_retried_not_left_to_redeliver(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fault suite finding: a DeleteMessageBatch that failed past botocore's three attempts was
    given up, and its handled batch came back after the visibility timeout (a duplicate per
    message). With `on_retry` the call is retried with backoff, each retry reported."""
    waits: list[float] = []
    monkeypatch.setattr("poller.aws.backoff", lambda attempt, max_wait=30: 0.01)
    client = FlakyClient(3, _throttled())
    queue = SqsQueue(client, ARN, QueueInfo("http://queue", 30, False))
    report = await queue.delete(messages(3), lambda exc, wait: waits.append(wait))
    assert report == sqs_source.DeleteReport(3, ())
    assert len(waits) == 3


async def test_a_delete_call_is_not_retried_past_the_visibility_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once the messages are visible again a delete cannot save a redelivery: give up."""
    monkeypatch.setattr("poller.aws.backoff", lambda attempt, max_wait=30: 0.6)
    client = FlakyClient(1000, _throttled())
    queue = SqsQueue(client, ARN, QueueInfo("http://queue", 1, False))
    with pytest.raises(Exception, match="ThrottlingException"):
        await queue.delete(messages(1), lambda exc, wait: None)
    # Attempts at 0 and 0.6 s; a third would start at 1.2 s, past the 1 s visibility timeout.
    assert client.raised == 2


async def test_without_on_retry_a_failed_delete_call_is_raised_at_once() -> None:
    client = FlakyClient(1, _throttled())
    queue = SqsQueue(client, ARN, QueueInfo("http://queue", 30, False))
    with pytest.raises(Exception, match="ThrottlingException"):
        await queue.delete(messages(1))
    assert client.raised == 1
