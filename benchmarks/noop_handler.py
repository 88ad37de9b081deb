"""A Lambda handler that does nothing: the benchmark measures delivery, not work.

`handler` does nothing at all. `counting_handler` only counts the records it is given and calls
a callback once a target count is reached, so a benchmark learns the moment the N-th record was
handled without polling (poller calls synchronous handlers from worker threads: the count is
locked, and the callback runs in whichever thread handled the N-th record).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def handler(event: dict[str, Any], context: Any) -> None:
    """Accept an SQS event and return at once (a successful, empty response)."""
    return None


class RecordCounter:
    """Records handled since `arm()`; calls `on_target` once when the count reaches `target`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0
        self._target = 0
        self._on_target: Callable[[], None] | None = None

    def arm(self, target: int, on_target: Callable[[], None]) -> None:
        with self._lock:
            self.count = 0
            self._target = target
            self._on_target = on_target

    def add(self, n: int) -> None:
        with self._lock:
            self.count += n
            fire = self._on_target if self.count >= self._target else None
            if fire is not None:
                self._on_target = None
        if fire is not None:
            fire()


COUNTER = RecordCounter()


def counting_handler(event: dict[str, Any], context: Any) -> None:
    """Count the event's records (any source) and return at once."""
    COUNTER.add(len(event["Records"]))
    return None
