"""The shard leases one mapping holds on this replica: renewing, writing, releasing, losing them.

Each held lease has its own renewer, writing about every renew interval (a checkpoint renews too).
Every write is conditional on the counter last written, serialized per lease, and bounded by the
time the lease has left (`Timing.hold` after the last successful write was sent). A lease is lost
when a write finds another owner or counter, or when that time runs out: the shard's reader is
cancelled at once and later checkpoints raise LeaseLost.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import TaskGroup

from poller.aws import describe
from poller.errors import LeaseLost
from poller.leases.plan import Lease, Timing
from poller.leases.table import LeaseTable
from poller.runtime import Runtime
from poller.sources.shards import advances, real_checkpoint


@dataclass(frozen=True)
class LeaseScope:
    """Whose leases of which mapping, where: what the coordinator and its holder share."""

    table: LeaseTable
    mapping: str  # the mapping's UUID: the prefix of its lease keys
    me: str  # this replica's worker id, written as leaseOwner
    timing: Timing
    runtime: Runtime
    labels: tuple[str, str, str]  # mapping, function, source
    log: Any


@dataclass(eq=False)
class _Held:
    lease: Lease  # as this replica last wrote it
    sent: float  # monotonic time the last successful write was sent
    start_after: float = 0.0  # a stolen lease waits for its previous owner to stop
    lock: anyio.Lock = field(default_factory=anyio.Lock)
    renewer: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    reader: anyio.CancelScope | None = None


class HeldLeases:
    """The leases worker `me` holds for one mapping; see the module docstring.

    `group` (set before the first `add`) runs the renewers; `on_change` is called whenever a
    lease is added, lost or released, or a stolen lease becomes readable.
    """

    def __init__(self, scope: LeaseScope) -> None:
        self._table = scope.table
        self._mapping = scope.mapping
        self._me = scope.me
        self._timing = scope.timing
        self._metrics = scope.runtime.metrics
        self._labels = scope.labels
        self._log = scope.log
        self._held: dict[str, _Held] = {}
        self.group: TaskGroup | None = None
        self.on_change: Callable[[], None] = lambda: None

    @property
    def shard_ids(self) -> list[str]:
        return sorted(self._held)

    def add(self, lease: Lease, sent: float, grace: float) -> None:
        """Hold `lease`, just taken by a write sent at `sent`; readable after `grace` seconds."""
        held = _Held(lease, sent, start_after=sent + grace)
        self._held[lease.shard_id] = held
        self._owned()
        assert self.group is not None
        self.group.start_soon(self._renew_loop, held)
        if grace:
            self.group.start_soon(self._change_after, grace)
        else:
            self.on_change()

    def may_start(self, shard_id: str) -> bool:
        """Whether this replica may read `shard_id` now: the lease is held and, if stolen, its
        previous owner has certainly stopped (`Timing.steal_grace`)."""
        held = self._held.get(shard_id)
        return held is not None and time.monotonic() >= held.start_after

    def guard(self, shard_id: str) -> anyio.CancelScope:
        """The cancel scope to read `shard_id` in: cancelled when its lease is lost."""
        scope = anyio.CancelScope()
        held = self._held.get(shard_id)
        if held is None:
            scope.cancel()
        else:
            held.reader = scope
        return scope

    async def checkpoint(self, shard_id: str, checkpoint: str) -> bool:
        """Write a checkpoint to a held lease; False if it would move backwards.

        LeaseLost when the lease is not held (any more); the write's own error when the table
        fails (the lease is kept until `Timing.hold` runs out).
        """
        held = self._held.get(shard_id)
        if held is None:
            raise LeaseLost(shard_id)
        if not advances(real_checkpoint(held.lease.checkpoint), checkpoint):
            return False

        async def write(lease: Lease) -> Lease | None:
            return await self._table.checkpoint(lease, checkpoint)

        await self._write(held, write, lambda now: now.checkpoint == checkpoint)
        return True

    async def release(self, shard_id: str) -> None:
        """Give up one lease (its shard is finished, or the mapping stops). Bounded, shielded."""
        held = self._held.get(shard_id)
        if held is None:
            return
        # Best effort and quick: an unreleased lease only makes others wait for its expiry.
        with anyio.CancelScope(shield=True), anyio.move_on_after(self._timing.renew_interval):
            async with held.lock:
                if self._held.get(shard_id) is not held:
                    return
                try:
                    released = await self._table.release(held.lease)
                except Exception as exc:
                    self._log.warning("lease_release_failed", shard=shard_id, **describe(exc))
                else:
                    self._log.info("lease_released", shard=shard_id, taken_since=released is None)
        self._drop(shard_id)

    async def release_all(self) -> None:
        """Graceful shutdown: release every held lease (after the readers checkpointed)."""
        async with anyio.create_task_group() as group:
            for shard_id in list(self._held):
                group.start_soon(self.release, shard_id)

    async def _change_after(self, delay: float) -> None:
        await anyio.sleep(delay)
        self.on_change()

    async def _renew_loop(self, held: _Held) -> None:
        interval = self._timing.renew_interval
        with held.renewer:
            while True:
                await anyio.sleep(max(0.0, held.sent + interval - time.monotonic()))
                try:
                    await self._write(held, self._table.renew, lambda _: True)
                except LeaseLost:
                    return
                except Exception as exc:
                    self._metrics.lease_renewal_failures.labels(*self._labels).inc()
                    self._log.warning(
                        "lease_renewal_failed", shard=held.lease.shard_id, **describe(exc)
                    )
                    left = held.sent + self._timing.hold - time.monotonic()
                    await anyio.sleep(max(0.0, min(interval / 4, left)))

    async def _write(
        self,
        held: _Held,
        write: Callable[[Lease], Awaitable[Lease | None]],
        landed: Callable[[Lease], bool],
    ) -> None:
        """One conditional write to a held lease, bounded by the time the lease has left.

        A failed condition is checked against the table. When the item is ours, one write
        ahead of what we know, an earlier write of ours landed and only its response was lost:
        if that write was this one (`landed` says so of the item) it counts as done, otherwise
        the item is adopted and this write made once more. Anything else means another replica
        wrote: LeaseLost, as when the hold time runs out. Other errors are raised as they are.
        """
        shard_id = held.lease.shard_id
        async with held.lock:
            if self._held.get(shard_id) is not held:
                raise LeaseLost(shard_id)
            sent = time.monotonic()
            left = held.sent + self._timing.hold - sent
            with anyio.move_on_after(left):
                if left > 0:
                    written = await write(held.lease)
                    if written is None:
                        current = await self._ours(held.lease)
                        if current is not None and landed(current):
                            written = current
                        elif current is not None:
                            held.lease = current
                            written = await write(current)
                    if written is None:
                        self._lose(held, "taken")
                        raise LeaseLost(shard_id)
                    held.lease, held.sent = written, sent
                    return
            self._lose(held, "expired")
            raise LeaseLost(shard_id)

    async def _ours(self, mine: Lease) -> Lease | None:
        """The lease as stored if it is still ours, one write past `mine`; else None."""
        now = await self._table.get(self._mapping, mine.shard_id)
        if now is not None and now.owner == self._me and now.counter == mine.counter + 1:
            return now
        return None

    def _lose(self, held: _Held, reason: str) -> None:
        shard_id = held.lease.shard_id
        self._drop(shard_id)
        self._metrics.lease_losses.labels(*self._labels).inc()
        self._log.warning("lease_lost", shard=shard_id, reason=reason)

    def _drop(self, shard_id: str) -> None:
        held = self._held.pop(shard_id, None)
        if held is None:
            return
        held.renewer.cancel()
        if held.reader is not None:
            held.reader.cancel()
        self._owned()
        self.on_change()

    def _owned(self) -> None:
        self._metrics.leases_owned.labels(*self._labels).set(len(self._held))
