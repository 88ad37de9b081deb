"""Handlers for the bad-input corpus (test_bad_input.py): each record names a case, and the
first delivery of that record returns the case's response; later deliveries succeed.

A record's case is its SQS body or its Kinesis data. Every delivery is recorded.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from typing import Any

lock = threading.Lock()
# (case, time, item identifier) of every delivery, in order.
deliveries: list[tuple[str, float, str]] = []
seen: set[str] = set()


class Opaque:
    """An object json.dumps cannot write."""


def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def _failing(identifier: str) -> dict[str, Any]:
    return {"batchItemFailures": [{"itemIdentifier": identifier}]}


SEVEN_MB = 7 * 1024 * 1024

# case → (response given the record's item identifier, whether the record is retried)
CASES: dict[str, tuple[Callable[[str], Any], bool]] = {
    # Reference §3.4 / §4.4 and trap 10: an empty response is a complete success.
    "null": (lambda i: None, False),
    "empty-list": (lambda i: [], False),
    "empty-object": (lambda i: {}, False),
    "empty-string": (lambda i: "", False),
    "failures-null": (lambda i: {"batchItemFailures": None}, False),
    "failures-empty": (lambda i: {"batchItemFailures": []}, False),
    "unknown-top-key": (lambda i: {"somethingElse": [1, 2]}, False),
    # Any other JSON value is not an EventResponse: invalid, a complete failure.
    "true": (lambda i: True, True),
    "false": (lambda i: False, True),
    "int": (lambda i: 1, True),
    "zero": (lambda i: 0, True),
    "float": (lambda i: 1.5, True),
    "string": (lambda i: "str", True),
    "list": (lambda i: [i], True),
    # batchItemFailures of every wrong type.
    "failures-true": (lambda i: {"batchItemFailures": True}, True),
    "failures-int": (lambda i: {"batchItemFailures": 1}, True),
    "failures-float": (lambda i: {"batchItemFailures": 1.5}, True),
    "failures-string": (lambda i: {"batchItemFailures": i}, True),
    "failures-object": (lambda i: {"batchItemFailures": {"itemIdentifier": i}}, True),
    # Items: missing, empty, null, unknown identifiers, wrong item types.
    "item-empty-object": (lambda i: {"batchItemFailures": [{}]}, True),
    "item-null": (lambda i: {"batchItemFailures": [None]}, True),
    "item-bare-id": (lambda i: {"batchItemFailures": [i]}, True),
    "item-identifier-empty": (lambda i: {"batchItemFailures": [{"itemIdentifier": ""}]}, True),
    "item-identifier-null": (lambda i: {"batchItemFailures": [{"itemIdentifier": None}]}, True),
    "item-identifier-list": (lambda i: {"batchItemFailures": [{"itemIdentifier": [i]}]}, True),
    "item-bad-key": (lambda i: {"batchItemFailures": [{"foo": i}]}, True),
    "item-unknown-id": (lambda i: _failing("not-in-this-batch"), True),
    # The record's own identifier: a partial failure naming it, so it is retried.
    "item-own-id": (_failing, True),
    # Values the runtime cannot marshal: Runtime.MarshalError, a function error.
    "a-set": (lambda i: {i}, True),
    "bytes": (lambda i: b"bytes", True),
    "invalid-utf8": (lambda i: b"\xff\xfe\xc3\x28", True),
    "an-object": (lambda i: Opaque(), True),
    "nested-10000": (lambda i: _nested(10_000), True),
    "nested-10000-in-success": (lambda i: {"batchItemFailures": [], "x": _nested(10_000)}, True),
    # A lone surrogate is written as a JSON escape: valid JSON, but not an object.
    "lone-surrogate": (lambda i: "\udcff", True),
    # Over Lambda's 6 MB response limit: Function.ResponseSizeTooLarge, a complete failure,
    # even when what it says is a success.
    "huge-success": (lambda i: {"batchItemFailures": [], "pad": "x" * SEVEN_MB}, True),
    # Just under it, the same response is read.
    "large-success": (lambda i: {"batchItemFailures": [], "pad": "x" * 6_000_000}, False),
}


def reset() -> None:
    with lock:
        deliveries.clear()
        seen.clear()


def _case_and_id(record: dict[str, Any]) -> tuple[str, str]:
    if "kinesis" in record:
        data = base64.b64decode(record["kinesis"]["data"]).decode()
        return data, str(record["kinesis"]["sequenceNumber"])
    return str(record["body"]), str(record["messageId"])


def handler(event: dict[str, Any], context: Any) -> Any:
    """One-record batches: the case's response on the record's first delivery, else None.

    A case not in CASES (the "good" records sent after the corpus) always succeeds."""
    [record] = event["Records"]
    case, identifier = _case_and_id(record)
    with lock:
        deliveries.append((case, time.monotonic(), identifier))
        first = identifier not in seen
        seen.add(identifier)
    if case in CASES and first:
        return CASES[case][0](identifier)
    return None


def delivered(case: str) -> list[float]:
    with lock:
        return [at for name, at, _ in deliveries if name == case]
