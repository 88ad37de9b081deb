"""Run a sync handler in a long-lived worker thread: the cheapest handoff off the event loop.

`anyio.to_thread.run_sync` costs ~60-90 µs of CPU per call here (a cancel scope, a limiter, a
context copy, its worker bookkeeping); this handoff costs what a handoff must (a queue put and
one `call_soon_threadsafe`), ~30 µs. That is per invocation, so per batch.

Workers are shared by the process, kept while busy and for `IDLE_SECONDS` after, and created
when none is idle: a handler abandoned at its timeout keeps its thread until it returns, as
before. Threads are daemons, so a handler that never returns cannot hold the process open.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

IDLE_SECONDS = 10.0

_Job = tuple[Callable[[], Any], "asyncio.Future[Any]"]
_idle: deque[_Worker] = deque()


def _deliver(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():  # the caller stopped waiting (its timeout, or shutdown)
        future.set_result(value)


class _Worker:
    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        threading.Thread(target=self._run, name="poller-handler", daemon=True).start()

    def submit(self, job: _Job) -> None:
        self._jobs.put(job)

    def _run(self) -> None:
        while True:
            try:
                call, future = self._jobs.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                try:
                    _idle.remove(self)
                except ValueError:  # taken for a job just now: it is in the queue
                    continue
                return
            value = call()
            loop = future.get_loop()
            del call  # the event and the handler's result are not kept by an idle thread
            _idle.append(self)
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits for it
                loop.call_soon_threadsafe(_deliver, future, value)
            del future, value


async def run_in_worker(call: Callable[[], T]) -> T:
    """`call()` in a worker thread; its result. `call` must not raise (box what it raises).

    Cancelling the caller abandons the call: it runs to its end in its thread, unobserved.
    """
    future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    try:
        worker = _idle.pop()
    except IndexError:
        worker = _Worker()
    worker.submit((call, future))
    return await future


def _boxed(call: Callable[[], T]) -> tuple[T | None, BaseException | None]:
    """`call()`'s value, or what it raised, as a value: raised across the thread boundary (set on
    the future), a GeneratorExit would be thrown into the awaiting task, which closes its
    coroutines instead of raising there; `call_in_worker` raises it in the task itself."""
    try:
        return call(), None
    except BaseException as exc:  # raised again in the caller's task
        return None, exc


async def call_in_worker(call: Callable[[], T]) -> T:
    """`call()` in a worker thread (`run_in_worker`); what it raises is raised here."""
    value, error = await run_in_worker(functools.partial(_boxed, call))
    if error is not None:
        raise error
    return value  # type: ignore[return-value]  # None only when `error` is set
