"""One stream batch, invoked to its end under the mapping's failure policy (failures.py).

Every record of the batch ends exactly once: finished (the handler succeeded with it) or
discarded (too old, or out of retries) to the on-failure destination or dropped. `deliver`
reports each as it ends, so the shard's checkpoint can pass it; it returns False only when
shutdown interrupts it, leaving the records that had not ended to be read again after a restart.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import anyio

from poller.errors import DeliveryFailed
from poller.events.failure import RECORD_AGE_EXCEEDED, Discard
from poller.invocation import Invocations
from poller.model import Outcome, StreamRecord, Verdict
from poller.responses import interpret
from poller.streams.context import StreamContext
from poller.streams.failures import Attempt, Kind, after_invoke, split_expired
from poller.streams.windows import read_state, without_state

# Waits before invoking the same records again: 0.5 s, doubling up to this.
MAX_RETRY_WAIT = 30.0

Finish = Callable[[Sequence[StreamRecord]], Awaitable[None]]


class WindowHooks(Protocol):
    """What a lane with a tumbling window (tumbling.py) adds to delivery."""

    def event(self, records: Sequence[StreamRecord], final: bool, early: bool) -> dict[str, Any]:
        """The window's event for `records` (its state and window fields included)."""
        ...

    def hold(self, records: Sequence[StreamRecord], state: dict[str, Any]) -> None:
        """Keep handled records unsettled until the window's final invocation succeeds, and
        the state the handler returned for the next invocation."""
        ...


@dataclass(frozen=True, slots=True)
class Invoked:
    """One invocation that reached the function, as the failure policy reads it."""

    outcome: Outcome
    function_error: bool
    request_id: str
    state: dict[str, Any] | None  # the tumbling-window state it returned (windows only)


class Delivery:
    """Invokes one lane's batches, one at a time (each lane of a shard has its own).

    With `window` (TumblingWindowInSeconds), events carry the window's state, and the records
    an invocation handled are held by the window instead of finished.
    """

    def __init__(
        self,
        ctx: StreamContext,
        shard_id: str,
        finish: Finish,
        log: Any,
        window: WindowHooks | None = None,
        stalled: Callable[[bool], None] = lambda stalled: None,
    ) -> None:
        """`stalled(True)` is called when a batch first waits to be retried (or its throttled
        invocation to be made again), `stalled(False)` when that batch has ended."""
        self.ctx = ctx
        self._stalled = stalled
        self._shard = shard_id
        self._finish = finish
        self._log = log
        self._window = window
        self._gauge_labels = (*ctx.labels, shard_id)
        self._invocations = Invocations(ctx.runtime, ctx.labels, log, ctx.invocations)

    async def deliver(self, records: Sequence[StreamRecord]) -> bool:
        try:
            return await self._deliver(records)
        finally:
            self._stalled(False)

    async def _deliver(self, records: Sequence[StreamRecord]) -> bool:
        batch_id = str(uuid.uuid4())
        pending = [Attempt(tuple(records))]
        throttled = 0
        while pending:
            expired, attempt = split_expired(pending.pop(), self.ctx.policy, time.time())
            if expired is not None and not await self._discard(
                expired, RECORD_AGE_EXCEEDED, False, None, batch_id
            ):
                return False
            if attempt is None:
                continue
            invoked = await self._invoke(attempt, batch_id)
            if invoked is None:  # it never reached the handler: no retry is consumed
                pending.append(attempt)
                throttled += 1
                if not await self._pause(throttled):
                    return False
                continue
            throttled = 0
            if not await self._settle(attempt, invoked, pending, batch_id):
                return False
        return True

    async def _settle(
        self,
        attempt: Attempt,
        invoked: Invoked,
        pending: list[Attempt],
        batch_id: str,
    ) -> bool:
        """Apply the policy's decision after one invocation; False if shutdown interrupted."""
        decision = after_invoke(attempt, invoked.outcome, self.ctx.policy, invoked.function_error)
        if decision.finished and self._window is not None:
            # Handled, but checkpointed only once the window's final invocation succeeds.
            assert invoked.state is not None
            self._window.hold(decision.finished, invoked.state)
        elif decision.finished:
            await self._finish(decision.finished)
        if decision.kind is Kind.RETRY:
            assert decision.next is not None
            pending.append(decision.next)
            if decision.next.retries > attempt.retries:  # the same records again
                self.ctx.runtime.metrics.batch_retries.labels(*self.ctx.labels).inc()
                return await self._pause(decision.next.retries)
        elif decision.kind is Kind.SPLIT:
            assert decision.next is not None
            assert decision.later is not None
            self.ctx.runtime.metrics.bisections.labels(*self.ctx.labels).inc()
            pending.extend((decision.later, decision.next))  # first half first
        elif decision.kind is Kind.DISCARD:
            assert decision.discarded is not None
            assert decision.condition is not None
            return await self._discard(
                decision.discarded,
                decision.condition,
                decision.function_error,
                invoked.request_id,
                batch_id,
            )
        return True

    async def _pause(self, count: int) -> bool:
        self._stalled(True)
        with self.ctx.runtime.lifecycle.intake() as scope:
            await anyio.sleep(min(0.5 * 2 ** (count - 1), MAX_RETRY_WAIT))
        return not scope.cancel_called

    async def final(self, early: bool = False) -> bool:
        """The window's final invocation, repeated until it succeeds (the lane waits, as Lambda
        suspends the shard); False if shutdown interrupted it."""
        assert self._window is not None
        batch_id = str(uuid.uuid4())
        failures = 0
        try:
            while True:
                invoked = await self._invoke(Attempt(()), batch_id, final=True, early=early)
                if invoked is not None and invoked.outcome.verdict is Verdict.SUCCESS:
                    return True
                failures += 1
                if invoked is not None:
                    self.ctx.runtime.metrics.batch_retries.labels(*self.ctx.labels).inc()
                if not await self._pause(failures):
                    return False
        finally:
            self._stalled(False)

    def _event(self, records: Sequence[StreamRecord], final: bool, early: bool) -> dict[str, Any]:
        if self._window is None:
            return {"Records": [r.record for r in records]}
        return self._window.event(records, final, early)

    async def _invoke(
        self, attempt: Attempt, batch_id: str, final: bool = False, early: bool = False
    ) -> Invoked | None:
        """Invoke once; None if the event never reached the function."""
        records = attempt.records
        request_id = str(uuid.uuid4())
        event = self._event(records, final, early)
        if records:
            age = max(0.0, time.time() - records[-1].arrival)
            self.ctx.runtime.metrics.iterator_age.labels(*self._gauge_labels).set(age)
        result = await self._invocations.call(
            lambda: self.ctx.invoker.invoke(event, request_id), batch_id, len(records)
        )
        if result is None:
            return None
        ids = [r.sequence_number for r in records]
        outcome = interpret(result, self.ctx.config.report_batch_item_failures, ids)
        state = None
        if self._window is not None:
            state = read_state(result.payload) if result.error is None else None
            if state is None:
                outcome = without_state(outcome)
        ok = outcome.verdict is Verdict.SUCCESS
        failed = 0
        if not ok:
            failed = len(outcome.failed) if outcome.verdict is Verdict.PARTIAL else len(records)
        fields: dict[str, Any] = {
            "batch_id": batch_id,
            "request_id": request_id,
            "first": ids[0] if ids else None,
            "last": ids[-1] if ids else None,
            "final": final or None,
            "attempt": attempt.retries + 1,
        }
        if self.ctx.runtime.log_records:
            fields["records"] = event["Records"]
        event_name = "batch_invoked" if ok else "batch_failed"
        self._invocations.account(result, outcome, len(records), failed, event_name, fields)
        return Invoked(outcome, result.error is not None, request_id, state)

    async def _discard(
        self,
        attempt: Attempt,
        condition: str,
        function_error: bool,
        request_id: str | None,
        batch_id: str,
    ) -> bool:
        """Send the discarded records' failure record to the destination, or drop them; either
        way they have ended. False if shutdown interrupted the delivery (nothing ended)."""
        ctx, m = self.ctx, self.ctx.runtime.metrics
        records = attempt.records
        discard = Discard(
            records,
            condition,
            attempt.invokes,
            request_id or str(uuid.uuid4()),
            ctx.function_arn,
            function_error,
            self._shard,
            ctx.source.stream_arn,
            ctx.config.is_dynamodb,
        )
        fields = {
            "batch_id": batch_id,
            "condition": condition,
            "size": len(records),
            "first": records[0].sequence_number,
            "last": records[-1].sequence_number,
        }
        if ctx.destination is None:
            m.dropped_events.labels(*ctx.labels).inc(len(records))
            self._log.warning("records_dropped", **fields)
        else:
            with ctx.runtime.lifecycle.intake() as scope:
                try:
                    await ctx.destination.send(discard, time.time())
                except DeliveryFailed as exc:
                    m.destination_delivery_failures.labels(*ctx.labels).inc()
                    m.dropped_events.labels(*ctx.labels).inc(len(records))
                    self._log.error(
                        "destination_delivery_failed",
                        destination=ctx.destination.arn,
                        error=str(exc)[:500],
                        record=exc.record,
                        **fields,
                    )
                else:
                    m.destination_delivered_events.labels(*ctx.labels).inc(len(records))
                    self._log.warning(
                        "records_sent_to_destination", destination=ctx.destination.arn, **fields
                    )
            if scope.cancel_called:
                return False
        await self._finish(records)
        return True
