"""What every mapping shares inside one daemon: AWS access, telemetry, lifecycle."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from poller.aws import Aws, describe
from poller.lifecycle import Lifecycle
from poller.telemetry.http import Readiness
from poller.telemetry.metrics import Metrics
from poller.telemetry.status import StatusBoard

# Settlement (deletes, checkpoints) runs shielded from cancellation but never longer than this.
SETTLE_TIMEOUT = 30.0


def settlement() -> anyio.CancelScope:
    """The scope settlement runs in: shielded from shutdown's cancellation, cancelled by its
    own deadline (`SETTLE_TIMEOUT`); check `cancelled_caught` after it. One scope, not two:
    settlement runs once per batch."""
    return anyio.CancelScope(shield=True, deadline=anyio.current_time() + SETTLE_TIMEOUT)


@dataclass(frozen=True, slots=True)
class Runtime:
    aws: Aws
    metrics: Metrics
    readiness: Readiness
    lifecycle: Lifecycle
    status: StatusBoard = field(default_factory=StatusBoard)
    log_records: bool = False  # logging.log_records: batch lines carry their event records
    # shutdown_receives: finish (an SQS receive in flight at stop ends and its messages are
    # handled) or cancel (it is abandoned).
    finish_receives: bool = True


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
