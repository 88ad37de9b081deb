"""poller_asyncio_tasks counts the tasks on the event loop that collects the registry."""

from __future__ import annotations

import anyio
import pytest

from poller.telemetry.metrics import Metrics


@pytest.mark.anyio
async def test_the_gauge_follows_the_tasks_on_the_loop() -> None:
    metrics = Metrics()
    before = metrics.value("poller_asyncio_tasks")
    assert before >= 1  # this test's own task
    release = anyio.Event()
    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(release.wait)
        assert metrics.value("poller_asyncio_tasks") == before + 3
        release.set()
    assert metrics.value("poller_asyncio_tasks") == before


def test_outside_an_event_loop_it_reads_zero() -> None:
    assert Metrics().value("poller_asyncio_tasks") == 0
