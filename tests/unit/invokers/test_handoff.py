"""handoff.run_in_worker: sync calls off the event loop, threads reused, abandoned calls safe."""

from __future__ import annotations

import sqlite3
import threading

import anyio
import pytest

from poller.invokers import handoff

pytestmark = pytest.mark.anyio


async def test_runs_off_the_loop_thread_and_returns_the_value() -> None:
    loop_thread = threading.get_ident()
    ran_in, value = await handoff.run_in_worker(lambda: (threading.get_ident(), 42))
    assert value == 42
    assert ran_in != loop_thread


async def test_sequential_calls_reuse_one_thread() -> None:
    threads = {await handoff.run_in_worker(threading.get_ident) for _ in range(20)}
    assert len(threads) == 1


async def test_concurrent_calls_get_their_own_threads() -> None:
    barrier = threading.Barrier(3, timeout=5)  # each call waits for the other two
    results: list[int] = []

    async def call() -> None:
        results.append(await handoff.run_in_worker(barrier.wait))

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(call)
    assert sorted(results) == [0, 1, 2]


async def test_an_abandoned_call_finishes_in_its_thread_and_the_thread_is_reused() -> None:
    release = threading.Event()
    finished = threading.Event()

    def slow() -> str:
        release.wait(5)
        finished.set()
        return "late"

    with anyio.move_on_after(0.05) as scope:
        await handoff.run_in_worker(slow)
    assert scope.cancelled_caught  # the caller stopped waiting (a timeout)
    release.set()
    assert await anyio.to_thread.run_sync(finished.wait, 5)
    # Its late result went nowhere, and its thread serves the next call.
    with anyio.fail_after(5):
        assert await handoff.run_in_worker(lambda: "next") == "next"


async def test_call_in_worker_raises_what_the_call_raised() -> None:
    def fail() -> None:
        raise sqlite3.OperationalError("database is locked")

    with pytest.raises(sqlite3.OperationalError, match="locked"):
        await handoff.call_in_worker(fail)
    assert await handoff.call_in_worker(lambda: 7) == 7
