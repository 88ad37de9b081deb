"""invocation.Invocations: the bookkeeping SQS and streams share (Lambda's metrics, the slot)."""

from __future__ import annotations

from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from poller.aws import Aws
from poller.config.settings import AwsConfig
from poller.errors import InvokeError, Throttled
from poller.invocation import Invocations
from poller.invokers.slots import Slots
from poller.lifecycle import Lifecycle
from poller.model import FunctionError, InvokeResult, Outcome, Verdict
from poller.runtime import Runtime
from poller.telemetry.http import Readiness
from poller.telemetry.metrics import Metrics

pytestmark = pytest.mark.anyio
LABELS = ("orders-queue", "orders", "sqs")
WHO = {"mapping": "orders-queue", "function": "orders"}


def _invocations(slots: int = 10) -> tuple[Invocations, Metrics]:
    metrics = Metrics()
    runtime = Runtime(Aws(AwsConfig(), metrics), metrics, Readiness(), Lifecycle())
    metrics.register_mapping(*LABELS)
    log = structlog.get_logger("test")
    return Invocations(runtime, LABELS, log, Slots(slots)), metrics


@pytest.mark.parametrize(
    ("error", "throttles"),
    [
        pytest.param(InvokeError("connection refused"), 0, id="unreachable"),
        pytest.param(Throttled("reserved concurrency 0"), 1, id="throttled"),
    ],
)
async def test_an_event_that_never_reached_the_function(error: InvokeError, throttles: int) -> None:
    invocations, metrics = _invocations()

    async def invoke() -> InvokeResult:
        raise error

    with capture_logs() as logs:
        assert await invocations.call(invoke, "batch-1", 4) is None
    assert metrics.value("poller_throttles_total", **WHO) == throttles
    assert metrics.value("poller_failed_invoke_events_total", **WHO) == 4
    assert metrics.value("poller_invocations_total", **WHO) == 0
    assert metrics.value("poller_concurrent_executions", **WHO) == 0
    [line] = [e for e in logs if e["event"] == "invoke_failed"]
    assert (line["batch_id"], line["size"]) == ("batch-1", 4)


async def test_the_slot_is_held_during_the_call_and_counted() -> None:
    invocations, metrics = _invocations(slots=1)
    seen: list[float] = []
    result = InvokeResult("req-1", 0.25, payload=b"null")

    async def invoke() -> InvokeResult:
        seen.append(metrics.value("poller_concurrent_executions", **WHO))
        return result

    assert await invocations.call(invoke, "batch-1", 2) is result
    assert seen == [1]
    assert metrics.value("poller_concurrent_executions", **WHO) == 0


@pytest.mark.parametrize(
    ("result", "outcome", "failed", "errors"),
    [
        pytest.param(
            InvokeResult("r", 0.5, payload=b"null"), Outcome(Verdict.SUCCESS), 0, 0, id="success"
        ),
        pytest.param(
            InvokeResult("r", 0.5, payload=b'{"batchItemFailures": [{"itemIdentifier": "a"}]}'),
            Outcome(Verdict.PARTIAL, failed=frozenset({"a"})),
            1,
            0,
            id="partial",
        ),
        pytest.param(
            InvokeResult("r", 0.5, error=FunctionError("boom", "ValueError")),
            Outcome(Verdict.FAILURE, reason="function error: ValueError"),
            3,
            1,
            id="function-error",
        ),
    ],
)
async def test_an_invocation_that_reached_the_function(
    result: InvokeResult, outcome: Outcome, failed: int, errors: int
) -> None:
    invocations, metrics = _invocations()
    fields: dict[str, Any] = {"batch_id": "batch-1", "request_id": "r"}
    with capture_logs() as logs:
        invocations.account(result, outcome, 3, failed, "batch_invoked", fields)
    assert metrics.value("poller_invocations_total", **WHO) == 1
    assert metrics.value("poller_invoked_events_total", **WHO) == 3
    assert metrics.value("poller_errors_total", **WHO) == errors
    assert metrics.value("poller_failed_invoke_events_total", **WHO) == failed
    assert metrics.value("poller_duration_seconds_sum", **WHO) == 0.5
    [line] = logs
    assert line["event"] == "batch_invoked"
    assert line["verdict"] == outcome.verdict.value
    assert (line["size"], line["duration_ms"], line["batch_id"]) == (3, 500.0, "batch-1")
