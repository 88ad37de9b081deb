"""A handler that notes when each message reached it, for the trigger-latency benchmark.

`handler` is what poller calls (a Lambda SQS event: `Records[].body`), `raw_handler` what the
raw loop calls with ReceiveMessage's messages (`Body`). Both take `time.time_ns()` first, then
note that moment for every message of the batch by the `seq` in its JSON body (the first time a
seq is seen: a redelivery does not move it). poller calls handlers from worker threads, so the
record is locked and `on_done` runs in whichever thread noted the target-th message.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any


class Recorder:
    """seq -> wall-clock ns at handler start, since `arm()`; `on_done` once `target` are in."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.handled: dict[int, int] = {}
        self._target = 0
        self._on_done: Callable[[], None] | None = None

    def arm(self, target: int, on_done: Callable[[], None]) -> None:
        with self._lock:
            self.handled = {}
            self._target = target
            self._on_done = on_done

    def record(self, at: int, bodies: Iterable[str]) -> None:
        seqs = [int(json.loads(body)["seq"]) for body in bodies]
        with self._lock:
            for seq in seqs:
                self.handled.setdefault(seq, at)
            fire = self._on_done if len(self.handled) >= self._target else None
            if fire is not None:
                self._on_done = None
        if fire is not None:
            fire()


RECORDER = Recorder()


def handler(event: dict[str, Any], context: Any) -> None:
    """poller's entry point: a Lambda SQS event."""
    at = time.time_ns()
    RECORDER.record(at, (record["body"] for record in event["Records"]))


def raw_handler(messages: list[dict[str, Any]]) -> None:
    """The raw loop's: ReceiveMessage's messages."""
    at = time.time_ns()
    RECORDER.record(at, (message["Body"] for message in messages))
