"""windows: the tumbling-window rules of reference §4.6 and the event extras of §5.4."""

from __future__ import annotations

import json
from typing import Any

import pytest

from poller.model import Outcome, StreamRecord, Verdict
from poller.streams.windows import (
    CLOSE_GRACE,
    STATE_LIMIT,
    Window,
    is_over,
    read_state,
    same_window,
    too_large,
    window_event,
    window_of,
    without_state,
)


def rec(seq: int, arrival: float) -> StreamRecord:
    return StreamRecord(str(seq), "k", {"seq": seq}, 10, arrival)


# §4.6: boundaries by the time the stream received each record.
@pytest.mark.parametrize(
    ("arrival", "size", "expected"),
    [
        pytest.param(120.0, 60, Window(120.0, 180.0), id="on-a-boundary-opens-it"),
        pytest.param(179.999, 60, Window(120.0, 180.0), id="just-before-the-end"),
        pytest.param(180.0, 60, Window(180.0, 240.0), id="the-end-belongs-to-the-next"),
        pytest.param(1607497440.5, 120, Window(1607497440.0, 1607497560.0), id="epoch"),
        pytest.param(5.0, 1, Window(5.0, 6.0), id="one-second"),
        pytest.param(899.0, 900, Window(0.0, 900.0), id="longest"),
    ],
)
def test_window_of(arrival: float, size: int, expected: Window) -> None:
    assert window_of(arrival, size) == expected


@pytest.mark.parametrize(
    ("arrivals", "expected"),
    [
        pytest.param([], 0, id="none"),
        pytest.param([1.0, 2.0, 3.0], 3, id="all-in-one-window"),
        pytest.param([1.0, 9.9, 10.0, 11.0], 2, id="a-batch-never-spans-two"),
        pytest.param([10.0], 1, id="single"),
    ],
)
def test_same_window(arrivals: list[float], expected: int) -> None:
    records = [rec(i, a) for i, a in enumerate(arrivals)]
    assert same_window(records, 10) == expected


def test_window_event_has_the_5_4_shape() -> None:
    window = Window(1607499840.0, 1607499960.0)
    event = window_event([rec(1, 1607499841.0)], window, {"1": 282}, "shardId-6", "arn:s", True)
    assert list(event) == [
        "Records",
        "window",
        "state",
        "shardId",
        "eventSourceARN",
        "isFinalInvokeForWindow",
        "isWindowTerminatedEarly",
    ]
    assert event["window"] == {"start": "2020-12-09T07:44:00Z", "end": "2020-12-09T07:46:00Z"}
    assert event["Records"] == [{"seq": 1}]
    assert event["state"] == {"1": 282}
    assert event["isFinalInvokeForWindow"] is True
    assert event["isWindowTerminatedEarly"] is False


# §4.6 / §5.4: the response must carry a `state` property, or the invocation is a failure.
@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        pytest.param(b'{"state": {"a": 1}}', {"a": 1}, id="state"),
        pytest.param(b'{"state": {}, "batchItemFailures": []}', {}, id="empty-state-with-bif"),
        pytest.param(b'{"batchItemFailures": []}', None, id="no-state"),
        pytest.param(b'{"state": null}', None, id="null-state"),
        pytest.param(b'{"state": [1]}', None, id="non-object-state"),
        pytest.param(b"null", None, id="null-response"),
        pytest.param(None, None, id="no-response"),
        pytest.param(b"not json", None, id="invalid-json"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, None, id="nested-too-deeply"),
        pytest.param(
            b'{"state": {"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}", None, id="deep"
        ),
        pytest.param(b'"state"', None, id="string-response"),
        # Parses, but could overflow the stack when the next event is serialised.
        pytest.param(
            b'{"state": ' + b'{"a": ' * 257 + b"1" + b"}" * 257 + b"}", None, id="state-depth-257"
        ),
        pytest.param(
            b'{"state": ' + b'{"a": ' * 255 + b"[1]" + b"}" * 255 + b"}",
            json.loads(b'{"a": ' * 255 + b"[1]" + b"}" * 255),
            id="state-depth-256",
        ),
    ],
)
def test_read_state(payload: bytes | None, expected: dict[str, Any] | None) -> None:
    assert read_state(payload) == expected


@pytest.mark.parametrize(
    ("outcome", "expected_verdict"),
    [
        pytest.param(Outcome(Verdict.SUCCESS), Verdict.FAILURE, id="success-becomes-failure"),
        pytest.param(Outcome(Verdict.PARTIAL, frozenset({"1"})), Verdict.FAILURE, id="partial-too"),
        pytest.param(Outcome(Verdict.FAILURE, reason="x"), Verdict.FAILURE, id="failure-kept"),
    ],
)
def test_without_state(outcome: Outcome, expected_verdict: Verdict) -> None:
    assert without_state(outcome).verdict is expected_verdict


def test_failure_reason_is_kept() -> None:
    failed = Outcome(Verdict.FAILURE, reason="function error: ValueError")
    assert without_state(failed) == failed


# §4.6: state up to 1 MB per shard; past it the window is terminated early.
@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        pytest.param(0, False, id="exactly-1-MB"),
        pytest.param(1, True, id="one-byte-over"),
    ],
)
def test_too_large(extra: int, expected: bool) -> None:
    overhead = len(json.dumps({"s": ""}, separators=(",", ":")))
    state = {"s": "x" * (STATE_LIMIT - overhead + extra)}
    assert too_large(state) is expected


@pytest.mark.parametrize(
    ("tip_seen_at", "expected"),
    [
        pytest.param(None, False, id="never-at-the-tip"),
        pytest.param(100.0, False, id="at-the-tip-before-the-end"),
        pytest.param(120.0 + CLOSE_GRACE, False, id="within-the-grace"),
        pytest.param(120.0 + CLOSE_GRACE + 0.01, True, id="after-end-and-grace"),
    ],
)
def test_is_over(tip_seen_at: float | None, expected: bool) -> None:
    assert is_over(Window(60.0, 120.0), tip_seen_at) is expected
