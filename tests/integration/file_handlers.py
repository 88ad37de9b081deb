"""A handler for daemons run as separate processes: appends each batch to a JSON-lines file.

The file is $POLLER_TEST_LOG; each line is {"ids": [...eventIDs], "data": [...]}, written and
flushed before the handler returns, so a SIGKILL leaves every started batch on disk.
"""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any


def handler(event: dict[str, Any], context: Any) -> None:
    records = event["Records"]
    line = {
        "ids": [r["eventID"] for r in records],
        "data": [base64.b64decode(r["kinesis"]["data"]).decode() for r in records],
    }
    with open(os.environ["POLLER_TEST_LOG"], "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")
        out.flush()
        os.fsync(out.fileno())
    time.sleep(float(os.environ.get("POLLER_TEST_SLEEP", "0.02")))


def crash_once(event: dict[str, Any], context: Any) -> None:
    """Like `handler`, but the worker process dies (os._exit) the first time it sees "crash"."""
    marker = os.environ["POLLER_TEST_LOG"] + ".crashed"
    data = [base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]]
    if "crash" in data and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    line = {"ids": [r["eventID"] for r in event["Records"]], "data": data, "pid": os.getpid()}
    with open(os.environ["POLLER_TEST_LOG"], "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


def timed(event: dict[str, Any], context: Any) -> None:
    """Like `handler`, with when the batch ran and who ran it: {"shard", "ids", "data",
    "worker" ($POLLER_TEST_WORKER), "start", "end"} (epoch seconds, this machine's clock)."""
    start = time.time()
    records = event["Records"]
    time.sleep(float(os.environ.get("POLLER_TEST_SLEEP", "0.02")))
    line = {
        "shard": records[0]["eventID"].split(":")[0],
        "ids": [r["eventID"] for r in records],
        "data": [base64.b64decode(r["kinesis"]["data"]).decode() for r in records],
        "worker": os.environ.get("POLLER_TEST_WORKER", ""),
        "start": start,
        "end": time.time(),
    }
    with open(os.environ["POLLER_TEST_LOG"], "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")
        out.flush()
        os.fsync(out.fileno())
