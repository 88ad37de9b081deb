"""One lane's tumbling window: which window is open, its state, and the records it holds.

Records a window's invocations handled are held, not checkpointed, until the window's final
invocation succeeds: the state lives in memory only, so after a crash the window is rebuilt by
reading its records again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from poller.model import StreamRecord
from poller.streams.context import StreamContext
from poller.streams.delivery import Delivery, Finish
from poller.streams.windows import Window, too_large, window_event, window_of


class Tumbling:
    """A lane's windows, one after another; delivers through its own `Delivery`, to which it
    is the `WindowHooks`."""

    def __init__(
        self, size: int, ctx: StreamContext, shard_id: str, finish: Finish, log: Any
    ) -> None:
        self.size = size
        self.window = Window(0.0, 0.0)
        self.state: dict[str, Any] = {}
        self.open = False
        self._held: list[StreamRecord] = []
        self._shard = shard_id
        self._stream_arn = ctx.source.stream_arn
        self._finish = finish
        self._delivery = Delivery(ctx, shard_id, finish, log, window=self)

    def event(self, records: Sequence[StreamRecord], final: bool, early: bool) -> dict[str, Any]:
        return window_event(
            records, self.window, self.state, self._shard, self._stream_arn, final, early
        )

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
