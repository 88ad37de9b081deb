"""A `ProcessInvoker` worker: starting and talking to one (parent side), serving in one (child).

A worker is one execution environment serving invocations one at a time, started as
`python -c <bootstrap> <poller root> <fd>` with the Lambda environment already set. The protocol
over the `Connection` on fd (pickled tuples, one reply per request):

- parent → child, once: `(name, FunctionConfig, base_dir, FunctionIdentity)`
- child → parent, once: `("ready", init_duration_ms)` or `("init_error", error_type, message)`
- parent → child, per invocation: `(request_id, deadline_ms, event_json: bytes)`
- child → parent, per invocation: `("ok", payload)`, `("error", FunctionError)` or `("oom",)`

EOF on the connection means "exit". The child never writes the protocol to stdout, so a
handler's `print` goes to the daemon's stdout as in-process handlers' does.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import inspect
import io
import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import poller
from poller.errors import StartupError
from poller.invokers.context import FunctionIdentity, LambdaContext
from poller.invokers.python import _decimal, _marshal, _stack_trace, load_handler
from poller.model import FunctionError

_MIB = 2**20
_M_ARENA_MAX = -8  # glibc mallopt parameter
_ROOT = str(Path(poller.__file__).resolve().parent.parent)
# Not `-m` and not multiprocessing's spawn: both would re-run the daemon's `__main__` in the child.
_BOOTSTRAP = (
    "import sys; sys.path.append(sys.argv[1]); from poller.invokers.worker import main; main()"
)
ORPHANED = 70  # a worker's exit status when its daemon went away under it (EX_SOFTWARE)
_GRACE = 2.0  # how long an exiting (or dead) worker gets to be reaped before SIGKILL


# --- parent side: blocking calls, made from threads -----------------------------------------


@dataclass(eq=False, slots=True)
class Worker:
    """A child process, the parent's end of its connection, and its lifeline: the write end of
    a pipe the child watches, which only this process holds and never writes. The kernel closes
    it when this process dies, however it dies, and the child then exits at once, even in the
    middle of a handler (`watch_parent`)."""

    popen: subprocess.Popen[bytes]
    conn: Connection[Any, Any]
    lifeline: int

    def close(self) -> None:
        """Close the connection and the lifeline (the child exits on either); idempotent."""
        self.conn.close()
        if self.lifeline >= 0:
            os.close(self.lifeline)
            self.lifeline = -1

    @property
    def pid(self) -> int:
        return self.popen.pid


def launch(env: dict[str, str], cwd: Path, spec: tuple[Any, ...]) -> Worker:
    """Start a worker and send it its spec; it then imports the handler and says "ready"."""
    ours, theirs = Pipe()
    watched, lifeline = os.pipe()
    try:
        popen = subprocess.Popen(  # noqa: S603 - our own interpreter and a constant bootstrap
            [sys.executable, "-c", _BOOTSTRAP, _ROOT, str(theirs.fileno()), str(watched)],
            env=env,
            cwd=cwd,
            pass_fds=(theirs.fileno(), watched),
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a terminal's Ctrl-C reaches the daemon only, which drains
        )
    except BaseException:
        os.close(lifeline)
        ours.close()
        raise
    finally:
        theirs.close()
        os.close(watched)
    with contextlib.suppress(OSError):  # died at once: the ready exchange reports the exit
        ours.send(spec)
    return Worker(popen, ours, lifeline)


def exchange(
    conn: Connection[Any, Any], request: tuple[str, int, Any] | None, deadline: float
) -> tuple[Any, ...]:
    """Send a request (if any) and wait for the reply until `deadline` (monotonic)."""
    if request is not None:
        request_id, deadline_ms, event = request
        try:
            body = json.dumps(event, default=_decimal).encode("utf-8")
        except (TypeError, ValueError) as exc:
            return ("unencodable", str(exc))
        try:
            conn.send((request_id, deadline_ms, body))
        except OSError:
            return ("unsent",)
    try:
        if not conn.poll(max(deadline - time.monotonic(), 0.0)):
            return ("timeout",)
        reply: tuple[Any, ...] = conn.recv()
    except (EOFError, OSError):
        return ("exit",)
    return reply


def reap(popens: list[subprocess.Popen[bytes]]) -> None:
    """Wait for processes to exit, SIGKILLing any still running after the grace period."""
    deadline = time.monotonic() + _GRACE
    for popen in popens:
        try:
            popen.wait(max(deadline - time.monotonic(), 0.0))
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()


# --- child side ----------------------------------------------------------------------------


def limit_memory(memory_size: int) -> None:
    """Cap the address space at what is mapped now plus `memory_size` MB (Linux only).

    RLIMIT_AS counts virtual memory, so glibc's per-thread malloc arenas (64 MB of address space
    each) are capped at two first: otherwise a handler's thread pool alone would exhaust it.
    """
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[0])
    except OSError:  # not Linux: no /proc, no enforced limit
        return
    with contextlib.suppress(OSError, AttributeError):  # not glibc
        ctypes.CDLL(None).mallopt(_M_ARENA_MAX, 2)
    limit = pages * resource.getpagesize() + memory_size * _MIB
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def handle(
    handler: Callable[..., Any],
    identity: FunctionIdentity,
    runner: asyncio.Runner | None,
    request: tuple[str, int, bytes],
) -> tuple[Any, ...]:
    """Run one invocation; the reply to send. MemoryError anywhere means the worker is spent."""
    request_id, deadline_ms, body = request
    context = LambdaContext(identity, request_id, deadline_ms)
    try:
        value = handler(json.loads(body), context)
        if runner is not None:
            value = runner.run(value)
        outcome = _marshal(value)
    except MemoryError:
        return ("oom",)
    except Exception as exc:
        return ("error", FunctionError(str(exc), type(exc).__name__, _stack_trace(exc)))
    if isinstance(outcome, FunctionError):
        return ("error", outcome)
    return ("ok", outcome)


def serve(
    conn: Connection[Any, Any], handler: Callable[..., Any], identity: FunctionIdentity
) -> None:
    # One event loop for the worker's life, so clients an async handler caches at module level
    # (bound to the loop that created them) stay usable across invocations.
    runner = asyncio.Runner() if inspect.iscoroutinefunction(handler) else None
    try:
        while True:
            try:
                request = conn.recv()
            except EOFError:
                return
            reply = handle(handler, identity, runner, request)
            try:
                conn.send(reply)
            except MemoryError:
                conn.send(("oom",))
    finally:
        if runner is not None:
            runner.close()


def watch_parent(fd: int) -> None:
    """Exit the moment the daemon is gone, even in the middle of a handler.

    `fd` is the read end of the lifeline (see `Worker`): a read returns only when the daemon
    closed its end, by retiring this worker or by dying. Otherwise a worker killed with its
    daemon (SIGKILL, a crash) would finish its handler first, and a restarted daemon could run
    the same batch beside it. A thread, not the parent-death signal: that fires when the thread
    that started the child exits, and workers are started from passing threads.
    """

    def wait() -> None:
        try:
            os.read(fd, 1)
        finally:
            os._exit(ORPHANED)

    threading.Thread(target=wait, name="poller-lifeline", daemon=True).start()


def main() -> None:
    watch_parent(int(sys.argv[-1]))
    conn: Connection[Any, Any] = Connection(int(sys.argv[-2]))
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # handler output appears as it is printed
    try:
        name, function, base_dir, identity = conn.recv()
    except EOFError:
        return
    limit_memory(function.memory_size)
    started = time.perf_counter()
    try:
        handler = load_handler(name, function, base_dir)
    except StartupError as exc:
        # load_handler's wording is "functions.<name>.handler: <errorType>: <errorMessage>".
        _, error_type, message = str(exc).split(": ", 2)
        conn.send(("init_error", error_type, message))
        return
    conn.send(("ready", (time.perf_counter() - started) * 1000))
    serve(conn, handler, identity)
