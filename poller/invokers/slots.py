"""Concurrency slots: at most N holders at once, the rest waiting their turn.

Taken once or twice per invocation, so cheap: built on asyncio.Semaphore, which takes a free
slot without yielding (anyio's CapacityLimiter looks the task up and checkpoints twice per
use, ~15 % of a no-op SQS batch's CPU). poller runs on asyncio only (aioboto3), and an anyio
cancel scope cancels a waiter like any other asyncio await.
"""

from __future__ import annotations

import asyncio


class Slots:
    """`async with slots:` holds one of `size` slots for the block; waiters queue FIFO."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"slots: size must be at least 1, not {size}")
        self.size = size
        self._semaphore = asyncio.Semaphore(size)

    @property
    def free(self) -> int:
        """Slots not held right now."""
        return self._semaphore._value

    async def __aenter__(self) -> None:
        await self._semaphore.acquire()

    async def __aexit__(self, *_: object) -> None:
        self._semaphore.release()
