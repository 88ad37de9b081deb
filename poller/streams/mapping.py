"""One Kinesis or DynamoDB Streams event source mapping: shard discovery and one reader per shard.

The mapping lists the stream's shards (at start, every `shard_refresh_seconds`, and whenever a
shard finishes), starts a reader for each shard whose parents are finished, and tells running
readers when their shard closes. Checkpoints come from the CheckpointStore, keyed by the mapping's
UUID, so a restart resumes right after the last settled batch of every shard.

The store also says which shards this process may read (`CheckpointStore.access`): every shard
with SQLite; with the DynamoDB lease table, replicas share the shards: a reader starts only for a
shard whose lease this replica holds, is cancelled when the lease is lost, and at shutdown the
leases are released once every reader has checkpointed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack

import anyio
from anyio.abc import TaskGroup

from poller.arns import Arn
from poller.aws import until_stopped
from poller.config.models import StreamMappingConfig
from poller.config.settings import FunctionConfig
from poller.destinations import open_destination
from poller.errors import checking_source
from poller.filtering.records import record_filter
from poller.invokers import Invoker
from poller.runtime import Runtime, source_error_recorder
from poller.sources.kinds import STREAM_SOURCES, SourceOpener
from poller.sources.shards import ShardInfo, start_position, startable
from poller.sources.streams import ShardSource
from poller.state.base import CheckpointStore, MappingScope, ShardAccess
from poller.streams.context import StreamContext, bound_log
from poller.streams.reader import ShardReader


class StreamMapping:
    """Delivers a stream's records to one function, in order per key, at least once."""

    def __init__(
        self,
        config: StreamMappingConfig,
        path: str,
        function: FunctionConfig,
        invoker: Invoker,
        runtime: Runtime,
        store: CheckpointStore,
        sources: Mapping[str, SourceOpener] = STREAM_SOURCES,
    ) -> None:
        """`sources` maps each source kind to its reader (tests pass their own)."""
        self.config = config
        self.name = config.display_name
        self._path = path
        self._function = function
        self._invoker = invoker
        self._rt = runtime
        self._store = store
        self._sources = sources
        self._arn = Arn.parse(config.event_source_arn)
        self._log = bound_log(self.name, config.function)
        self._readers: dict[str, ShardReader] = {}
        self._labels = (self.name, config.function, self._arn.service)
        self._changed = anyio.Event()

    @property
    def identity_arn(self) -> str:
        """invokeIdentityArn: the function's role, else one named after the function."""
        if self._function.role:
            return self._function.role
        return f"arn:{self._arn.partition}:iam::{self._arn.account}:role/{self.config.function}"

    @property
    def _position(self) -> str:
        """StartingPosition (validation requires it; LATEST stands in only for typing)."""
        return self.config.starting_position or "LATEST"

    async def run(self) -> None:
        labels = self._labels
        self._rt.metrics.register_mapping(*labels)
        self._rt.readiness.expect(self.name)
        async with AsyncExitStack() as stack:
            source = await self._resolve(stack)
            if source is None:
                return
            ctx = StreamContext(
                self.config, self.name, self._rt, self._invoker, self._store, source, self._log
            )
            if self.config.on_failure is not None:
                ctx.destination = await open_destination(
                    self.config.on_failure,
                    self._rt.aws,
                    stack,
                    self.config.mapping_uuid,
                    ctx.on_source_error("OnFailureDestination"),
                )
            ctx.keep = record_filter(self.config.filter_patterns, self._arn.service)
            loaded = await self._load()
            if loaded is None:
                return
            ctx.checkpoints.update(loaded)
            scope = MappingScope(
                self.config.mapping_uuid,
                self._rt,
                self._labels,
                self._log,
                self._position,
                ctx.checkpoints,
            )
            access = stack.enter_context(self._store.access(scope))
            self._log.info(
                "mapping_started",
                stream=source.stream_arn,
                checkpoints=len(ctx.checkpoints),
                parallelization_factor=self.config.parallelization_factor,
                worker=access.worker,
            )
            async with anyio.create_task_group() as background:
                await background.start(access.run, lambda: self._changed.set())
                async with anyio.create_task_group() as readers:
                    await self._discover(ctx, source, readers, access)
                await access.release_all()  # every reader has checkpointed: hand shards over
                background.cancel_scope.cancel()
        self._log.info("mapping_stopped")

    async def _discover(
        self,
        ctx: StreamContext,
        source: ShardSource,
        readers: TaskGroup,
        access: ShardAccess,
    ) -> None:
        """List shards and start readers until shutdown, for the shards `access` allows."""
        while not self._rt.lifecycle.stopping.is_set():
            shards = await self._list(source)
            if shards is None:
                return
            self._rt.readiness.set(self.name, True)
            access.offer(shards)
            self._start(ctx, shards, readers, access)
            self._rt.metrics.shards_owned.labels(*self._labels).set(len(self._readers))
            with self._rt.lifecycle.intake():
                with anyio.move_on_after(self.config.shard_refresh_seconds):
                    await self._changed.wait()
            self._changed = anyio.Event()

    async def _load(self) -> dict[str, str] | None:
        """Every saved checkpoint of this mapping; None when shutdown interrupts the retries."""
        return await until_stopped(
            self._rt.lifecycle,
            lambda: self._store.load(self.config.mapping_uuid),
            self._on_error("LoadCheckpoints"),
            retry_all=True,
        )

    async def _resolve(self, stack: AsyncExitStack) -> ShardSource | None:
        """The stream, through the reader its kind names; None when shutdown comes first.
        A source that does not exist (or refuses us for good) is a StartupError."""
        opener = self._sources[self._arn.service]

        async def resolve() -> ShardSource:
            # Each attempt's clients close with it, unless it succeeds: then with the mapping.
            async with AsyncExitStack() as attempt:
                with checking_source(f"{self._path}.event_source_arn"):
                    source = await opener(
                        self._rt.aws, attempt, self.config.event_source_arn, self.identity_arn
                    )
                stack.push_async_callback(attempt.pop_all().aclose)
                return source

        return await until_stopped(self._rt.lifecycle, resolve, self._on_error("DescribeStream"))

    async def _list(self, source: ShardSource) -> list[ShardInfo] | None:
        return await until_stopped(
            self._rt.lifecycle, source.shards, self._on_error("ListShards"), retry_all=True
        )

    def _start(
        self,
        ctx: StreamContext,
        shards: list[ShardInfo],
        group: TaskGroup,
        access: ShardAccess,
    ) -> None:
        for shard in shards:
            reader = self._readers.get(shard.shard_id)
            if reader is not None:
                reader.shard = shard  # learns that its shard closed
        position = self._position
        stamp = self.config.starting_position_timestamp
        for shard_id in startable(shards, ctx.checkpoints, position, self._readers):
            if not access.may_start(shard_id):
                continue
            shard = next(s for s in shards if s.shard_id == shard_id)
            where = start_position(
                shard, ctx.checkpoints, position, stamp.timestamp() if stamp else None
            )
            reader = ShardReader(ctx, shard, where, ctx.checkpoints.get(shard_id))
            self._readers[shard_id] = reader
            group.start_soon(self._run_reader, reader, access)

    async def _run_reader(self, reader: ShardReader, access: ShardAccess) -> None:
        shard_id = reader.shard.shard_id
        finished = False
        try:
            # Losing access to the shard (its lease) cancels its reader at once.
            with access.guard(shard_id):
                finished = await reader.run()
            if finished:
                await access.release(shard_id)  # SHARD_END is written: nothing left to own
        finally:
            self._readers.pop(shard_id, None)
            self._rt.metrics.forget_shard(self._labels, shard_id)
            self._changed.set()  # a finished parent may release its children

    def _on_error(self, operation: str) -> Callable[[BaseException, float], None]:
        return source_error_recorder(self._rt, self._labels, self._log, operation, unready=True)
