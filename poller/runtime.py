"""What every mapping shares inside one daemon: AWS access, telemetry, lifecycle."""

from __future__ import annotations

from dataclasses import dataclass, field

from poller.aws import Aws
from poller.lifecycle import Lifecycle
from poller.telemetry.http import Readiness
from poller.telemetry.metrics import Metrics
from poller.telemetry.status import StatusBoard

# Settlement (deletes, checkpoints) runs shielded from cancellation but never longer than this.
SETTLE_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class Runtime:
    aws: Aws
    metrics: Metrics
    readiness: Readiness
    lifecycle: Lifecycle
    status: StatusBoard = field(default_factory=StatusBoard)
    log_records: bool = False  # logging.log_records: batch lines carry their event records
