"""One invocation's bookkeeping, the same for SQS and streams: the concurrency slot, Lambda's
metrics (Invocations, Errors, Throttles, Duration, ConcurrentExecutions, InvokedEventCount,
FailedInvokeEventCount), the status board and the `invoke_failed` / `batch_invoked` log lines.

What an invocation *means* (delete, retry, bisect, discard) stays with each source's mapping.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from poller.errors import InvokeError, Throttled
from poller.invokers.slots import Slots
from poller.model import InvokeResult, Outcome, Verdict
from poller.runtime import Runtime

_ids = random.Random()  # noqa: S311 - request ids are names, not secrets


def new_request_id() -> str:
    """A fresh version-4 UUID, Lambda's request id format. Ids name invocations in logs and
    contexts, never secrets, so they come from a seeded PRNG rather than `uuid4()`'s system
    call on every batch."""
    return str(uuid.UUID(int=_ids.getrandbits(128), version=4))


class Invocations:
    """Invokes a mapping's batches in its concurrency `slots` and keeps Lambda's books.

    `slots` may be shared (a stream mapping's lanes share one limiter, each with its own log).
    """

    def __init__(
        self,
        runtime: Runtime,
        labels: tuple[str, str, str],
        log: Any,
        slots: Slots,
    ) -> None:
        self._rt = runtime
        self._labels = labels
        self._log = log
        self._slots = slots
        # This mapping's series, looked up once (a lookup by labels costs a few µs per call).
        m = runtime.metrics
        self._concurrent = m.concurrent_executions.labels(*labels)
        self._throttles = m.throttles.labels(*labels)
        self._failed = m.failed_invoke_events.labels(*labels)
        self._invocations = m.invocations.labels(*labels)
        self._invoked = m.invoked_events.labels(*labels)
        self._duration = m.duration.labels(*labels)
        self._errors = m.errors.labels(*labels)

    async def call(
        self, invoke: Callable[[], Awaitable[InvokeResult]], batch_id: str, size: int
    ) -> InvokeResult | None:
        """Run `invoke` in a concurrency slot; None when the event never reached the function.

        An InvokeError (target unreachable, refused, throttled) counts the batch's records as
        FailedInvokeEventCount, and a Throttled as a throttle too; it is logged, not raised.
        """
        async with self._slots:
            self._concurrent.inc()
            try:
                return await invoke()
            except InvokeError as exc:
                if isinstance(exc, Throttled):
                    self._throttles.inc()
                self._failed.inc(size)
                self._log.warning(
                    "invoke_failed", batch_id=batch_id, size=size, error=str(exc)[:500]
                )
                return None
            finally:
                self._concurrent.dec()

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
        self._invocations.inc()
        self._invoked.inc(size)
        self._duration.observe(result.duration)
        if result.error is not None:
            self._errors.inc()
        self._rt.status.result(self._labels[0], outcome.verdict is Verdict.SUCCESS)
        if failed:
            self._failed.inc(failed)
        self._log.info(
            event,
            **fields,
            size=size,
            verdict=outcome.verdict.value,
            reason=outcome.reason,
            duration_ms=round(result.duration * 1000, 1),
        )
