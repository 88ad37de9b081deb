"""What `GET /mappings` and `poller status` report: each mapping's state, last result and error.

Static facts come from the configuration; counts (in flight, pollers, shards, invocations) are
read from the metrics registry; mappings report their last processing result and last error
here as they happen. Lambda's wording: State "Enabled" / "Disabled", LastProcessingResult
"No records processed", "OK", "PROBLEM: Function call failed".
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from poller.config.models import MappingConfig, PollerConfig, StreamMappingConfig
from poller.telemetry.metrics import Metrics

NO_RECORDS = "No records processed"
OK = "OK"
FAILED = "PROBLEM: Function call failed"


@dataclass
class _Notes:
    result: str = NO_RECORDS
    error: str | None = None
    error_at: float | None = None


@dataclass
class StatusBoard:
    """Mutable per-mapping notes, written by the mappings, read by the HTTP server."""

    _notes: dict[str, _Notes] = field(default_factory=dict)

    def result(self, mapping: str, ok: bool) -> None:
        self._notes.setdefault(mapping, _Notes()).result = OK if ok else FAILED

    def error(self, mapping: str, text: str) -> None:
        notes = self._notes.setdefault(mapping, _Notes())
        notes.error, notes.error_at = text[:500], time.time()

    def notes(self, mapping: str) -> _Notes:
        return self._notes.get(mapping, _Notes())


def mapping_status(
    mapping: MappingConfig, metrics: Metrics, board: StatusBoard, ready: bool, enabled: bool
) -> dict[str, Any]:
    """One mapping's entry, keys named as the Lambda API names them where it has them."""
    name = mapping.display_name
    labels = {"mapping": name, "function": mapping.function}

    def sample(series: str) -> int:
        return int(metrics.value(series, **labels))

    notes = board.notes(name)
    entry: dict[str, Any] = {
        "Name": name,
        "UUID": mapping.mapping_uuid,
        "FunctionName": mapping.function,
        "EventSourceArn": mapping.event_source_arn,
        "State": "Enabled" if enabled else "Disabled",
        "LastProcessingResult": notes.result,
        "Ready": ready,
        "InFlight": sample("poller_concurrent_executions"),
        "Invocations": sample("poller_invocations_total"),
        "Errors": sample("poller_errors_total"),
        "LastError": notes.error,
        "LastErrorAt": notes.error_at,
    }
    if isinstance(mapping, StreamMappingConfig):
        entry["Shards"] = sample("poller_shards_owned")
        entry["ParallelizationFactor"] = mapping.parallelization_factor
    else:
        entry["Pollers"] = sample("poller_sqs_pollers")
    return entry


def all_status(
    config: PollerConfig,
    metrics: Metrics,
    board: StatusBoard,
    waiting: list[str],
    disabled: set[str] | frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    """Every mapping of `config`; `disabled` names those disabled at runtime."""
    out = []
    for m in config.mappings:
        enabled = m.enabled and m.display_name not in disabled
        ready = enabled and m.display_name not in waiting
        out.append(mapping_status(m, metrics, board, ready, enabled))
    return out
