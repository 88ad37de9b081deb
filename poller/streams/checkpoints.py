"""A shard's checkpoint writes, taken off its lanes' path.

A lane does not wait for the checkpoint of the batch it just finished before it starts the next
one: the write runs in the background, at most one at a time per shard, and a checkpoint queued
behind a write in flight is replaced by a newer one (newest wins). At-least-once makes a lost
checkpoint a redelivery, never a loss; the bound on that redelivery is kept by `settled`: a lane
that finishes a batch waits until every checkpoint asked for before its *previous* finish has
been written. So a crash redelivers, per lane, at most the one batch it finished last on top of
what it had in flight.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio


class CheckpointWriter:
    """Writes one shard's checkpoints with `save` (which settles them: shielded, bounded, and
    logging its own failures), one at a time, newest first. Run `run()` in a task for the
    shard's life and `close()` it when the lanes are done; `run()` returns once everything
    asked for has been written."""

    def __init__(self, save: Callable[[str], Awaitable[None]]) -> None:
        self._save = save
        self._queued: str | None = None
        self._asked = 0  # tickets: one per checkpoint asked for, in order
        self._settled = 0  # the newest ticket written (or given up on by `save`)
        self.written: str | None = None  # the checkpoint of that ticket
        self._closed = False
        self._changed = anyio.Event()

    def put(self, checkpoint: str) -> int:
        """Ask for `checkpoint` to be written, replacing any still queued; returns its ticket."""
        self._queued = checkpoint
        self._asked += 1
        self._notify()
        return self._asked

    @property
    def asked(self) -> int:
        """The ticket of the newest checkpoint asked for (0: none yet)."""
        return self._asked

    async def settled(self, ticket: int) -> None:
        """Wait until the checkpoint of `ticket`, or a newer one, has been written."""
        while self._settled < ticket:
            await self._changed.wait()

    async def changed(self) -> None:
        """Wait for the next write to settle, or for `poke()`."""
        await self._changed.wait()

    def poke(self) -> None:
        """Wake whoever waits in `changed()` (something else they wait on has changed)."""
        self._notify()

    def close(self) -> None:
        """No more checkpoints: `run()` writes what is queued, then returns."""
        self._closed = True
        self._notify()

    async def run(self) -> None:
        while True:
            if self._queued is None:
                if self._closed:
                    return
                await self._changed.wait()
                continue
            checkpoint, ticket, self._queued = self._queued, self._asked, None
            await self._save(checkpoint)
            self._settled, self.written = ticket, checkpoint
            self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()
