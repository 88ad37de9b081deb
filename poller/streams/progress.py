"""Pure bookkeeping for one shard: lanes, and the checkpoint as a low-watermark over them.

With ParallelizationFactor N a shard's records go to N lanes by key, so order holds per key while
lanes finish out of order. The shard's checkpoint may only name a sequence number when it and
every record read before it are finished; `ShardProgress` tracks exactly that.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable


def lane_of(key: str, lanes: int) -> int:
    """The lane (0..lanes-1) of a routing key: stable across restarts and processes."""
    if lanes == 1:
        return 0
    digest = hashlib.md5(key.encode("utf-8"), usedforsecurity=False).digest()
    return int.from_bytes(digest[:8], "big") % lanes


class ShardProgress:
    """Which records of a shard are read, which are finished, and the safe checkpoint.

    `read` must be called in shard order (ascending sequence numbers); `finish` in any order.
    `watermark` is the highest sequence number such that it and every record read before it
    are finished, or None while the first record read is unfinished.
    """

    def __init__(self, watermark: str | None = None) -> None:
        self.watermark = watermark
        self._pending: deque[tuple[int, str]] = deque()
        self._finished: set[int] = set()

    def read(self, sequence_numbers: Iterable[str]) -> None:
        for number in sequence_numbers:
            self._pending.append((int(number), number))

    def finish(self, sequence_numbers: Iterable[str]) -> str | None:
        """Mark records finished; returns the new watermark when it advanced, else None."""
        self._finished.update(int(number) for number in sequence_numbers)
        advanced = None
        while self._pending and self._pending[0][0] in self._finished:
            value, number = self._pending.popleft()
            self._finished.discard(value)
            advanced = number
        if advanced is not None:
            self.watermark = advanced
        return advanced

    @property
    def outstanding(self) -> int:
        """Records read and not yet behind the watermark."""
        return len(self._pending)

    @property
    def idle(self) -> bool:
        return not self._pending
