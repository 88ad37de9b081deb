"""The CheckpointStore protocol: where stream checkpoints live, and which shards a replica reads."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
from anyio.abc import TaskStatus

from poller.runtime import Runtime
from poller.sources.shards import ShardInfo


@dataclass(frozen=True, slots=True)
class MappingScope:
    """A running stream mapping, as its store sees it.

    `checkpoints` is the mapping's shared view of every shard's checkpoint; a shared store keeps
    it current with what other replicas save.
    """

    mapping: str  # the mapping's UUID
    runtime: Runtime
    labels: tuple[str, str, str]
    log: Any
    starting_position: str
    checkpoints: dict[str, str]


class ShardAccess(Protocol):
    """Which of a stream mapping's shards this process may read, and for how long.

    One process alone (SQLite) reads every shard; replicas sharing a lease table read the
    shards whose leases they hold, and stop reading one the moment its lease is lost.
    """

    @property
    def worker(self) -> str | None:
        """This replica's name in the lease table (None: no replicas)."""
        ...

    async def run(self, on_change: Callable[[], None], *, task_status: TaskStatus[None]) -> None:
        """Keep access up to date until cancelled; `on_change()` when the readable set changes."""
        ...

    def offer(self, shards: Sequence[ShardInfo]) -> None:
        """The stream's latest shard listing."""
        ...

    def may_start(self, shard_id: str) -> bool: ...

    def guard(self, shard_id: str) -> AbstractContextManager[Any]:
        """Around a shard's reader: cancels it when access to the shard is lost."""
        ...

    async def release(self, shard_id: str) -> None:
        """The shard is finished (SHARD_END saved): nothing of it is left to own."""
        ...

    async def release_all(self) -> None:
        """Graceful stop, once every reader has checkpointed: hand every shard over."""
        ...


class AllShards:
    """ShardAccess of a single process: every shard, always."""

    worker = None

    async def run(
        self,
        on_change: Callable[[], None],
        *,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        task_status.started()

    def offer(self, shards: Sequence[ShardInfo]) -> None:
        pass

    def may_start(self, shard_id: str) -> bool:
        return True

    def guard(self, shard_id: str) -> AbstractContextManager[Any]:
        return nullcontext()

    async def release(self, shard_id: str) -> None:
        pass

    async def release_all(self) -> None:
        pass


class CheckpointStore(Protocol):
    """Where a stream mapping records, per shard, the last sequence number it fully processed.

    A mapping is identified by its UUID string. A checkpoint is a sequence number as a decimal
    string, or SHARD_END. A returned save is durable: it survives a crash or restart.
    """

    async def load(self, mapping: str) -> dict[str, str]:
        """Every shard's checkpoint for `mapping`, by shard id; empty when none was saved."""
        ...

    async def save(self, mapping: str, shard_id: str, checkpoint: str) -> bool:
        """Store `checkpoint` unless it would move backwards (see `advances`).

        Returns False and stores nothing when the stored value is SHARD_END or a greater
        sequence number; otherwise stores it and returns True. ValueError when malformed.
        """
        ...

    def access(self, scope: MappingScope) -> AbstractContextManager[ShardAccess]:
        """The shards of the mapping this process may read, while the mapping runs."""
        ...

    async def close(self) -> None:
        """Release the store; idempotent. No other call may follow."""
        ...
