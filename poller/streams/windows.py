"""Pure rules for tumbling windows (TumblingWindowInSeconds, reference §4.6 / §5.4).

Windows are fixed, back to back, by the time the stream received each record
(`[k·size, (k+1)·size)` in epoch seconds). A batch never spans two windows. Each invocation
carries the window's `state` and must return a `state`; the window ends with a final invocation
(`isFinalInvokeForWindow`, no records), after which its records are checkpointed and its state
dropped. A state over 1 MB ends the window early (`isWindowTerminatedEarly`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from poller.model import Outcome, StreamRecord, Verdict

STATE_LIMIT = 1024 * 1024
# A window is over once the reader has been at the tip of its shard this long after its end
# (the stream's clock and ours may differ a little).
CLOSE_GRACE = 1.0


@dataclass(frozen=True, slots=True)
class Window:
    start: float
    end: float

    def json(self) -> dict[str, str]:
        return {"start": _iso(self.start), "end": _iso(self.end)}


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def window_of(arrival: float, size: int) -> Window:
    start = math.floor(arrival / size) * size
    return Window(float(start), float(start + size))


def same_window(records: Sequence[StreamRecord], size: int) -> int:
    """How many leading records fall in the window of the first one."""
    if not records:
        return 0
    window = window_of(records[0].arrival, size)
    return next((i for i, r in enumerate(records) if r.arrival >= window.end), len(records))


def window_event(
    records: Sequence[StreamRecord],
    window: Window,
    state: dict[str, Any],
    shard_id: str,
    stream_arn: str,
    final: bool = False,
    terminated_early: bool = False,
) -> dict[str, Any]:
    """The §5.4 event: the records plus the window, its state and where it comes from."""
    return {
        "Records": [r.record for r in records],
        "window": window.json(),
        "state": state,
        "shardId": shard_id,
        "eventSourceARN": stream_arn,
        "isFinalInvokeForWindow": final,
        "isWindowTerminatedEarly": terminated_early,
    }


# The state goes back into the next event, which targets serialise; a state nested deeper than
# this could overflow Python's stack there, so it counts as no state (a failed invocation).
STATE_DEPTH_LIMIT = 256


def read_state(payload: bytes | None) -> dict[str, Any] | None:
    """The `state` a windowed invocation returned, or None when the response has none (the
    invocation is then a failure). A null or non-object state counts as none, as do a response
    that does not parse (nested too deeply included) and a state nested deeper than
    STATE_DEPTH_LIMIT; never raises."""
    if payload is None:
        return None
    try:
        response = json.loads(payload)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply to parse
        return None
    state = response.get("state") if isinstance(response, dict) else None
    if not isinstance(state, dict) or _depth(state) > STATE_DEPTH_LIMIT:
        return None
    return state


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in `value` (a scalar: 0), without recursion."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = list(item.values()) if isinstance(item, dict) else item
        if isinstance(children, list):
            deepest = max(deepest, depth)
            pending.extend((child, depth + 1) for child in children)
    return deepest


def without_state(outcome: Outcome) -> Outcome:
    """The outcome of an invocation whose response carried no state: a complete failure."""
    if outcome.verdict is Verdict.FAILURE:
        return outcome
    return Outcome(Verdict.FAILURE, reason="the response has no state")


def too_large(state: dict[str, Any]) -> bool:
    return len(json.dumps(state, separators=(",", ":")).encode("utf-8")) > STATE_LIMIT


def is_over(window: Window, tip_seen_at: float | None) -> bool:
    """Whether no record can still arrive in `window`: the reader has been at the shard's tip
    at some moment after the window ended (plus a grace for clock skew)."""
    return tip_seen_at is not None and tip_seen_at > window.end + CLOSE_GRACE
