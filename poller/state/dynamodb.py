"""CheckpointStore on the DynamoDB lease table, shared by every replica (state.backend: dynamodb).

Checkpoints live in the leases (see lease_table.py). Reading is open to anyone; a save goes
through the mapping's LeaseCoordinator, so only the replica holding a shard's lease can write
its checkpoint, conditionally on still holding it.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from poller.errors import LeaseLost
from poller.leases.coordinator import LeaseCoordinator
from poller.leases.holder import LeaseScope
from poller.leases.plan import Timing
from poller.leases.table import LeaseTable
from poller.sources.shards import real_checkpoint
from poller.state.base import MappingScope


def default_worker_id() -> str:
    """Host name, process id and a random suffix: unique to this run of this process."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class DynamoDbLeaseStore:
    """Checkpoints and shard leases for every stream mapping of this replica."""

    def __init__(self, table: LeaseTable, worker_id: str, timing: Timing) -> None:
        self.table = table
        self.worker_id = worker_id
        self.timing = timing
        self._coordinators: dict[str, LeaseCoordinator] = {}

    @contextmanager
    def access(self, scope: MappingScope) -> Iterator[LeaseCoordinator]:
        """The shards this replica holds leases on: the mapping's lease coordinator, which
        also routes the mapping's saves while open."""
        mapping = scope.mapping
        leases = LeaseScope(
            self.table, mapping, self.worker_id, self.timing, scope.runtime, scope.labels, scope.log
        )
        coordinator = LeaseCoordinator(leases, scope.starting_position, scope.checkpoints)
        self._coordinators[mapping] = coordinator
        try:
            yield coordinator
        finally:
            if self._coordinators.get(mapping) is coordinator:
                del self._coordinators[mapping]

    async def load(self, mapping: str) -> dict[str, str]:
        out = {}
        for lease in await self.table.scan(mapping):
            checkpoint = real_checkpoint(lease.checkpoint)
            if checkpoint is not None:
                out[lease.shard_id] = checkpoint
        return out

    async def save(self, mapping: str, shard_id: str, checkpoint: str) -> bool:
        """Write through the mapping's coordinator; LeaseLost unless this replica holds the
        shard's lease."""
        coordinator = self._coordinators.get(mapping)
        if coordinator is None:
            raise LeaseLost(shard_id)
        return await coordinator.checkpoint(shard_id, checkpoint)

    async def close(self) -> None:
        """Nothing to release here: the client belongs to the daemon's exit stack."""
