"""state.backends and ShardAccess: the one table from `state.backend` to its store, and which
shards a store lets a stream mapping read."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import pytest
import structlog

from poller.aws import Aws
from poller.config.settings import AwsConfig, SqliteState
from poller.lifecycle import Lifecycle
from poller.runtime import Runtime
from poller.sources.shards import ShardInfo
from poller.state.backends import BACKENDS, StoreSite, open_store
from poller.state.base import AllShards, MappingScope
from poller.state.sqlite import SqliteCheckpointStore
from poller.telemetry.http import Readiness
from poller.telemetry.metrics import Metrics

pytestmark = pytest.mark.anyio
MAPPING = "6f1c1a3e-1d7e-4b8e-9d5a-2f0c6f4b7a10"


def _site(stack: AsyncExitStack, base_dir: Path, ephemeral: bool = False) -> StoreSite:
    metrics = Metrics()
    return StoreSite(
        Aws(AwsConfig(), metrics), metrics, Lifecycle(), stack, base_dir, ephemeral=ephemeral
    )


def test_every_backend_the_config_accepts_has_a_store() -> None:
    backends = {"sqlite", "dynamodb"}  # the Literal values of SqliteState / DynamoDbState
    assert set(BACKENDS) == backends


async def test_sqlite_path_is_relative_to_the_config_file(tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        store = await open_store(SqliteState(path="state/db.sqlite"), _site(stack, tmp_path))
        assert isinstance(store, SqliteCheckpointStore)
        assert await store.save(MAPPING, "shardId-0", "12")
    assert (tmp_path / "state" / "db.sqlite").exists()
    reopened = await SqliteCheckpointStore.open(tmp_path / "state" / "db.sqlite")
    try:
        assert await reopened.load(MAPPING) == {"shardId-0": "12"}
    finally:
        await reopened.close()


async def test_ephemeral_sqlite_lives_in_a_directory_removed_at_exit(tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        store = await open_store(SqliteState(path="kept.db"), _site(stack, tmp_path, True))
        assert await store.save(MAPPING, "shardId-0", "12")
        assert not (tmp_path / "kept.db").exists()
        assert isinstance(store, SqliteCheckpointStore)
        temporary = [p for p in store.path.parents if p.name.startswith("poller-state-")]
        assert temporary
        assert temporary[0].exists()
    assert not temporary[0].exists()


async def test_a_single_process_store_reads_every_shard(tmp_path: Path) -> None:
    store = await SqliteCheckpointStore.open(tmp_path / "db")
    metrics = Metrics()
    runtime = Runtime(Aws(AwsConfig(), metrics), metrics, Readiness(), Lifecycle())
    log: Any = structlog.get_logger("test")
    try:
        scope = MappingScope(MAPPING, runtime, ("m", "f", "kinesis"), log, "LATEST", {})
        with store.access(scope) as access:
            assert isinstance(access, AllShards)
            assert access.worker is None
            changed: list[int] = []
            with anyio.fail_after(1):
                async with anyio.create_task_group() as tg:
                    await tg.start(access.run, lambda: changed.append(1))
            access.offer([ShardInfo("shardId-0"), ShardInfo("shardId-1")])
            assert access.may_start("shardId-0")
            assert access.may_start("shardId-never-listed")
            with access.guard("shardId-0"):
                pass
            await access.release("shardId-0")
            await access.release_all()
            assert changed == []  # nothing ever changes what a single process may read
    finally:
        await store.close()
