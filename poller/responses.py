"""Pure interpretation of a handler's response into success, partial failure or failure.

Implements the ReportBatchItemFailures table (reference §3.4 / §4.4). A response is read the way
AWS's deserialiser reads it: null, "", [] and {} are an empty response; any other non-object is an
invalid response (complete failure); unknown top-level keys are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from poller.model import InvokeResult, Outcome, Verdict

SUCCESS = Outcome(Verdict.SUCCESS)
# Lambda's synchronous response limit (6 MB; "Response payload size exceeded maximum allowed
# payload size (6291556 bytes)", error type Function.ResponseSizeTooLarge): the invoke fails.
MAX_RESPONSE_BYTES = 6_291_556
_EMPTY: tuple[Any, ...] = (None, "", [], {})


def interpret(result: InvokeResult, report_item_failures: bool, ids: Collection[str]) -> Outcome:
    """Settle a batch whose item identifiers are `ids` from the result of invoking it. A
    payload that does not parse (nested too deeply included) is invalid JSON; one over Lambda's
    response limit fails whatever the response types; never raises."""
    if result.error is not None:
        return Outcome(Verdict.FAILURE, reason=f"function error: {result.error.error_type}")
    if result.payload is not None and len(result.payload) > MAX_RESPONSE_BYTES:
        return Outcome(Verdict.FAILURE, reason="function error: Function.ResponseSizeTooLarge")
    if not report_item_failures or result.payload is None:
        return SUCCESS
    try:
        response = json.loads(result.payload)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply to parse
        return Outcome(Verdict.FAILURE, reason="invalid JSON response")
    return item_failures(response, ids)


def item_failures(response: Any, ids: Collection[str]) -> Outcome:
    """Read `batchItemFailures` from a decoded response."""
    if any(response == empty and type(response) is type(empty) for empty in _EMPTY):
        return SUCCESS
    if not isinstance(response, dict):
        return Outcome(Verdict.FAILURE, reason="response is not an object")
    entries = response.get("batchItemFailures")
    if entries is None or entries == []:
        return SUCCESS
    if not isinstance(entries, list):
        return Outcome(Verdict.FAILURE, reason="batchItemFailures is not a list")
    failed: set[str] = set()
    for entry in entries:
        identifier = entry.get("itemIdentifier") if isinstance(entry, dict) else None
        if isinstance(identifier, int) and not isinstance(identifier, bool):
            identifier = str(identifier)
        if not isinstance(identifier, str) or not identifier:
            return Outcome(Verdict.FAILURE, reason="itemIdentifier missing, null or empty")
        if identifier not in ids:
            return Outcome(Verdict.FAILURE, reason=f"itemIdentifier {identifier!r} not in batch")
        failed.add(identifier)
    return Outcome(Verdict.PARTIAL, frozenset(failed), reason="batchItemFailures reported")


def settled(ids_in_order: Collection[str], outcome: Outcome) -> list[str]:
    """The item identifiers that succeeded and may be deleted / checkpointed past."""
    if outcome.verdict is Verdict.SUCCESS:
        return list(ids_in_order)
    if outcome.verdict is Verdict.PARTIAL:
        return [i for i in ids_in_order if i not in outcome.failed]
    return []
