"""One Kinesis or DynamoDB Streams event source mapping: shard discovery and one reader per shard.

The mapping lists the stream's shards (at start, every `shard_refresh_seconds`, and whenever a
shard finishes), starts a reader for each shard whose parents are finished, and tells running
readers when their shard closes. Checkpoints come from the CheckpointStore, keyed by the mapping's
UUID, so a restart resumes right after the last settled batch of every shard.

With the DynamoDB state backend, replicas share the shards: a reader starts only for a shard
whose lease this replica holds (lease_coordinator.py), is cancelled when the lease is lost, and
at shutdown the leases are released once every reader has checkpointed.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack, nullcontext

import anyio
from anyio.abc import TaskGroup

from poller.arns import Arn
from poller.aws import retrying
from poller.config.models import StreamMappingConfig
from poller.config.settings import FunctionConfig
from poller.destinations import open_destination
from poller.errors import checking_source
from poller.filtering.records import record_filter
from poller.invokers import Invoker
from poller.leases.coordinator import LeaseCoordinator
from poller.runtime import Runtime, source_error_recorder
from poller.sources.dynamodb import DynamoDbStream
from poller.sources.kinesis import KinesisStream
from poller.sources.shards import ShardInfo, start_position, startable
from poller.sources.streams import ShardSource
from poller.state.base import CheckpointStore
from poller.state.dynamodb import DynamoDbLeaseStore
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
    ) -> None:
        self.config = config
        self.name = config.display_name
        self._path = path
        self._function = function
        self._invoker = invoker
        self._rt = runtime
        self._store = store
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
            leases = self._coordinator(stack, ctx)
            self._log.info(
                "mapping_started",
                stream=source.stream_arn,
                checkpoints=len(ctx.checkpoints),
                parallelization_factor=self.config.parallelization_factor,
                worker=leases.me if leases else None,
            )
            async with anyio.create_task_group() as background:
                if leases is not None:
                    await background.start(leases.run, lambda: self._changed.set())
                async with anyio.create_task_group() as readers:
                    await self._discover(ctx, source, readers, leases)
                if leases is not None:  # every reader has checkpointed: hand the shards over
                    await leases.release_all()
                background.cancel_scope.cancel()
        self._log.info("mapping_stopped")

    async def _discover(
        self,
        ctx: StreamContext,
        source: ShardSource,
        readers: TaskGroup,
        leases: LeaseCoordinator | None,
    ) -> None:
        """List shards and start readers until shutdown; with leases, only for held shards."""
        while not self._rt.lifecycle.stopping.is_set():
            shards = await self._list(source)
            if shards is None:
                return
            self._rt.readiness.set(self.name, True)
            if leases is not None:
                leases.offer(shards)
            self._start(ctx, shards, readers, leases)
            self._rt.metrics.shards_owned.labels(*self._labels).set(len(self._readers))
            with self._rt.lifecycle.intake():
                with anyio.move_on_after(self.config.shard_refresh_seconds):
                    await self._changed.wait()
            self._changed = anyio.Event()

    def _coordinator(self, stack: AsyncExitStack, ctx: StreamContext) -> LeaseCoordinator | None:
        """This mapping's lease coordinator when replicas share the shards (DynamoDB state)."""
        if not isinstance(self._store, DynamoDbLeaseStore):
            return None
        return stack.enter_context(
            self._store.coordinator(
                self.config.mapping_uuid,
                self._rt,
                self._labels,
                self._log,
                self._position,
                ctx.checkpoints,
            )
        )

    async def _load(self) -> dict[str, str] | None:
        """Every saved checkpoint of this mapping; None when shutdown interrupts the retries."""
        loaded: dict[str, str] | None = None
        with self._rt.lifecycle.intake():
            async for attempt in retrying(self._on_error("LoadCheckpoints"), retry_all=True):
                with attempt:
                    loaded = await self._store.load(self.config.mapping_uuid)
        return loaded

    async def _resolve(self, stack: AsyncExitStack) -> ShardSource | None:
        aws = self._rt.aws
        region = self._arn.region
        source: ShardSource | None = None
        with self._rt.lifecycle.intake():
            async for attempt in retrying(self._on_error("DescribeStream")):
                with attempt, checking_source(f"{self._path}.event_source_arn"):
                    if self.config.is_dynamodb:
                        streams = await stack.enter_async_context(
                            aws.client("dynamodbstreams", max_connections=50)
                        )
                        tables = await stack.enter_async_context(aws.client("dynamodb"))
                        source = await DynamoDbStream.resolve(
                            streams, tables, self.config.event_source_arn, region
                        )
                    else:
                        client = await stack.enter_async_context(
                            aws.client("kinesis", max_connections=50)
                        )
                        source = await KinesisStream.resolve(
                            client, self.config.event_source_arn, region, self.identity_arn
                        )
        return source

    async def _list(self, source: ShardSource) -> list[ShardInfo] | None:
        shards: list[ShardInfo] | None = None
        with self._rt.lifecycle.intake():
            async for attempt in retrying(self._on_error("ListShards"), retry_all=True):
                with attempt:
                    shards = await source.shards()
        return shards

    def _start(
        self,
        ctx: StreamContext,
        shards: list[ShardInfo],
        group: TaskGroup,
        leases: LeaseCoordinator | None,
    ) -> None:
        for shard in shards:
            reader = self._readers.get(shard.shard_id)
            if reader is not None:
                reader.shard = shard  # learns that its shard closed
        position = self._position
        stamp = self.config.starting_position_timestamp
        for shard_id in startable(shards, ctx.checkpoints, position, self._readers):
            if leases is not None and not leases.may_start(shard_id):
                continue
            shard = next(s for s in shards if s.shard_id == shard_id)
            where = start_position(
                shard, ctx.checkpoints, position, stamp.timestamp() if stamp else None
            )
            reader = ShardReader(ctx, shard, where, ctx.checkpoints.get(shard_id))
            self._readers[shard_id] = reader
            group.start_soon(self._run_reader, reader, leases)

    async def _run_reader(self, reader: ShardReader, leases: LeaseCoordinator | None) -> None:
        shard_id = reader.shard.shard_id
        finished = False
        try:
            # With leases, losing this shard's lease cancels its reader at once.
            with leases.guard(shard_id) if leases is not None else nullcontext():
                finished = await reader.run()
            if finished and leases is not None:
                await leases.release(shard_id)  # SHARD_END is written: nothing left to own
        finally:
            self._readers.pop(shard_id, None)
            self._rt.metrics.forget_shard(self._labels, shard_id)
            self._changed.set()  # a finished parent may release its children

    def _on_error(self, operation: str) -> Callable[[BaseException, float], None]:
        return source_error_recorder(self._rt, self._labels, self._log, operation, unready=True)
