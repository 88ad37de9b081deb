"""One shard of a stream mapping: a reader feeding N lanes, each invoking batches in order.

The reader pages through the shard with GetRecords at the source's pace and routes each record to
a lane by key (ParallelizationFactor). A lane cuts batches (size, window, 6 MB), invokes them one
at a time, and retries a failing batch with backoff, blocking itself, so order holds per key. The
shard's checkpoint is the low-watermark over its lanes, saved after every settled batch; once a
closed shard is read to its end and every record is finished, the checkpoint becomes SHARD_END.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio
from botocore.exceptions import ClientError

from poller.aws import describe, retried, until_stopped
from poller.batching import fit, payload_bytes, window_wait
from poller.errors import LeaseLost, error_code
from poller.model import StreamRecord
from poller.runtime import settlement
from poller.sources.shards import SHARD_END, TRIM_HORIZON, Position, ShardInfo, reached_end
from poller.sources.streams import EXPIRED_ITERATOR, TRIMMED_DATA, Page
from poller.streams.checkpoints import CheckpointWriter
from poller.streams.context import StreamContext
from poller.streams.delivery import Delivery
from poller.streams.pacing import LanePacing
from poller.streams.progress import ShardProgress, lane_of
from poller.streams.tumbling import Tumbling
from poller.streams.windows import CLOSE_GRACE, is_over, same_window

# Records a shard may hold between its reader and its lanes (at least two full batches per lane):
# one GetRecords of up to 10,000 records, as Lambda reads, at most 10 MB on Kinesis.
READ_BUFFER = 10_000


@dataclass(eq=False)
class _Lane:
    buffer: deque[StreamRecord] = field(default_factory=deque)
    changed: anyio.Event = field(default_factory=anyio.Event)


class ShardReader:
    """Reads one shard from `position` until its end or shutdown; see the module docstring."""

    def __init__(
        self, ctx: StreamContext, shard: ShardInfo, position: Position, checkpoint: str | None
    ) -> None:
        self.ctx = ctx
        self.shard = shard  # refreshed by the mapping when the listing changes (closed shards)
        self._position = position
        self._last_sequence = checkpoint
        self._progress = ShardProgress(checkpoint)
        self._lanes = [_Lane() for _ in range(ctx.config.parallelization_factor)]
        self._capacity = max(2 * ctx.config.batch_size * len(self._lanes), READ_BUFFER)
        self._room = anyio.Event()
        self._reading = True
        self._labels = (*ctx.labels, shard.shard_id)
        self._polled = ctx.runtime.metrics.polled_events.labels(*ctx.labels)
        self._lag = ctx.runtime.metrics.shard_lag.labels(*self._labels)
        self._log = ctx.log.bind(shard=shard.shard_id)
        self._ended = False
        self._tip_seen_at: float | None = None  # when the reader last saw nothing left to read
        self._writer = CheckpointWriter(self._save)
        self._pacing = LanePacing(
            self._writer, ctx.runtime.lifecycle, bool(ctx.config.tumbling_window_in_seconds)
        )

    @property
    def buffered(self) -> int:
        return sum(len(lane.buffer) for lane in self._lanes)

    async def run(self) -> bool:
        """Process the shard; True once it is finished and SHARD_END is checkpointed."""
        self._log.info("shard_started", position=self._position.kind, after=self._last_sequence)
        async with anyio.create_task_group() as writing:
            writing.start_soon(self._writer.run)
            try:
                async with anyio.create_task_group() as lanes:
                    for lane in self._lanes:
                        lanes.start_soon(self._lane_loop, lane)
                    try:
                        self._ended = await self._read_loop()
                    finally:
                        self._reading = False
                        for lane in self._lanes:
                            lane.changed.set()
            finally:
                self._writer.close()  # what is queued is written before the group exits
        if self._ended and self._progress.idle:
            await self._save(SHARD_END)
            self._log.info("shard_finished")
            return True
        # Records read but not yet checkpointed: read again after a restart.
        self._log.info(
            "shard_stopped",
            checkpoint=self._progress.watermark,
            outstanding=self._progress.outstanding,
        )
        return False

    # -- reading ---------------------------------------------------------------------------

    async def _read_loop(self) -> bool:
        pace = self.ctx.source.pace
        iterator = await self._acquire(self._position)
        next_call = 0.0  # pace: min_interval after a page with records, idle_interval after none
        while iterator is not None:
            # One intake scope per read, the wait before it included: shutdown cuts either.
            with self.ctx.runtime.lifecycle.intake() as scope:
                while self.buffered >= self._capacity:
                    self._room = anyio.Event()
                    await self._room.wait()
                await anyio.sleep(max(0.0, next_call - time.monotonic()))
                limit = max(1, min(pace.max_records, self._capacity - self.buffered))
                page = await self._read(iterator, limit)
            if scope.cancel_called:
                return False
            next_call = time.monotonic() + pace.min_interval
            if page is None:  # the iterator expired or points at trimmed data: acquire again
                iterator = await self._acquire(self._resume_position())
                continue
            filtered = self._accept(page)
            if filtered:  # never invoked: the checkpoint moves past them
                await self._finish(filtered)
            if reached_end(
                self.shard,
                page.next_iterator,
                bool(page.records),
                self._last_sequence,
                page.millis_behind_latest,
            ):
                return True
            iterator = page.next_iterator
            if not page.records:
                next_call += pace.idle_interval - pace.min_interval
        return False

    def _resume_position(self) -> Position:
        if self._last_sequence is not None:
            return Position("AFTER_SEQUENCE_NUMBER", sequence=self._last_sequence)
        return self._position

    async def _acquire(self, position: Position) -> str | None:
        """A shard iterator at `position`; None when shutdown interrupts the retries.

        A position that fell out of the stream's retention (DynamoDB says so here with
        TrimmedDataAccessException) restarts at TRIM_HORIZON, with a warning.
        """

        async def acquire() -> str:
            nonlocal position
            try:
                return await self.ctx.source.iterator(self.shard.shard_id, position)
            except ClientError as exc:
                if error_code(exc) != TRIMMED_DATA or position == TRIM_HORIZON:
                    raise
                self._log.warning("iterator_trimmed", **describe(exc))
                position = self._position = TRIM_HORIZON
                self._last_sequence = None
                return await self.ctx.source.iterator(self.shard.shard_id, position)

        return await until_stopped(
            self.ctx.runtime.lifecycle,
            acquire,
            self.ctx.on_source_error("GetShardIterator"),
            retry_all=True,
        )

    async def _read(self, iterator: str, limit: int) -> Page | None:
        async def read() -> Page | None:
            try:
                return await self.ctx.source.read(self.shard.shard_id, iterator, limit)
            except ClientError as exc:
                code = error_code(exc)
                if code == EXPIRED_ITERATOR:
                    self._log.info("iterator_expired")
                    return None
                if code == TRIMMED_DATA:
                    self._log.warning("iterator_trimmed", **describe(exc))
                    self._position, self._last_sequence = TRIM_HORIZON, None
                    return None
                raise

        return await retried(read, self.ctx.on_source_error("GetRecords"), retry_all=True)

    def _accept(self, page: Page) -> list[StreamRecord]:
        """Route a page's records to their lanes; returns those FilterCriteria filtered out."""
        m = self.ctx.runtime.metrics
        self._polled.inc(len(page.records))
        if page.millis_behind_latest is not None:
            lag = page.millis_behind_latest / 1000
        elif page.records:
            lag = max(0.0, time.time() - page.records[-1].arrival)
        else:
            lag = 0.0
        self._lag.set(lag)
        if not page.records or page.millis_behind_latest == 0:
            self._tip_seen_at = time.time()
        if not page.records:
            return []
        self.ctx.runtime.readiness.set(self.ctx.name, True)
        self._progress.read(r.sequence_number for r in page.records)
        self._last_sequence = page.records[-1].sequence_number
        filtered = self._route(page.records)
        if filtered:
            m.filtered_out_events.labels(*self.ctx.labels).inc(len(filtered))
        return filtered

    def _route(self, records: list[StreamRecord]) -> list[StreamRecord]:
        """Each record to its lane's buffer (FilterCriteria's rejects returned instead); each
        lane is woken once per page, not once per record."""
        lanes, keep = len(self._lanes), self.ctx.keep
        filtered = []
        if keep is None and lanes == 1:  # the common case: the whole page to the one lane
            self._lanes[0].buffer.extend(records)
        else:
            for record in records:
                if keep is None or keep(record.record):
                    self._lanes[lane_of(record.key, lanes)].buffer.append(record)
                else:
                    filtered.append(record)
        for lane in self._lanes:
            if lane.buffer:
                lane.changed.set()
        return filtered

    # -- lanes -----------------------------------------------------------------------------

    async def _lane_loop(self, lane: _Lane) -> None:
        shard_id, size = self.shard.shard_id, self.ctx.config.tumbling_window_in_seconds
        finish = self._pacing.finish(self._finish)
        tumbling = Tumbling(size, self.ctx, shard_id, finish, self._log) if size else None
        delivery = tumbling or Delivery(
            self.ctx, shard_id, finish, self._log, stalled=self._pacing.stall_marker(lane)
        )
        while True:
            head = await self._gather(lane, tumbling)
            if head is None:
                return
            if not head:  # the open window is over: close it
                assert tumbling is not None
                if not await tumbling.close():
                    return
                continue
            take = fit([], [r.size for r in head], self.ctx.gather)
            if tumbling is not None:
                take = min(take, same_window(head, size))
            records = [lane.buffer.popleft() for _ in range(take)]
            self._room.set()
            if not await delivery.deliver(records):
                return

    async def _gather(self, lane: _Lane, tumbling: Tumbling | None) -> list[StreamRecord] | None:
        """Wait until the lane should invoke: the records at its head (size, window, 6 MB), an
        empty list when its tumbling window is over, None when the lane is done."""
        policy = self.ctx.gather
        started = time.monotonic()  # the batch window opens when the previous invoke completed
        while True:
            head = list(itertools.islice(lane.buffer, policy.batch_size))
            if not head and not self._reading:
                if tumbling is not None and tumbling.open and self._ended:
                    return []  # a window closes at shard end (children start fresh windows)
                return None
            over = (
                tumbling is not None
                and tumbling.open
                and is_over(tumbling.window, self._tip_seen_at)
            )
            if over and not head:
                return []
            sizes = [r.size for r in head]
            wait = window_wait(policy, len(head), payload_bytes(sizes), time.monotonic() - started)
            if not self._reading:
                wait = 0.0  # nothing more is coming: don't hold a short batch back
            if wait <= 0 and head:
                return head
            if tumbling is not None and tumbling.open:
                wait = min(wait, CLOSE_GRACE)  # look again whether the window is over
            lane.changed = anyio.Event()
            with self.ctx.runtime.lifecycle.intake() as scope:
                with anyio.move_on_after(wait):
                    await lane.changed.wait()
            if scope.cancel_called:
                return None

    async def _finish(self, records: Sequence[StreamRecord]) -> None:
        """Records have ended: the checkpoint moves past them when the watermark does, written
        in the background (checkpoints.py)."""
        watermark = self._progress.finish(r.sequence_number for r in records)
        if watermark is not None:
            self._writer.put(watermark)

    async def _save(self, checkpoint: str) -> None:
        # A checkpoint is settlement: shielded from shutdown, but bounded.
        with settlement() as scope:
            try:
                await self.ctx.save_checkpoint(self.shard.shard_id, checkpoint)
            except LeaseLost:  # another replica owns the shard now and resumes from its lease
                self._log.info("checkpoint_refused", checkpoint=checkpoint, reason="lease_lost")
            except Exception as exc:
                self._log.error("checkpoint_failed", checkpoint=checkpoint, **describe(exc))
        if scope.cancelled_caught:
            self._log.error("checkpoint_timed_out", checkpoint=checkpoint)
