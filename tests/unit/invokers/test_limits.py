"""invokers.limits: over a concurrency limit an invocation is throttled, never queued."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from poller.errors import Throttled
from poller.invokers.limits import ConcurrencyGate
from poller.model import InvokeResult

pytestmark = pytest.mark.anyio


class Slow:
    function_name = "fn"

    def __init__(self) -> None:
        self.release = anyio.Event()
        self.running = 0

    async def invoke(self, event: dict[str, Any], request_id: str) -> InvokeResult:
        self.running += 1
        await self.release.wait()
        self.running -= 1
        return InvokeResult(request_id, 0.0)


async def _attempts(invoker: Any, slow: Slow, count: int) -> tuple[int, int]:
    """Start `count` invocations at once; returns (completed, throttled)."""
    done = throttled = 0

    async def one(i: int) -> None:
        nonlocal done, throttled
        try:
            await invoker.invoke({}, str(i))
            done += 1
        except Throttled:
            throttled += 1

    async with anyio.create_task_group() as tg:
        for i in range(count):
            tg.start_soon(one, i)
        await anyio.sleep(0.05)
        slow.release.set()
    return done, throttled


@pytest.mark.parametrize(
    ("total", "reserved", "calls", "expected"),
    [
        pytest.param(10, None, 3, (3, 0), id="under-both"),
        pytest.param(2, None, 5, (2, 3), id="total-full"),
        pytest.param(10, 1, 4, (1, 3), id="reserved-full"),
        pytest.param(10, 0, 2, (0, 2), id="reserved-zero-throttles-all"),
        pytest.param(2, 5, 4, (2, 2), id="total-below-reserved"),
    ],
)
async def test_limits(
    total: int, reserved: int | None, calls: int, expected: tuple[int, int]
) -> None:
    gate = ConcurrencyGate(total)
    slow = Slow()
    assert await _attempts(gate.limit(slow, reserved), slow, calls) == expected


async def test_the_total_is_shared_between_functions_and_released_after_use() -> None:
    gate = ConcurrencyGate(1)
    slow_a, slow_b = Slow(), Slow()
    first, second = gate.limit(slow_a, None), gate.limit(slow_b, None)
    async with anyio.create_task_group() as tg:
        tg.start_soon(first.invoke, {}, "a")
        await anyio.sleep(0.01)
        with pytest.raises(Throttled):
            await second.invoke({}, "b")
        slow_a.release.set()
    slow_b.release.set()
    assert (await second.invoke({}, "c")).request_id == "c"
