"""responses: handler responses against the ReportBatchItemFailures table (§3.4, §5.5, §8.10)."""

from __future__ import annotations

import pytest

from poller.model import FunctionError, InvokeResult, Outcome, Verdict
from poller.responses import MAX_RESPONSE_BYTES, SUCCESS, interpret, item_failures, settled

IDS = ("id1", "id2", "id3")

BAD_ID = Outcome(Verdict.FAILURE, reason="itemIdentifier missing, null or empty")
INVALID_JSON = Outcome(Verdict.FAILURE, reason="invalid JSON response")
NOT_OBJECT = Outcome(Verdict.FAILURE, reason="response is not an object")
DEEP_LIST = b"[" * 100_000 + b"]" * 100_000


def partial(*failed: str) -> Outcome:
    return Outcome(Verdict.PARTIAL, frozenset(failed), reason="batchItemFailures reported")


def ok(payload: bytes | None) -> InvokeResult:
    return InvokeResult("req-1", 0.01, payload=payload)


def failed(error_type: str) -> InvokeResult:
    return InvokeResult("req-1", 0.01, error=FunctionError("boom", error_type, ("frame",)))


# Reference §3.4, one row per case, with ReportBatchItemFailures on.
@pytest.mark.parametrize(
    ("result", "expected"),
    [
        pytest.param(ok(b'{"batchItemFailures":[]}'), SUCCESS, id="empty-list"),
        pytest.param(ok(b'{"batchItemFailures":null}'), SUCCESS, id="null-list"),
        pytest.param(ok(b"{}"), SUCCESS, id="empty-response-object"),
        pytest.param(ok(b"null"), SUCCESS, id="null-response"),
        pytest.param(ok(None), SUCCESS, id="no-payload"),
        pytest.param(ok(b'{"batchItemFailures":'), INVALID_JSON, id="invalid-json-truncated"),
        pytest.param(ok(b"not json"), INVALID_JSON, id="invalid-json-text"),
        pytest.param(ok(b"\xff\xfe\x00"), INVALID_JSON, id="invalid-json-undecodable-bytes"),
        # nested too deeply for the parser: invalid JSON as far as poller can tell
        pytest.param(ok(DEEP_LIST), INVALID_JSON, id="invalid-json-nested-too-deeply"),
        pytest.param(
            ok(b'{"batchItemFailures":' + DEEP_LIST + b"}"), INVALID_JSON, id="deep-item-failures"
        ),
        pytest.param(
            ok(b'{"batchItemFailures":[{"itemIdentifier":""}]}'), BAD_ID, id="identifier-empty"
        ),
        pytest.param(
            ok(b'{"batchItemFailures":[{"itemIdentifier":null}]}'), BAD_ID, id="identifier-null"
        ),
        pytest.param(
            ok(b'{"batchItemFailures":[{"foo":"notvalid"}]}'), BAD_ID, id="identifier-bad-key"
        ),
        pytest.param(
            ok(b'{"batchItemFailures":[{"itemIdentifier":"id2"},{"itemIdentifier":"nope"}]}'),
            Outcome(Verdict.FAILURE, reason="itemIdentifier 'nope' not in batch"),
            id="identifier-not-in-batch",
        ),
        pytest.param(
            failed("ValueError"),
            Outcome(Verdict.FAILURE, reason="function error: ValueError"),
            id="function-throws",
        ),
        pytest.param(
            failed("Sandbox.Timedout"),
            Outcome(Verdict.FAILURE, reason="function error: Sandbox.Timedout"),
            id="function-times-out",
        ),
        pytest.param(
            failed("Runtime.MarshalError"),
            Outcome(Verdict.FAILURE, reason="function error: Runtime.MarshalError"),
            id="function-unmarshallable-response",
        ),
        pytest.param(
            ok(b'{"batchItemFailures":[{"itemIdentifier":"id2"}]}'), partial("id2"), id="one-failed"
        ),
        pytest.param(
            ok(b'{"batchItemFailures":[{"itemIdentifier":"id1"},{"itemIdentifier":"id3"}]}'),
            partial("id1", "id3"),
            id="two-failed",
        ),
        pytest.param(
            ok(
                b'{"batchItemFailures":[{"itemIdentifier":"id1"},{"itemIdentifier":"id2"},'
                b'{"itemIdentifier":"id3"}]}'
            ),
            partial("id1", "id2", "id3"),
            id="all-failed",
        ),
        pytest.param(
            ok(b'{"batchItemFailures":[{"itemIdentifier":"id2"},{"itemIdentifier":"id2"}]}'),
            partial("id2"),
            id="duplicate-identifiers",
        ),
        pytest.param(
            ok(b'{"batchItemFailures":[{"itemIdentifier":"id2","extra":1}],"other":true}'),
            partial("id2"),
            id="unknown-keys-ignored",
        ),
        pytest.param(ok(b'{"other":1}'), SUCCESS, id="no-batchItemFailures-key"),
        pytest.param(
            ok(b'{"batchItemFailures":"id1"}'),
            Outcome(Verdict.FAILURE, reason="batchItemFailures is not a list"),
            id="batchItemFailures-string",
        ),
        pytest.param(
            ok(b'{"batchItemFailures":{}}'),
            Outcome(Verdict.FAILURE, reason="batchItemFailures is not a list"),
            id="batchItemFailures-object",
        ),
        pytest.param(ok(b'{"batchItemFailures":["id1"]}'), BAD_ID, id="entry-not-object"),
        pytest.param(
            ok(b'{"batchItemFailures":[{"itemIdentifier":true}]}'), BAD_ID, id="identifier-bool"
        ),
        pytest.param(
            ok(b'{"batchItemFailures":[{"itemIdentifier":["id1"]}]}'), BAD_ID, id="identifier-list"
        ),
        pytest.param(ok(b'"id1"'), NOT_OBJECT, id="non-empty-string-response"),
        pytest.param(ok(b"42"), NOT_OBJECT, id="number-response"),
        pytest.param(ok(b'["id1"]'), NOT_OBJECT, id="non-empty-list-response"),
    ],
)
def test_interpret_with_report_batch_item_failures(result: InvokeResult, expected: Outcome) -> None:
    assert interpret(result, True, IDS) == expected


# §8.10: [] "" {} null are success with ReportBatchItemFailures.
@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"[]", id="empty-list"),
        pytest.param(b'""', id="empty-string"),
        pytest.param(b"{}", id="empty-object"),
        pytest.param(b"null", id="null"),
        pytest.param(b"  null\n", id="null-with-whitespace"),
    ],
)
def test_empty_responses_are_success(payload: bytes) -> None:
    assert interpret(ok(payload), True, IDS) is SUCCESS


@pytest.mark.parametrize(
    "response",
    [
        pytest.param([], id="empty-list"),
        pytest.param("", id="empty-string"),
        pytest.param({}, id="empty-object"),
        pytest.param(None, id="null"),
        pytest.param({"batchItemFailures": []}, id="empty-failures"),
        pytest.param({"batchItemFailures": None}, id="null-failures"),
    ],
)
def test_item_failures_empty_is_success(response: object) -> None:
    assert item_failures(response, IDS) is SUCCESS


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        pytest.param(0, NOT_OBJECT, id="zero"),
        pytest.param(False, NOT_OBJECT, id="false"),
        pytest.param([None], NOT_OBJECT, id="list-of-null"),
        pytest.param("x", NOT_OBJECT, id="string"),
    ],
)
def test_item_failures_falsy_non_empty_values_fail(response: object, expected: Outcome) -> None:
    assert item_failures(response, IDS) == expected


# §5.5: without FunctionResponseTypes=["ReportBatchItemFailures"] anything returned is success.
@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b'{"batchItemFailures":[{"itemIdentifier":"id1"}]}', id="valid-partial"),
        pytest.param(b'{"batchItemFailures":[{"itemIdentifier":"nope"}]}', id="unknown-id"),
        pytest.param(b'{"batchItemFailures":[{"itemIdentifier":""}]}', id="empty-id"),
        pytest.param(b'{"batchItemFailures":[{"foo":"x"}]}', id="bad-key"),
        pytest.param(b"not json", id="invalid-json"),
        pytest.param(b'"id1"', id="string"),
        pytest.param(b"42", id="number"),
        pytest.param(b"null", id="null"),
        pytest.param(None, id="no-payload"),
    ],
)
def test_without_report_batch_item_failures_anything_is_success(payload: bytes | None) -> None:
    assert interpret(ok(payload), False, IDS) is SUCCESS


@pytest.mark.parametrize(
    "error_type",
    [
        pytest.param("ValueError", id="exception"),
        pytest.param("Sandbox.Timedout", id="timeout"),
    ],
)
def test_function_error_fails_even_without_report_batch_item_failures(error_type: str) -> None:
    assert interpret(failed(error_type), False, IDS) == Outcome(
        Verdict.FAILURE, reason=f"function error: {error_type}"
    )


@pytest.mark.parametrize(
    ("payload", "ids", "expected"),
    [
        pytest.param(
            b'{"batchItemFailures":[{"itemIdentifier":2}]}',
            ("1", "2", "3"),
            partial("2"),
            id="integer-in-batch",
        ),
        pytest.param(
            b'{"batchItemFailures":[{"itemIdentifier":49590338271490256608559692538361571095921575989136588898}]}',
            ("49590338271490256608559692538361571095921575989136588898",),
            partial("49590338271490256608559692538361571095921575989136588898"),
            id="big-integer-sequence-number",
        ),
        pytest.param(
            b'{"batchItemFailures":[{"itemIdentifier":7}]}',
            ("1", "2", "3"),
            Outcome(Verdict.FAILURE, reason="itemIdentifier '7' not in batch"),
            id="integer-not-in-batch",
        ),
        pytest.param(
            b'{"batchItemFailures":[{"itemIdentifier":2.0}]}',
            ("1", "2", "3"),
            BAD_ID,
            id="float-identifier",
        ),
    ],
)
def test_integer_identifiers(payload: bytes, ids: tuple[str, ...], expected: Outcome) -> None:
    assert interpret(ok(payload), True, ids) == expected


def test_identifier_in_frozenset_ids() -> None:
    ids = frozenset(IDS)
    assert interpret(ok(b'{"batchItemFailures":[{"itemIdentifier":"id3"}]}'), True, ids) == (
        partial("id3")
    )


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        pytest.param(SUCCESS, ["id1", "id2", "id3", "id4"], id="success-all-in-order"),
        pytest.param(partial("id2"), ["id1", "id3", "id4"], id="partial-one"),
        pytest.param(partial("id1", "id4"), ["id2", "id3"], id="partial-two"),
        pytest.param(partial("id1", "id2", "id3", "id4"), [], id="partial-all"),
        pytest.param(Outcome(Verdict.FAILURE, reason="x"), [], id="failure-none"),
    ],
)
def test_settled(outcome: Outcome, expected: list[str]) -> None:
    assert settled(["id1", "id2", "id3", "id4"], outcome) == expected


def test_settled_keeps_caller_order() -> None:
    assert settled(["c", "a", "b"], partial("a")) == ["c", "b"]


# Reference §1.1, LIMITS: "6 MB each for request and response (synchronous)". Lambda's own
# error names the exact figure, 6,291,556 bytes; a longer response fails the invoke whatever
# it says and whatever the response types.
@pytest.mark.parametrize("report", [False, True])
@pytest.mark.parametrize(
    ("size", "verdict"),
    [(MAX_RESPONSE_BYTES, Verdict.SUCCESS), (MAX_RESPONSE_BYTES + 1, Verdict.FAILURE)],
)
def test_response_size_limit(size: int, verdict: Verdict, report: bool) -> None:
    payload = b'{"pad":"' + b"x" * (size - 10) + b'"}'  # an object: success under the limit
    assert len(payload) == size
    outcome = interpret(ok(payload), report, ["m1"])
    assert outcome.verdict is verdict
    if verdict is Verdict.FAILURE:
        assert outcome.reason == "function error: Function.ResponseSizeTooLarge"
