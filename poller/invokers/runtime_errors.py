"""Lambda's own error payloads for invocations the runtime ended: timeout, exit, out of memory.

Every target (in-process, worker process, HTTP) reports these in the same words as Lambda, so
handlers' error tooling and DLQ consumers see what they would on AWS.
"""

from __future__ import annotations

import datetime as dt
import signal

from poller.model import FunctionError

TIMED_OUT = "Task timed out after"


def timed_out(request_id: str, timeout: float, now: dt.datetime | None = None) -> FunctionError:
    """`<timestamp> <request id> Task timed out after 3.00 seconds` (Sandbox.Timedout)."""
    stamp = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    text = stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return FunctionError(
        f"{text} {request_id} {TIMED_OUT} {timeout:.2f} seconds", "Sandbox.Timedout"
    )


def exited(request_id: str | None, returncode: int) -> FunctionError:
    """A runtime that died: `exit status 1`, `signal: killed` (Runtime.ExitError)."""
    if returncode >= 0:
        status = f"exit status {returncode}"
    else:
        status = f"signal: {(signal.strsignal(-returncode) or str(-returncode)).lower()}"
    prefix = f"RequestId: {request_id} Error: " if request_id else ""
    return FunctionError(f"{prefix}Runtime exited with error: {status}", "Runtime.ExitError")


def out_of_memory(request_id: str) -> FunctionError:
    """A function that outgrew its memory; its runtime is then SIGKILLed."""
    message = f"RequestId: {request_id} Error: Runtime exited with error: signal: killed"
    return FunctionError(message, "Runtime.OutOfMemory")


def exit_status(exc: BaseException) -> int:
    """How CPython exits when `exc` goes uncaught (negative: a signal, as Popen.returncode):
    SystemExit's code (None → 0, an int → itself mod 256, else 1), SIGINT for
    KeyboardInterrupt, else 1 after printing the traceback."""
    if isinstance(exc, KeyboardInterrupt):
        return -signal.SIGINT
    if not isinstance(exc, SystemExit):
        return 1
    if exc.code is None:
        return 0
    if isinstance(exc.code, int) and not isinstance(exc.code, bool):
        return exc.code & 0xFF
    return 1
