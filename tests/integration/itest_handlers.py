"""Handlers the integration tests run in the daemon; each records what it saw.

Tests set `behaviour` to decide what the handler returns for a batch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

lock = threading.Lock()
calls: list[dict[str, Any]] = []
behaviour: Callable[[dict[str, Any], int], Any] | None = None


def reset() -> None:
    global behaviour
    with lock:
        calls.clear()
    behaviour = None


def handler(event: dict[str, Any], context: Any) -> Any:
    """Record the event (with start and end times), then act as `behaviour` says."""
    started = time.monotonic()
    with lock:
        index = len(calls)
        call: dict[str, Any] = {
            "event": event,
            "started": started,
            "ended": None,
            "request_id": context.aws_request_id,
            "function_name": context.function_name,
        }
        calls.append(call)
    try:
        return behaviour(event, index) if behaviour else None
    finally:
        call["ended"] = time.monotonic()


def records() -> list[dict[str, Any]]:
    """Every record delivered so far, in invocation order."""
    with lock:
        return [r for call in calls for r in call["event"]["Records"]]


def batch_sizes() -> list[int]:
    with lock:
        return [len(call["event"]["Records"]) for call in calls]
