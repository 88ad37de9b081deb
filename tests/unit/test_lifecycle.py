"""lifecycle: stopping cancels intake (receives, waits between attempts) and nothing else."""

from __future__ import annotations

import anyio
import pytest

from poller.lifecycle import Lifecycle

pytestmark = pytest.mark.anyio


async def test_sleep_returns_early_when_stopping_starts() -> None:
    lifecycle = Lifecycle()
    with anyio.fail_after(5):  # not the 30 s asked for
        async with anyio.create_task_group() as tg:
            tg.start_soon(lifecycle.sleep, 30)
            await anyio.sleep(0.05)
            lifecycle.stop()


async def test_sleep_after_the_stop_does_not_wait() -> None:
    lifecycle = Lifecycle()
    lifecycle.stop()
    with anyio.fail_after(5):
        await lifecycle.sleep(30)


async def test_a_child_stops_with_its_parent_and_alone() -> None:
    parent = Lifecycle()
    first, second = parent.child(), parent.child()
    first.stop()
    assert first.stopping.is_set()
    assert not second.stopping.is_set()
    assert not parent.stopping.is_set()
    parent.stop()
    assert second.stopping.is_set()
    assert parent.child().stopping.is_set()  # a child made after the stop starts stopped


async def test_intake_is_cancelled_but_other_work_is_not() -> None:
    lifecycle = Lifecycle()
    finished: list[str] = []

    async def intake() -> None:
        with lifecycle.intake():
            await anyio.sleep(30)
            finished.append("intake")  # never: cancelled at the stop

    async def work() -> None:
        await anyio.sleep(0.2)
        finished.append("work")

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(intake)
            tg.start_soon(work)
            await anyio.sleep(0.05)
            lifecycle.stop()
    assert finished == ["work"]
