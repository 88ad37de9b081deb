"""What every shard reader of one stream mapping shares: config, source, invoker, checkpoints."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from poller.batching import GatherPolicy
from poller.config.models import StreamMappingConfig
from poller.destinations import Destination
from poller.invokers import Invoker
from poller.invokers.slots import Slots
from poller.runtime import Runtime, source_error_recorder
from poller.sources.streams import ShardSource
from poller.state.base import CheckpointStore
from poller.streams.failures import StreamPolicy


@dataclass(eq=False)
class StreamContext:
    config: StreamMappingConfig
    name: str
    runtime: Runtime
    invoker: Invoker
    store: CheckpointStore
    source: ShardSource
    log: Any  # structlog BoundLogger bound to mapping and function
    destination: Destination | None = None
    # FilterCriteria for this source (None: every record is delivered).
    keep: Callable[[dict[str, Any]], bool] | None = None
    checkpoints: dict[str, str] = field(default_factory=dict)
    invocations: Slots = field(default_factory=lambda: Slots(10_000))

    @functools.cached_property
    def labels(self) -> tuple[str, str, str]:
        """mapping, function, source (kinesis | dynamodb)."""
        return (self.name, self.config.function, self.config.arn.service)

    @functools.cached_property
    def policy(self) -> StreamPolicy:
        c = self.config
        return StreamPolicy(
            c.maximum_retry_attempts,
            c.maximum_record_age_in_seconds,
            c.bisect_batch_on_function_error,
            c.report_batch_item_failures,
        )

    @functools.cached_property
    def function_arn(self) -> str:
        """The function's ARN in the source's account and region (destination records)."""
        return self.config.arn.function_arn(self.config.function)

    @functools.cached_property
    def gather(self) -> GatherPolicy:
        return GatherPolicy(self.config.batch_size, self.config.maximum_batching_window_in_seconds)

    async def save_checkpoint(self, shard_id: str, checkpoint: str) -> None:
        """Store a shard's checkpoint durably; the store refuses to move one backwards."""
        if await self.store.save(self.config.mapping_uuid, shard_id, checkpoint):
            self.checkpoints[shard_id] = checkpoint
            self.runtime.metrics.checkpoints.labels(*self.labels).inc()

    def on_source_error(self, operation: str) -> Callable[[BaseException, float], None]:
        return source_error_recorder(self.runtime, self.labels, self.log, operation)


def bound_log(name: str, function: str) -> Any:
    return structlog.get_logger("poller.streams").bind(mapping=name, function=function)
