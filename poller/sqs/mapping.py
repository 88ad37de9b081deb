"""One SQS event source mapping: pollers gather, invoke and settle batches, scaled like Lambda."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import structlog

from poller.arns import Arn
from poller.aws import LONG_POLL, describe, retried, until_stopped
from poller.batching import (
    SQS_LONG_POLL_SECONDS,
    GatherPolicy,
    fit,
    next_step,
    payload_bytes,
    split_groups,
)
from poller.config.models import SqsMappingConfig
from poller.config.rules import visibility_timeout_issue
from poller.config.settings import FunctionConfig
from poller.errors import InvokeError, StartupError, checking_source
from poller.filtering.records import record_filter
from poller.invocation import Invocations, new_request_id
from poller.invokers import Invoker
from poller.invokers.slots import Slots
from poller.model import Batch, InvokeResult, SqsMessage, Verdict
from poller.responses import interpret, settled
from poller.runtime import Runtime, settlement, source_error_recorder
from poller.sources.sqs import QueueInfo, SqsQueue
from poller.sqs import scaling

log = structlog.get_logger("poller.sqs")


class SqsMapping:
    """Delivers a queue's messages to one function, at least once.

    Messages are deleted only after the handler succeeded with them (all of a batch, or those not
    listed in `batchItemFailures`); failed messages are left alone and reappear when their
    visibility timeout expires, so the queue's redrive policy moves them to its DLQ. FIFO queues
    get one batch per message group, so order holds within a group and groups run in parallel.
    """

    def __init__(
        self,
        config: SqsMappingConfig,
        path: str,
        function: FunctionConfig,
        invoker: Invoker,
        runtime: Runtime,
    ) -> None:
        self.config = config
        self.name = config.display_name
        self._path = path
        self._function = function
        self._invoker = invoker
        self._rt = runtime
        self._arn = Arn.parse(config.event_source_arn)
        self._labels = (self.name, config.function, "sqs")
        self._policy = scaling.ScalingPolicy.for_mapping(
            config.scaling_config.maximum_concurrency, config.report_batch_item_failures
        )
        self._gather = GatherPolicy(
            config.batch_size,
            config.maximum_batching_window_in_seconds,
            # FIFO polls through one receive stream (below); a 20 s long poll holding it would
            # starve the other pollers of groups that free up meanwhile: ≤ 1 call/s when idle.
            long_poll=1 if self._arn.is_fifo_queue else SQS_LONG_POLL_SECONDS,
        )
        self._scale = scaling.initial(self._policy, time.monotonic())
        self._changed = anyio.Event()
        self._active: set[int] = set()
        self._queue: SqsQueue | None = None
        # FIFO: one receive at a time per mapping. Concurrency comes from message groups, not
        # parallel receives; a single receive stream keeps delivery order equal to SQS's order
        # even on servers whose group lock is not atomic under concurrent receives (moto's).
        self._receive_lock = anyio.Lock() if self._arn.is_fifo_queue else None
        self._log = log.bind(mapping=self.name, function=config.function)
        self._invocations = Invocations(runtime, self._labels, self._log, Slots(self._policy.cap))
        self._keep = record_filter(config.filter_patterns, "sqs")
        self._polled = runtime.metrics.polled_events.labels(*self._labels)
        self._deleted = runtime.metrics.deleted_events.labels(*self._labels)

    async def run(self) -> None:
        """Check the queue, then keep the target number of pollers running until shutdown."""
        self._rt.metrics.register_mapping(*self._labels)
        self._rt.readiness.expect(self.name)
        pool = self._policy.cap + 10
        async with (
            self._rt.aws.client_for(self._arn, max_connections=pool) as client,
            self._rt.aws.client_for(
                self._arn, max_connections=pool, read_timeout=LONG_POLL + self._rt.aws.read_timeout
            ) as receiver,
        ):
            self._queue = await self._start(client, receiver)
            if self._queue is None:
                return
            self._log.info(
                "mapping_started",
                queue=self._queue.info.url,
                fifo=self._queue.info.fifo,
                pollers=self._scale.target,
            )
            async with anyio.create_task_group() as pollers:
                while not self._rt.lifecycle.stopping.is_set():
                    for index in range(self._scale.target):
                        if index not in self._active:
                            self._active.add(index)
                            pollers.start_soon(self._poller, index)
                    self._rt.metrics.pollers.labels(*self._labels).set(len(self._active))
                    with self._rt.lifecycle.intake():
                        await self._changed.wait()
                    self._changed = anyio.Event()
        self._log.info("mapping_stopped")

    async def _start(self, client: Any, receiver: Any) -> SqsQueue | None:
        """The queue, checked (retried while it may heal); None if shutdown came first."""

        async def resolve() -> QueueInfo:
            with checking_source(f"{self._path}.event_source_arn"):
                async with self._rt.aws.locating(self._arn):
                    return await SqsQueue.resolve(client, self._arn)

        info = await until_stopped(
            self._rt.lifecycle, resolve, self._on_source_error("GetQueueAttributes")
        )
        if info is None:
            return None
        problem = visibility_timeout_issue(info.visibility_timeout, self._function.timeout)
        if problem and not self.config.visibility_heartbeat:
            raise StartupError(f"{self._path}: {problem}")
        self._rt.readiness.set(self.name, True)
        return SqsQueue(client, self._arn, info, receiver)

    def _on_source_error(self, operation: str) -> Callable[[BaseException, float], None]:
        return source_error_recorder(self._rt, self._labels, self._log, operation, unready=True)

    def _set_target(self, state: scaling.ScaleState) -> None:
        if state.target != self._scale.target:
            self._log.info("pollers_scaled", target=state.target, previous=self._scale.target)
            self._changed.set()
        self._scale = state

    async def _poller(self, index: int) -> None:
        # Loop: gather a batch, invoke it, settle it. A poller above the current target, or
        # any poller once stopping begins, leaves after its batch, and after invoking what it
        # received past the 6 MB cap (`carry`) too.
        carry: list[SqsMessage] = []
        try:
            while True:
                batch, carry = await self._collect(carry)
                if batch:
                    await self._process(batch)
                if carry:
                    continue
                if self._rt.lifecycle.stopping.is_set() or index >= self._scale.target:
                    break
        finally:
            if carry:  # the drain deadline cut this poller off: release what it never invoked
                await self._release(carry)
            self._active.discard(index)
            self._rt.metrics.pollers.labels(*self._labels).set(len(self._active))

    async def _release(self, messages: list[SqsMessage]) -> None:
        """Make never-invoked messages visible now; if SQS refuses, they wait out their timeout."""
        assert self._queue is not None
        with settlement():
            try:
                await self._queue.change_visibility(messages, 0)
            except Exception as exc:
                self._log.warning("release_failed", count=len(messages), **describe(exc))

    async def _collect(self, carry: list[SqsMessage]) -> tuple[list[SqsMessage], list[SqsMessage]]:
        """Gather one batch (size, window, 6 MB); returns the batch and what did not fit."""
        assert self._queue is not None
        started = time.monotonic()
        batch: list[SqsMessage] = []
        pending = carry
        while True:
            taken = fit([m.size for m in batch], [m.size for m in pending], self._gather)
            batch, pending = batch + pending[:taken], pending[taken:]
            if pending:
                return batch, pending  # the payload is full; the rest opens the next batch
            step = next_step(
                self._gather,
                len(batch),
                payload_bytes([m.size for m in batch]),
                time.monotonic() - started,
            )
            if step is None or self._rt.lifecycle.stopping.is_set():
                return batch, []
            received = await self._receive(step.max_messages, step.wait_seconds)
            if not batch and not self._rt.lifecycle.stopping.is_set():  # no rescaling at a stop
                self._set_target(
                    scaling.after_poll(
                        self._scale,
                        self._policy,
                        len(received),
                        step.max_messages,
                        time.monotonic(),
                    )
                )
            pending = await self._filter(received)
            if not batch and not pending:
                return [], []  # an empty long poll: let the poller re-check its place

    async def _receive(self, max_messages: int, wait: int) -> list[SqsMessage]:
        """One ReceiveMessage, retried with backoff while it fails; [] once stopping has begun.

        A call in flight when the mapping stops runs to its end with `shutdown_receives: finish`
        (the server would otherwise hand messages to a request nobody reads, hiding them for
        their visibility timeout), and what it returns is handled; with `cancel` it is cut off.
        """
        assert self._queue is not None
        lifecycle = self._rt.lifecycle
        messages: list[SqsMessage] = []
        queue = self._queue
        cut_off = contextlib.nullcontext if self._rt.finish_receives else lifecycle.intake

        async def receive() -> list[SqsMessage]:
            with cut_off():
                async with self._receive_lock or contextlib.nullcontext():
                    if lifecycle.stopping.is_set():
                        return []
                    return await queue.receive(max_messages, wait)
            return []  # cut off by shutdown

        messages = await retried(
            receive, self._on_source_error("ReceiveMessage"), retry_all=True, sleep=lifecycle.sleep
        )
        self._rt.readiness.set(self.name, True)
        self._polled.inc(len(messages))
        return messages

    async def _filter(self, messages: list[SqsMessage]) -> list[SqsMessage]:
        """Keep what FilterCriteria matches; delete the rest, as Lambda does (never invoked)."""
        if self._keep is None or not messages:
            return messages
        verdicts = [self._keep(m.record) for m in messages]
        kept = [m for m, keep in zip(messages, verdicts, strict=True) if keep]
        if len(kept) < len(messages):
            dropped = [m for m, keep in zip(messages, verdicts, strict=True) if not keep]
            self._rt.metrics.filtered_out_events.labels(*self._labels).inc(len(dropped))
            await self._delete(dropped, Batch(f"filtered-{new_request_id()}", tuple(dropped)))
        return kept

    async def _process(self, messages: list[SqsMessage]) -> None:
        if not (self._queue and self._queue.info.fifo):
            await self._invoke_and_settle(messages)  # one batch: no task group needed
            return
        groups = split_groups(messages)
        async with anyio.create_task_group() as tg:
            for group in groups:
                tg.start_soon(self._invoke_and_settle, group)

    async def _invoke_and_settle(self, messages: Sequence[SqsMessage]) -> None:
        # A batch is invoked once (a failure returns it to the queue), so its request id
        # names the batch too.
        request_id = new_request_id()
        batch = Batch(request_id, tuple(messages))
        result = await self._invocations.call(
            lambda: self._invoke(batch, request_id), batch.batch_id, len(messages)
        )
        if result is None:
            # Never reached the handler: nothing is deleted, so the messages come back after
            # their visibility timeout, as on Lambda; pollers back off.
            self._set_target(scaling.after_function_error(self._scale, self._policy))
            return
        outcome = interpret(result, self.config.report_batch_item_failures, batch.ids)
        if result.error is not None:
            self._set_target(scaling.after_function_error(self._scale, self._policy))
        done = settled([msg.message_id for msg in messages], outcome)
        fields: dict[str, Any] = {"batch_id": batch.batch_id, "request_id": request_id}
        if self._rt.log_records:
            fields["records"] = batch.event()["Records"]
        self._invocations.account(
            result, outcome, len(messages), len(messages) - len(done), "batch_invoked", fields
        )
        if outcome.verdict is not Verdict.FAILURE and done:
            succeeded = set(done)
            await self._delete([msg for msg in messages if msg.message_id in succeeded], batch)

    async def _invoke(self, batch: Batch, request_id: str) -> InvokeResult:
        """Invoke with the batch's event (kept invisible meanwhile with `visibility_heartbeat`).

        Raises InvokeError itself, not inside an exception group, when the event never reached
        the handler.
        """
        if not self.config.visibility_heartbeat:
            return await self._invoker.invoke(batch.event(), request_id)
        failure: InvokeError | None = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._heartbeat, batch)
            try:
                result = await self._invoker.invoke(batch.event(), request_id)
            except InvokeError as exc:
                failure = exc
            tg.cancel_scope.cancel()
        if failure is not None:
            raise failure
        return result

    async def _delete(self, messages: list[SqsMessage], batch: Batch) -> None:
        assert self._queue is not None
        # Deleting what succeeded is the last phase of shutdown too: shielded, but bounded.
        # A failed call is retried while the messages are still invisible: each delete that
        # gives up is a batch handled twice.
        with settlement() as scope:
            try:
                report = await self._queue.delete(
                    messages, self._on_source_error("DeleteMessageBatch")
                )
            except Exception as exc:
                self._log.error(
                    "delete_failed", batch_id=batch.batch_id, count=len(messages), **describe(exc)
                )
                self._rt.metrics.source_errors.labels(
                    *self._labels, "DeleteMessageBatch", describe(exc)["error_code"]
                ).inc()
                return
        if scope.cancelled_caught:
            self._log.error("delete_timed_out", batch_id=batch.batch_id, count=len(messages))
            return
        self._deleted.inc(report.deleted)
        for message_id, code in report.failed:
            self._log.warning(
                "delete_entry_failed",
                batch_id=batch.batch_id,
                message_id=message_id,
                error_code=code,
            )

    async def _heartbeat(self, batch: Batch) -> None:
        """Extension beyond Lambda: keep a long-running batch invisible while it is handled."""
        assert self._queue is not None
        timeout = max(self._queue.info.visibility_timeout, 1)
        while True:
            try:
                await self._queue.change_visibility(batch.messages, timeout)
            except Exception as exc:
                self._log.warning("heartbeat_failed", batch_id=batch.batch_id, **describe(exc))
            await anyio.sleep(max(timeout / 3, 1))
