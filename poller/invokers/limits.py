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

import anyio

from poller.errors import Throttled
from poller.invokers import Invoker
from poller.model import InvokeResult


class _Limit:
    def __init__(self, tokens: int, name: str) -> None:
        self.name = name
        self.tokens = tokens
        self._limiter = anyio.CapacityLimiter(tokens) if tokens > 0 else None

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        borrower = object()
        if self._limiter is None:
            raise Throttled(f"Rate Exceeded. ({self.name} is 0)")
        try:
            self._limiter.acquire_on_behalf_of_nowait(borrower)
        except anyio.WouldBlock:
            raise Throttled(f"Rate Exceeded. ({self.name}: {self.tokens} in use)") from None
        try:
            yield
        finally:
            self._limiter.release_on_behalf_of(borrower)


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
