"""Concurrency limits: the daemon's total and each function's reserved concurrency.

Like Lambda, an invocation over a limit is not queued: it is throttled (`Throttled`), counted in
poller_throttles_total, and the mapping retries it the way Lambda retries throttles (SQS: the
messages come back after their visibility timeout; streams: the batch is retried with backoff
and no retry is used).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from poller.errors import Throttled
from poller.invokers import Invoker
from poller.model import InvokeResult


class _Limit:
    """A count of invocations in flight against `tokens`; never waits (one event loop thread
    updates it, so a plain counter is exact)."""

    def __init__(self, tokens: int, name: str) -> None:
        self.name = name
        self.tokens = tokens
        self.in_use = 0

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        if self.tokens <= 0:
            raise Throttled(f"Rate Exceeded. ({self.name} is 0)")
        if self.in_use >= self.tokens:
            raise Throttled(f"Rate Exceeded. ({self.name}: {self.tokens} in use)")
        self.in_use += 1
        try:
            yield
        finally:
            self.in_use -= 1


class ConcurrencyGate:
    """The daemon-wide limit, shared by every function's `LimitedInvoker`."""

    def __init__(self, total: int) -> None:
        self._total = _Limit(total, "concurrency_limit")

    def limit(self, invoker: Invoker, reserved: int | None) -> LimitedInvoker:
        own = _Limit(reserved, "reserved_concurrency") if reserved is not None else None
        return LimitedInvoker(invoker, self._total, own)


class LimitedInvoker:
    """An invoker that throttles instead of waiting when a concurrency limit is full."""

    def __init__(self, inner: Invoker, total: _Limit, own: _Limit | None) -> None:
        self.function_name = inner.function_name
        self.inner = inner
        self._total = total
        self._own = own

    async def invoke(self, event: dict[str, Any], request_id: str) -> InvokeResult:
        with contextlib.ExitStack() as stack:
            if self._own is not None:
                stack.enter_context(self._own.held())
            stack.enter_context(self._total.held())
            return await self.inner.invoke(event, request_id)
        raise AssertionError("unreachable")
