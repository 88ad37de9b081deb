"""Plain values that flow through a mapping: records, batches, invocation results, outcomes."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, NamedTuple


class SqsMessage(NamedTuple):
    """One received SQS message and the Lambda event record built from it.

    `size` is the record's serialised size in bytes; it counts toward the 6 MB invoke payload.
    (A NamedTuple, immutable like a frozen dataclass at a quarter of its cost to build: one is
    built per record.)
    """

    message_id: str
    receipt_handle: str
    record: dict[str, Any]
    size: int
    group_id: str | None = None


@dataclass(frozen=True, slots=True)
class Batch:
    """Messages delivered to the handler in one invocation, in receive order."""

    batch_id: str
    messages: tuple[SqsMessage, ...]

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(m.message_id for m in self.messages)

    def event(self) -> dict[str, Any]:
        return {"Records": [m.record for m in self.messages]}


@dataclass(frozen=True, slots=True)
class FunctionError:
    """Lambda's error payload for an unhandled error (errorMessage, errorType, stackTrace)."""

    error_message: str
    error_type: str
    stack_trace: tuple[str, ...] = ()

    def payload(self, request_id: str) -> dict[str, Any]:
        return {
            "errorMessage": self.error_message,
            "errorType": self.error_type,
            "requestId": request_id,
            "stackTrace": list(self.stack_trace),
        }


@dataclass(frozen=True, slots=True)
class InvokeResult:
    """What a synchronous invoke returned.

    Exactly one of `payload` (the JSON response body; None when the handler returned None) or
    `error` (a function error: exception, timeout, unserialisable response) describes the outcome.
    """

    request_id: str
    duration: float
    payload: bytes | None = None
    error: FunctionError | None = None


class Verdict(enum.Enum):
    SUCCESS = "success"
    PARTIAL = "partial"
    FAILURE = "failure"


@dataclass(frozen=True, slots=True)
class Outcome:
    """How the mapping settles a batch: which item identifiers failed and why."""

    verdict: Verdict
    failed: frozenset[str] = field(default_factory=frozenset)
    reason: str = ""


class StreamRecord(NamedTuple):
    """One record read from a Kinesis or DynamoDB Streams shard, with its Lambda event record.

    `key` routes the record to a lane (partition key; DynamoDB's item key, partition + sort);
    `arrival` is when the stream received it, in epoch seconds (IteratorAge); `size` is the
    serialised event record's size in bytes (the 6 MB cap).
    """

    sequence_number: str
    key: str
    record: dict[str, Any]
    size: int
    arrival: float

    @property
    def sequence(self) -> int:
        """Sequence numbers compare as integers (they are decimal strings of varying length)."""
        return int(self.sequence_number)
