"""The one table from `state.backend` to the checkpoint store it opens."""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from botocore.exceptions import ClientError

from poller.aws import Aws, describe, until_stopped
from poller.config.settings import DynamoDbState, SqliteState
from poller.errors import StartupError, is_retriable
from poller.leases.plan import Timing
from poller.leases.table import LeaseTable
from poller.lifecycle import Lifecycle
from poller.state.base import CheckpointStore
from poller.state.dynamodb import DynamoDbLeaseStore, default_worker_id
from poller.state.sqlite import SqliteCheckpointStore
from poller.telemetry.metrics import Metrics

log = structlog.get_logger("poller.state")


@dataclass(frozen=True, slots=True)
class StoreSite:
    """What opening a store needs from the daemon; the store closes with `stack`.

    `ephemeral`: the embedded endpoint's streams are new on every start, so their checkpoints
    must not outlive the process (an old checkpoint would skip a new stream's records).
    """

    aws: Aws
    metrics: Metrics
    lifecycle: Lifecycle
    stack: AsyncExitStack
    base_dir: Path
    ephemeral: bool = False


async def open_sqlite(state: SqliteState, site: StoreSite) -> CheckpointStore:
    """The SQLite file (a relative path is the config file's); a temporary one if ephemeral."""
    path = Path(state.path)
    if site.ephemeral:
        temporary = site.stack.enter_context(tempfile.TemporaryDirectory(prefix="poller-state-"))
        path = Path(temporary) / "state.db"
    elif not path.is_absolute():
        path = site.base_dir / path
    store = await SqliteCheckpointStore.open(path)
    site.stack.push_async_callback(store.close)
    log.info("checkpoints_opened", path=str(path), ephemeral=site.ephemeral)
    return store


async def open_lease_table(state: DynamoDbState, site: StoreSite) -> CheckpointStore:
    """The shared lease table, created if missing; retried while DynamoDB is unreachable.

    StartupError when DynamoDB refuses it for good, or shutdown starts before it is reached.
    """
    timing = Timing(state.failover_seconds)
    # A call waits at most one renew interval for its response, and is tried twice; each
    # lease write is further bounded by the time its lease has left, and the coordinator
    # retries on its own schedule.
    client = await site.stack.enter_async_context(
        site.aws.client(
            "dynamodb",
            max_connections=50,
            read_timeout=max(1.0, timing.renew_interval),
            attempts=2,
        )
    )
    table = LeaseTable(client, state.table)

    def unavailable(exc: BaseException, wait: float) -> None:
        fields = describe(exc)
        site.metrics.source_errors.labels(
            "state", "", "dynamodb", "DescribeTable", fields["error_code"]
        ).inc()
        log.warning("lease_table_unavailable", table=state.table, retry_in=wait, **fields)

    async def ensure() -> bool:
        try:
            return await table.ensure()
        except ClientError as exc:
            if is_retriable(exc):
                raise
            raise StartupError(f"state.table: cannot use lease table {state.table}: {exc}") from exc

    created = await until_stopped(site.lifecycle, ensure, unavailable)
    if created is None:
        raise StartupError(f"state.table: shut down before lease table {state.table} was reached")
    worker = state.worker_id or default_worker_id()
    log.info("lease_table_opened", table=state.table, created=created, worker=worker)
    return DynamoDbLeaseStore(table, worker, timing)


BACKENDS: Mapping[str, Callable[[Any, StoreSite], Awaitable[CheckpointStore]]] = {
    "sqlite": open_sqlite,
    "dynamodb": open_lease_table,
}


async def open_store(state: SqliteState | DynamoDbState, site: StoreSite) -> CheckpointStore:
    """The checkpoint store `state.backend` names."""
    return await BACKENDS[state.backend](state, site)
