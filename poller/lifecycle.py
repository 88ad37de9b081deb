"""Shutdown coordination: the first phase of shutdown cancels intake, and nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import anyio


class Lifecycle:
    """Tracks the cancel scopes around intake (receives, waits between polls).

    `stop()` cancels every intake scope, current and future; invocations and settlement run
    outside these scopes, so in-flight batches finish (the drain phase).
    """

    def __init__(self) -> None:
        self.stopping = anyio.Event()
        self._scopes: set[anyio.CancelScope] = set()
        self._children: list[Lifecycle] = []

    def stop(self) -> None:
        self.stopping.set()
        for scope in list(self._scopes):
            scope.cancel()
        for child in self._children:
            child.stop()

    def child(self) -> Lifecycle:
        """A lifecycle stopped with this one, or on its own (one mapping, at a reload)."""
        child = Lifecycle()
        self._children.append(child)
        if self.stopping.is_set():
            child.stop()
        return child

    def forget(self, child: Lifecycle) -> None:
        if child in self._children:
            self._children.remove(child)

    async def sleep(self, seconds: float) -> None:
        """Sleep, returning early when stopping starts (a wait between attempts is intake)."""
        with self.intake():
            await anyio.sleep(seconds)

    @contextmanager
    def intake(self) -> Iterator[anyio.CancelScope]:
        with anyio.CancelScope() as scope:
            if self.stopping.is_set():
                scope.cancel()
            self._scopes.add(scope)
            try:
                yield scope
            finally:
                self._scopes.discard(scope)
