"""The handler of `startup_idle.py`: its first call writes `time.time_ns()` to a file.

The file is named by the environment variable `BENCH_STAMP_FILE` and holds one line,
`<time.time_ns() at the call> <records in the event>`. It is written whole (a temporary file
renamed over it), so the benchmark, which waits for it to appear, never reads half a line. Later
calls, and any call without `BENCH_STAMP_FILE`, do nothing. Safe from several threads at once
(poller calls synchronous handlers from worker threads).

Both contenders of the start-up figure call this same function: poller as the configured
handler (`startup_handler:handler`, `code_uri` this directory), `startup_raw.py` inline.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

STAMP_ENV = "BENCH_STAMP_FILE"

_lock = threading.Lock()
_stamped = False


def handler(event: dict[str, Any], context: Any) -> None:
    """Stamp the first call; return at once (a successful, empty response)."""
    global _stamped
    now = time.time_ns()  # first thing: the moment the handler was entered
    with _lock:
        if _stamped:
            return
        _stamped = True
    path = os.environ.get(STAMP_ENV)
    if not path:
        return
    partial = f"{path}.partial"
    with open(partial, "w", encoding="ascii") as out:
        out.write(f"{now} {len(event.get('Records', []))}\n")
    os.replace(partial, path)
