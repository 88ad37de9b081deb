"""What every shard reader of one stream mapping shares: config, source, invoker, checkpoints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import structlog

from poller.aws import describe
from poller.batching import GatherPolicy
from poller.config import StreamMappingConfig
from poller.destinations import Destination
from poller.failures import StreamPolicy
from poller.invokers import Invoker
from poller.runtime import Runtime
from poller.sources.streams import ShardSource
from poller.state.base import CheckpointStore


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
    invocations: anyio.CapacityLimiter = field(
        default_factory=lambda: anyio.CapacityLimiter(10_000)
    )

    @property
    def labels(self) -> tuple[str, str, str]:
        """mapping, function, source (kinesis | dynamodb)."""
        return (self.name, self.config.function, self.config.arn.service)

    @property
    def policy(self) -> StreamPolicy:
        c = self.config
        return StreamPolicy(
            c.maximum_retry_attempts,
            c.maximum_record_age_in_seconds,
            c.bisect_batch_on_function_error,
            c.report_batch_item_failures,
        )

    @property
    def function_arn(self) -> str:
        return c_arn(self.config)

    @property
    def gather(self) -> GatherPolicy:
        return GatherPolicy(self.config.batch_size, self.config.maximum_batching_window_in_seconds)

    async def save_checkpoint(self, shard_id: str, checkpoint: str) -> None:
        """Store a shard's checkpoint durably; the store refuses to move one backwards."""
        if await self.store.save(self.config.mapping_uuid, shard_id, checkpoint):
            self.checkpoints[shard_id] = checkpoint
            self.runtime.metrics.checkpoints.labels(*self.labels).inc()

    def on_source_error(self, operation: str) -> Callable[[BaseException, float], None]:
        return source_error_recorder(self.runtime, self.labels, self.log, operation)


def source_error_recorder(
    runtime: Runtime,
    labels: tuple[str, ...],
    log: Any,
    operation: str,
    unready: bool = False,
) -> Callable[[BaseException, float], None]:
    """A retry callback that logs `source_error`, counts it, and optionally marks unready."""

    def record(exc: BaseException, wait: float) -> None:
        if unready:
            runtime.readiness.set(labels[0], False)
        fields = describe(exc)
        runtime.status.error(labels[0], f"{operation}: {fields['error_code']}: {fields['error']}")
        runtime.metrics.source_errors.labels(*labels, operation, fields["error_code"]).inc()
        log.warning("source_error", operation=operation, retry_in=round(wait, 2), **fields)

    return record


def c_arn(config: StreamMappingConfig) -> str:
    """The function's ARN in the source's account and region (destination records name it)."""
    return config.arn.function_arn(config.function)


def bound_log(name: str, function: str) -> Any:
    return structlog.get_logger("poller.streams").bind(mapping=name, function=function)
