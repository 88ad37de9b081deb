"""Handlers for the crash loops: one line per delivered record, appended before returning.

The file is $POLLER_CRASH_LOG and the daemon's run (generation) is $POLLER_CRASH_RUN. Each batch
is one os.write of its lines to a file opened with O_APPEND, so a SIGKILL leaves every record a
handler was given on disk (the kernel has the bytes once write() returns; no fsync: the process
dies, not the machine). A line is `run time record-fields...`, space-separated.
"""

from __future__ import annotations

import base64
import os
import time
from typing import Any


def _append(lines: list[str]) -> None:
    fd = os.open(os.environ["POLLER_CRASH_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, "".join(lines).encode())
    finally:
        os.close(fd)


def sqs(event: dict[str, Any], context: Any) -> None:
    """`run time body` per message (the bodies are the test's record ids)."""
    run, now = os.environ["POLLER_CRASH_RUN"], time.time()
    _append([f"{run} {now:.6f} {r['body']}\n" for r in event["Records"]])


def kinesis(event: dict[str, Any], context: Any) -> None:
    """`run time shard sequence partition-key data` per record; then a short pause
    ($POLLER_CRASH_SLEEP seconds) so a run spreads over enough time to be killed in."""
    run, now = os.environ["POLLER_CRASH_RUN"], time.time()
    lines = []
    for r in event["Records"]:
        shard = r["eventID"].split(":")[0]
        data = base64.b64decode(r["kinesis"]["data"]).decode()
        k = r["kinesis"]
        lines.append(f"{run} {now:.6f} {shard} {k['sequenceNumber']} {k['partitionKey']} {data}\n")
    _append(lines)
    time.sleep(float(os.environ.get("POLLER_CRASH_SLEEP", "0")))
