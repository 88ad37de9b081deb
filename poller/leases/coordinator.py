"""One stream mapping's shard leases on this replica: balancing them across replicas.

A balancing pass runs every renew interval, and also at the moment the earliest lease seen would
expire (so a dead replica's shards move within the failover time plus one renew interval). It
scans the mapping's leases, creates leases for shards the listing shows and the table lacks,
deletes finished leases of shards gone from the stream, and acquires what `leases.plan` says.
What is acquired is held, renewed, checkpointed and released by `lease_holder.HeldLeases`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import anyio
from anyio.abc import TaskStatus

from poller.aws import describe
from poller.leases.holder import HeldLeases, LeaseScope
from poller.leases.plan import ExpiryClock, Lease, plan
from poller.sources.shards import SHARD_END, ShardInfo, advances, real_checkpoint, startable


class LeaseCoordinator:
    """Leases of one mapping held by worker `me`; see the module docstring.

    `checkpoints` is the mapping's shared view of every shard's checkpoint (by shard id); the
    coordinator advances it from what it reads, so lineage decisions see other replicas' work.
    """

    def __init__(
        self, scope: LeaseScope, starting_position: str, checkpoints: dict[str, str]
    ) -> None:
        self._table = scope.table
        self._mapping = scope.mapping
        self.me = scope.me
        self._timing = scope.timing
        self._rt = scope.runtime
        self._labels = scope.labels
        self._log = scope.log.bind(worker=scope.me)
        self._position = starting_position
        self._checkpoints = checkpoints
        self._clock = ExpiryClock(scope.timing.failover)
        self._holding = HeldLeases(replace(scope, log=self._log))
        self._shards: list[ShardInfo] | None = None
        self._wake = anyio.Event()
        self._balanced_last = anyio.Event()  # the balancing loop has ended (shutdown)
        self._rng = random.Random()  # noqa: S311 - spreading replicas' choices, not secrecy

    # -- what the mapping asks (holding is HeldLeases' job) --------------------------------

    def offer(self, shards: Sequence[ShardInfo]) -> None:
        """The stream's latest shard listing; leases are balanced over it."""
        self._shards = list(shards)
        self._wake.set()

    @property
    def worker(self) -> str:
        return self.me

    @property
    def held(self) -> list[str]:
        return self._holding.shard_ids

    def may_start(self, shard_id: str) -> bool:
        return self._holding.may_start(shard_id)

    def guard(self, shard_id: str) -> anyio.CancelScope:
        return self._holding.guard(shard_id)

    async def checkpoint(self, shard_id: str, checkpoint: str) -> bool:
        return await self._holding.checkpoint(shard_id, checkpoint)

    async def release(self, shard_id: str) -> None:
        await self._holding.release(shard_id)

    async def release_all(self) -> None:
        """Graceful stop: once balancing has ended (a take in flight at the stop still lands
        and is held), release every held lease."""
        with anyio.move_on_after(2 * self._timing.renew_interval):
            await self._balanced_last.wait()
        await self._holding.release_all()

    async def run(
        self,
        on_change: Callable[[], None],
        *,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Balance and renew until cancelled; `on_change` is called whenever the set of shards
        this replica may read changes. Balancing stops at shutdown; renewals go on until the
        mapping releases its leases (`release_all`) or is cancelled."""
        self._holding.on_change = on_change
        self._rt.metrics.register_leases(*self._labels)
        async with anyio.create_task_group() as group:
            self._holding.group = group
            task_status.started()
            group.start_soon(self._balance_loop)

    # -- balancing -------------------------------------------------------------------------

    async def _balance_loop(self) -> None:
        try:
            await self._balance_until_stopped()
        finally:
            self._balanced_last.set()

    async def _balance_until_stopped(self) -> None:
        lifecycle = self._rt.lifecycle
        while not lifecycle.stopping.is_set():
            leases: list[Lease] = []
            with lifecycle.intake():
                while self._shards is None:
                    await self._wake.wait()
                    self._wake = anyio.Event()
                try:
                    leases = await self._balance(self._shards)
                except Exception as exc:
                    self._rt.metrics.source_errors.labels(
                        *self._labels, "LeaseTable", describe(exc)["error_code"]
                    ).inc()
                    self._log.warning("lease_scan_failed", **describe(exc))
                now = time.monotonic()
                due = now + self._timing.renew_interval
                expiry = self._clock.next_expiry(leases, now)
                with anyio.move_on_after(min(due, expiry or due) - now):
                    await self._wake.wait()
                self._wake = anyio.Event()

    async def _balance(self, shards: list[ShardInfo]) -> list[Lease]:
        listed = {shard.shard_id for shard in shards}
        leases = await self._table.scan(self._mapping)
        known = {lease.shard_id for lease in leases}
        missing = [shard for shard in shards if shard.shard_id not in known]
        if missing:
            async with anyio.create_task_group() as group:
                for shard in missing:
                    group.start_soon(self._create, shard, listed)
            leases = await self._table.scan(self._mapping)
        leases = await self._forget_gone(leases, listed)
        now = time.monotonic()
        self._clock.observe(leases, now)
        for lease in leases:
            self._learn(lease)
        live = {
            lease.shard_id
            for lease in leases
            if lease.owner not in (None, self.me)
            and real_checkpoint(lease.checkpoint) != SHARD_END
            and not self._clock.expired(lease, now)
        }
        held = set(self.held)
        workable = startable(shards, self._checkpoints, self._position, active=live | held)
        chosen = plan(leases, self.me, held, set(workable), self._clock, now, self._rng)
        if chosen:  # shielded: a take that lands must be recorded, shutdown or not
            with anyio.CancelScope(shield=True):
                async with anyio.create_task_group() as group:
                    for lease in chosen.take:
                        group.start_soon(self._acquire, lease, False)
                    for lease in chosen.steal:
                        group.start_soon(self._acquire, lease, True)
        return leases

    async def _forget_gone(self, leases: list[Lease], listed: set[str]) -> list[Lease]:
        """Delete unowned SHARD_END leases of shards the stream no longer lists (trimmed past
        its retention; children count such parents as done), so the table does not grow with
        every reshard or DynamoDB shard rollover. Returns the rest.

        Only finished leases: an unlisted lease that is not SHARD_END may be a new shard this
        replica's listing does not show yet.
        """
        if not listed:  # an empty listing proves nothing
            return leases
        kept = []
        for lease in leases:
            gone = (
                lease.owner is None
                and lease.checkpoint == SHARD_END
                and lease.shard_id not in listed
            )
            if gone and await self._table.delete(lease):
                self._log.info("lease_deleted", shard=lease.shard_id)
                continue
            kept.append(lease)
        return kept

    async def _create(self, shard: ShardInfo, listed: set[str]) -> None:
        # The KCL's initial checkpoint: a sentinel naming where reading starts.
        read_parent = any(parent in listed for parent in shard.parents)
        sentinel = "TRIM_HORIZON" if read_parent else self._position
        if await self._table.create(self._mapping, shard.shard_id, shard.parents, sentinel):
            self._log.info("lease_created", shard=shard.shard_id)

    def _learn(self, lease: Lease) -> None:
        checkpoint = real_checkpoint(lease.checkpoint)
        if checkpoint is not None and advances(self._checkpoints.get(lease.shard_id), checkpoint):
            self._checkpoints[lease.shard_id] = checkpoint

    async def _acquire(self, lease: Lease, steal: bool) -> None:
        sent = time.monotonic()
        try:
            with anyio.fail_after(self._timing.renew_interval):
                taken = await self._table.take(lease, self.me)
        except Exception as exc:
            self._log.warning("lease_take_failed", shard=lease.shard_id, **describe(exc))
            return
        if taken is None:  # another replica wrote it first
            self._log.debug("lease_take_raced", shard=lease.shard_id)
            return
        self._learn(taken)
        metric = self._rt.metrics.lease_steals if steal else self._rt.metrics.lease_takes
        metric.labels(*self._labels).inc()
        self._log.info(
            "lease_stolen" if steal else "lease_taken",
            shard=lease.shard_id,
            previous_owner=lease.owner,
            checkpoint=taken.checkpoint,
        )
        self._holding.add(taken, sent, self._timing.steal_grace if steal else 0.0)
