"""One invocation's bookkeeping, the same for SQS and streams: the concurrency slot, Lambda's
metrics (Invocations, Errors, Throttles, Duration, ConcurrentExecutions, InvokedEventCount,
FailedInvokeEventCount), the status board and the `invoke_failed` / `batch_invoked` log lines.

What an invocation *means* (delete, retry, bisect, discard) stays with each source's mapping.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from poller.errors import InvokeError, Throttled
from poller.model import InvokeResult, Outcome, Verdict
from poller.runtime import Runtime


class Invocations:
    """Invokes a mapping's batches in its concurrency `slots` and keeps Lambda's books.

    `slots` may be shared (a stream mapping's lanes share one limiter, each with its own log).
    """

    def __init__(
        self,
        runtime: Runtime,
        labels: tuple[str, str, str],
        log: Any,
        slots: anyio.CapacityLimiter,
    ) -> None:
        self._rt = runtime
        self._labels = labels
        self._log = log
        self._slots = slots

    async def call(
        self, invoke: Callable[[], Awaitable[InvokeResult]], batch_id: str, size: int
    ) -> InvokeResult | None:
        """Run `invoke` in a concurrency slot; None when the event never reached the function.

        An InvokeError (target unreachable, refused, throttled) counts the batch's records as
        FailedInvokeEventCount, and a Throttled as a throttle too; it is logged, not raised.
        """
        m = self._rt.metrics
        async with self._slots:
            m.concurrent_executions.labels(*self._labels).inc()
            try:
                return await invoke()
            except InvokeError as exc:
                if isinstance(exc, Throttled):
                    m.throttles.labels(*self._labels).inc()
                m.failed_invoke_events.labels(*self._labels).inc(size)
                self._log.warning(
                    "invoke_failed", batch_id=batch_id, size=size, error=str(exc)[:500]
                )
                return None
            finally:
                m.concurrent_executions.labels(*self._labels).dec()

    def account(
        self,
        result: InvokeResult,
        outcome: Outcome,
        size: int,
        failed: int,
        event: str,
        fields: dict[str, Any],
    ) -> None:
        """Count an invocation that reached the function (`failed` of its `size` records did
        not succeed) and log it as `event` with `fields` and the outcome."""
        m, labels = self._rt.metrics, self._labels
        m.invocations.labels(*labels).inc()
        m.invoked_events.labels(*labels).inc(size)
        m.duration.labels(*labels).observe(result.duration)
        if result.error is not None:
            m.errors.labels(*labels).inc()
        self._rt.status.result(labels[0], outcome.verdict is Verdict.SUCCESS)
        if failed:
            m.failed_invoke_events.labels(*labels).inc(failed)
        self._log.info(
            event,
            **fields,
            size=size,
            verdict=outcome.verdict.value,
            reason=outcome.reason,
            duration_ms=round(result.duration * 1000, 1),
        )
