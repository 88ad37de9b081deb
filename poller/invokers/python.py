"""In-process Python handlers: `module:function`, sync in bounded threads or `async def`."""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import importlib
import inspect
import json
import math
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import structlog

from poller.config.settings import FunctionConfig
from poller.errors import StartupError
from poller.invokers.context import FunctionIdentity, LambdaContext
from poller.invokers.handoff import call_in_worker
from poller.invokers.runtime_errors import exit_status, exited, timed_out
from poller.invokers.slots import Slots
from poller.model import FunctionError, InvokeResult

log = structlog.get_logger("poller.invoke")
_INTERNAL_DIRS = (str(Path(anyio.__file__).parent), str(Path(__file__).parent))


def load_handler(name: str, function: FunctionConfig, base_dir: Path) -> Callable[..., Any]:
    """Import the handler, as the runtime's init phase does; errors use the runtime's wording."""
    code_dir = (base_dir / function.code_uri).resolve() if function.code_uri else Path.cwd()
    if str(code_dir) not in sys.path:
        sys.path.insert(0, str(code_dir))
    module_name, attr = function.module_and_attr
    where = f"functions.{name}.handler"
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise StartupError(
            f"{where}: Runtime.ImportModuleError: Unable to import module '{module_name}': {exc}"
        ) from exc
    handler: Callable[..., Any] | None = getattr(module, attr, None)
    if not callable(handler):
        raise StartupError(
            f"{where}: Runtime.HandlerNotFound: Handler '{attr}' missing on module '{module_name}'"
        )
    return handler


def function_identity(name: str, function: FunctionConfig, function_arn: str) -> FunctionIdentity:
    today = dt.datetime.now(dt.UTC).strftime("%Y/%m/%d")
    return FunctionIdentity(
        function_name=name,
        invoked_function_arn=function_arn,
        memory_limit_in_mb=str(function.memory_size),
        log_group_name=f"/aws/lambda/{name}",
        log_stream_name=f"{today}/[$LATEST]{uuid.uuid4().hex}",
    )


def _stack_trace(exc: BaseException) -> tuple[str, ...]:
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith(_INTERNAL_DIRS)
    ]
    return tuple(traceback.format_list(frames))


# Integral Decimals up to this many digits are written as integers (see `_decimal`).
_INTEGER_DIGITS = 28


def _decimal(value: Any) -> Any:
    """A Decimal (DynamoDB numbers) as the JSON number the Python runtime writes: float(value),
    so `Infinity` for an infinite one and `NaN` for any NaN, signalling ones included.

    An integral value of at most 28 digits is written as an integer (`5`, as awslambdaric did
    while it used simplejson; it now writes `5.0`): poller's long-standing output, exact for ids
    and counts. A larger one goes through float like the rest, so a huge exponent never builds a
    huge int. Never raises for a Decimal, whatever the decimal context.
    """
    if isinstance(value, decimal.Decimal):
        if value.is_nan():
            return math.nan  # float() refuses a signalling NaN
        small = value.is_finite() and value.adjusted() < _INTEGER_DIGITS
        if small and value == value.to_integral_value():
            return int(value)
        return float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _marshal(value: Any) -> bytes | FunctionError:
    """The handler's return value as JSON, or Runtime.MarshalError: as the runtime's marshaller,
    any Exception (too deeply nested, a circular reference, a mapping whose items() raises).
    MemoryError propagates: a worker process treats it as running out of memory."""
    try:
        return json.dumps(value, default=_decimal).encode("utf-8")
    except MemoryError:
        raise
    except Exception as exc:  # what the runtime's marshaller catches
        return FunctionError(f"Unable to marshal response: {exc}", "Runtime.MarshalError")


def _is_cancellation(exc: BaseException) -> bool:
    """Whether `exc` is, or groups, the event loop's cancellation (the function timeout's)."""
    cancelled = anyio.get_cancelled_exc_class()
    if isinstance(exc, BaseExceptionGroup):
        return exc.subgroup(cancelled) is not None
    return isinstance(exc, cancelled)


@dataclass(frozen=True, slots=True)
class _Code:
    """The handler an invocation runs, and whether it is a coroutine function."""

    handler: Callable[..., Any]
    is_async: bool


async def _run(code: _Code, event: dict[str, Any], context: LambdaContext) -> Any:
    if code.is_async:
        return await code.handler(event, context)
    return await call_in_worker(functools.partial(code.handler, event, context))


class PythonInvoker:
    """Calls a handler in this process.

    Sync handlers run in long-lived worker threads (handoff.py), at most `max_threads` at
    once; the function timeout starts when the handler starts. At the deadline the invocation
    fails as Lambda's "Task timed out"; a thread cannot be killed, so a timed-out sync handler is
    abandoned and finishes on its own (use process isolation for a hard kill).

    `invoke` never raises for what the handler does: an exception, a BaseException other than
    cancellation (KeyboardInterrupt, GeneratorExit, sys.exit: Runtime.ExitError, as when the
    runtime process ends) and a value that cannot be marshalled all come back as function errors.
    """

    def __init__(
        self, handler: Callable[..., Any], identity: FunctionIdentity, function: FunctionConfig
    ) -> None:
        self.function_name = identity.function_name
        self._identity = identity
        self._timeout = float(function.timeout)
        self._threads = Slots(function.max_threads)
        self._code = _Code(handler, inspect.iscoroutinefunction(handler))

    def swap(self, handler: Callable[..., Any]) -> None:
        """Run `handler` from the next invocation on (a reloaded module's); invocations in
        flight finish with the handler they started with."""
        self._code = _Code(handler, inspect.iscoroutinefunction(handler))

    async def invoke(self, event: dict[str, Any], request_id: str) -> InvokeResult:
        code = self._code  # read once: a swap mid-invocation does not change this one
        if code.is_async:
            return await self._call(code, event, request_id)
        async with self._threads:
            return await self._call(code, event, request_id)

    async def _call(self, code: _Code, event: dict[str, Any], request_id: str) -> InvokeResult:
        started = time.monotonic()
        context = LambdaContext(
            self._identity, request_id, int((time.time() + self._timeout) * 1000)
        )
        outcome: bytes | FunctionError
        with anyio.move_on_after(self._timeout) as scope:
            try:
                outcome = _marshal(await _run(code, event, context))
            except Exception as exc:
                outcome = FunctionError(str(exc), type(exc).__name__, _stack_trace(exc))
            except BaseException as exc:
                if _is_cancellation(exc):
                    raise  # the timeout's cancel scope, or an outer one (shutdown), needs it
                # KeyboardInterrupt, GeneratorExit, a BaseException of the handler's own: on
                # Lambda the runtime process ends and the invocation fails with ExitError; here
                # it ends the invocation only, never the daemon.
                outcome = exited(request_id, exit_status(exc))
        duration = time.monotonic() - started
        if scope.cancelled_caught:
            outcome = timed_out(request_id, self._timeout)
        if isinstance(outcome, FunctionError):
            log.warning("handler_error", function=self.function_name, **outcome.payload(request_id))
            return InvokeResult(request_id, duration, error=outcome)
        return InvokeResult(request_id, duration, payload=outcome)
