"""How far a shard's lanes may run ahead of its durable checkpoint.

A crash redelivers what was finished past the written checkpoint, so each lane's finish waits
until the records of its previous finish are behind that checkpoint: at most one more batch
per lane comes again (README, "Checkpoints"). With ParallelizationFactor > 1 the checkpoint is
the low-watermark over lanes, so this also keeps a lane within a batch of the slowest one: a
lane whose keys are sparse in the shard covers sequence numbers faster, and without the wait
all it finished past the slowest lane would be redelivered. The wait is waived while a lane of
the shard waits to retry a failing batch (a failing batch blocks only its lane), and a stop
cuts it short.

With a tumbling window records are finished at the window's close, and a lane may need records
not read yet to close it: there a finish waits only for the checkpoint asked for before the
lane's previous finish (the lanes' windows are not coupled).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

from poller.lifecycle import Lifecycle
from poller.model import StreamRecord
from poller.sources.shards import SHARD_END
from poller.streams.checkpoints import CheckpointWriter
from poller.streams.delivery import Finish


class LanePacing:
    """One shard's lanes against its `writer`; `finish` wraps the shard's own finish."""

    def __init__(self, writer: CheckpointWriter, lifecycle: Lifecycle, windowed: bool) -> None:
        self._writer = writer
        self._lifecycle = lifecycle
        self._windowed = windowed
        self._stalled: set[Hashable] = set()  # lanes whose batch waits to be retried

    def finish(self, finish: Finish) -> Finish:
        """A lane's finish: `finish`, then the wait above."""
        previous = 0
        behind: str | None = None  # the last record of the lane's previous finish

        async def paced(records: Sequence[StreamRecord]) -> None:
            nonlocal previous, behind
            await finish(records)
            await self._writer.settled(previous)
            previous = self._writer.asked
            if self._windowed:
                return
            # A stop cuts the wait: a slower lane's batch cut off by it never ends.
            with self._lifecycle.intake():
                while behind is not None and not self._stalled and not self._covers(behind):
                    await self._writer.changed()
            behind = max((r.sequence_number for r in records), key=int, default=behind)

        return paced

    def stall_marker(self, lane: Hashable) -> Callable[[bool], None]:
        """What `lane`'s delivery calls when its batch waits to be retried, and once it ends."""

        def mark(stalled: bool) -> None:
            if stalled and lane not in self._stalled:
                self._stalled.add(lane)
                self._writer.poke()  # release the lanes waiting for the checkpoint
            elif not stalled:
                self._stalled.discard(lane)

        return mark

    def _covers(self, sequence: str) -> bool:
        """Whether the written checkpoint is at or past `sequence`."""
        written = self._writer.written
        return written is not None and (written == SHARD_END or int(written) >= int(sequence))
