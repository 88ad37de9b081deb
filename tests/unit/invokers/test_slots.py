"""invokers.slots.Slots: at most N holders, waiters in order, a cancelled waiter takes nothing."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from poller.invokers.slots import Slots

pytestmark = pytest.mark.anyio


async def test_at_most_size_hold_at_once() -> None:
    slots, held, most = Slots(2), 0, 0

    async def hold() -> None:
        nonlocal held, most
        async with slots:
            held += 1
            most = max(most, held)
            await anyio.sleep(0.01)
            held -= 1

    async with anyio.create_task_group() as tg:
        for _ in range(6):
            tg.start_soon(hold)
    assert (most, slots.free) == (2, 2)


async def test_waiters_get_slots_in_order() -> None:
    slots, order = Slots(1), []

    async def take(n: int) -> None:
        async with slots:
            order.append(n)
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg, slots:
        for n in range(4):
            tg.start_soon(take, n)
            await anyio.lowlevel.checkpoint()  # each starts waiting before the next
        # released: they run, one at a time, in the order they came
    assert order == [0, 1, 2, 3]


async def test_a_cancelled_waiter_takes_no_slot() -> None:
    slots = Slots(1)
    async with slots:
        with anyio.move_on_after(0.01) as scope:
            async with slots:
                pytest.fail("entered a held slot")
        assert scope.cancelled_caught
    assert slots.free == 1


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Slots(0)
