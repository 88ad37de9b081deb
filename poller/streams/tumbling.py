"""One lane's tumbling window: which window is open, its state, and the records it holds.

Records a window's invocations handled are held, not checkpointed, until the window's final
invocation succeeds: the state lives in memory only, so after a crash the window is rebuilt by
reading its records again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from poller.model import StreamRecord
from poller.streams.windows import Window, too_large, window_of

if TYPE_CHECKING:
    from poller.streams.delivery import Delivery


class Tumbling:
    def __init__(
        self,
        size: int,
        delivery: Delivery,
        finish: Callable[[Sequence[StreamRecord]], Awaitable[None]],
    ) -> None:
        self.size = size
        self.window = Window(0.0, 0.0)
        self.state: dict[str, Any] = {}
        self.open = False
        self._held: list[StreamRecord] = []
        self._delivery = delivery
        self._finish = finish
        delivery.tumbling = self

    def hold(self, records: Sequence[StreamRecord], state: dict[str, Any]) -> None:
        self._held.extend(records)
        self.state = state

    async def deliver(self, records: Sequence[StreamRecord]) -> bool:
        """Invoke records of one window, closing the previous window first if it differs."""
        window = window_of(records[0].arrival, self.size)
        if self.open and window != self.window and not await self.close():
            return False
        if not self.open:
            self.window, self.state, self.open = window, {}, True
        if not await self._delivery.deliver(records):
            return False
        if too_large(self.state):
            return await self.close(early=True)
        return True

    async def close(self, early: bool = False) -> bool:
        """The final invocation, then checkpoint what the window held and drop its state."""
        if not self.open:
            return True
        if not await self._delivery.final(early):
            return False
        held, self._held = self._held, []
        await self._finish(held)
        # Terminated early, the window goes on with a fresh state for its later records.
        self.state, self.open = {}, early
        return True
