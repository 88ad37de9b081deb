"""invokers.python: calling in-process handlers as the Python runtime does (§2, §5.8)."""

from __future__ import annotations

import asyncio
import decimal
import json
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest
from structlog.testing import capture_logs

from poller.config.settings import FunctionConfig
from poller.errors import StartupError
from poller.invokers.context import LambdaContext
from poller.invokers.python import PythonInvoker, function_identity, load_handler
from poller.model import InvokeResult

pytestmark = pytest.mark.anyio

FUNCTION = FunctionConfig(handler="x:y", timeout=1)
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:orders"
EVENT: dict[str, Any] = {"Records": [{"messageId": "m1", "body": "hello"}]}
REQUEST_ID = "8f507cfc-d2c1-4e62-b6b1-4f3e3d1c0a11"


def invoker(handler: Callable[..., Any], function: FunctionConfig = FUNCTION) -> PythonInvoker:
    return PythonInvoker(handler, function_identity("orders", function, FUNCTION_ARN), function)


async def call(handler: Callable[..., Any], event: dict[str, Any] = EVENT) -> InvokeResult:
    return await invoker(handler).invoke(event, REQUEST_ID)


# --- handlers --------------------------------------------------------------------------------


def sync_echo(event: dict[str, Any], context: LambdaContext) -> Any:
    return {"records": len(event["Records"]), "first": event["Records"][0]["body"]}


async def async_echo(event: dict[str, Any], context: LambdaContext) -> Any:
    await anyio.lowlevel.checkpoint()
    return {"records": len(event["Records"]), "first": event["Records"][0]["body"]}


def sync_none(event: dict[str, Any], context: LambdaContext) -> None:
    return None


async def async_none(event: dict[str, Any], context: LambdaContext) -> None:
    return None


def sync_failures(event: dict[str, Any], context: LambdaContext) -> Any:
    return {"batchItemFailures": [{"itemIdentifier": "m1"}]}


def sync_set(event: dict[str, Any], context: LambdaContext) -> Any:
    return {1, 2}


async def async_object(event: dict[str, Any], context: LambdaContext) -> Any:
    return object()


def sync_decimal(event: dict[str, Any], context: LambdaContext) -> Any:
    return {"pi": decimal.Decimal("3.14159")}


def sync_raises(event: dict[str, Any], context: LambdaContext) -> Any:
    raise ValueError("bad record m1")


async def async_raises(event: dict[str, Any], context: LambdaContext) -> Any:
    await anyio.lowlevel.checkpoint()
    raise KeyError("missing")


def _helper_that_fails(value: int) -> int:
    raise ZeroDivisionError(f"cannot divide {value}")


def sync_raises_nested(event: dict[str, Any], context: LambdaContext) -> Any:
    return _helper_that_fails(7)


class CustomError(Exception):
    pass


async def async_custom(event: dict[str, Any], context: LambdaContext) -> Any:
    raise CustomError("custom")


def sync_context(event: dict[str, Any], context: LambdaContext) -> Any:
    return _describe(context)


async def async_context(event: dict[str, Any], context: LambdaContext) -> Any:
    return _describe(context)


def _describe(context: LambdaContext) -> dict[str, Any]:
    return {
        "function_name": context.function_name,
        "aws_request_id": context.aws_request_id,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "function_version": context.function_version,
        "log_group_name": context.log_group_name,
        "remaining": context.get_remaining_time_in_millis(),
    }


# --- results -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("handler", "payload"),
    [
        pytest.param(sync_echo, b'{"records": 1, "first": "hello"}', id="sync"),
        pytest.param(async_echo, b'{"records": 1, "first": "hello"}', id="async"),
        pytest.param(sync_none, b"null", id="sync-none"),
        pytest.param(async_none, b"null", id="async-none"),
        pytest.param(
            sync_failures, b'{"batchItemFailures": [{"itemIdentifier": "m1"}]}', id="partial"
        ),
        pytest.param(lambda e, c: "", b'""', id="empty-string"),
        pytest.param(lambda e, c: [], b"[]", id="empty-list"),
        pytest.param(lambda e, c: 3.5, b"3.5", id="number"),
    ],
)
async def test_return_value_is_marshalled(handler: Callable[..., Any], payload: bytes) -> None:
    result = await call(handler)
    assert result.error is None
    assert result.payload == payload
    assert result.request_id == REQUEST_ID
    assert 0 <= result.duration < 1


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        pytest.param(
            sync_set,
            "Unable to marshal response: Object of type set is not JSON serializable",
            id="sync-set",
        ),
        pytest.param(
            async_object,
            "Unable to marshal response: Object of type object is not JSON serializable",
            id="async-object",
        ),
    ],
)
async def test_unserialisable_return_is_marshal_error(
    handler: Callable[..., Any], message: str
) -> None:
    result = await call(handler)
    assert result.payload is None
    assert result.error is not None
    assert result.error.error_type == "Runtime.MarshalError"
    assert result.error.error_message == message
    assert result.error.stack_trace == ()


async def test_decimal_is_marshalled_like_the_lambda_runtime() -> None:
    result = await call(sync_decimal)
    assert result.error is None
    assert result.payload == b'{"pi": 3.14159}'


# Decimal → JSON: float(value) as the runtime, integral values up to 28 digits as integers.
DECIMAL_CASES = [
    pytest.param("3.14159", b"3.14159", id="fraction"),
    pytest.param("1.50", b"1.5", id="trailing-zero"),
    pytest.param("5", b"5", id="integer"),
    pytest.param("5.000", b"5", id="integral-with-point"),
    pytest.param("1E+2", b"100", id="integral-exponent"),
    pytest.param("-0", b"0", id="negative-zero"),
    pytest.param("9" * 28, b"9" * 28, id="28-digits-exact"),
    pytest.param("1.5E+27", b"1500000000000000000000000000", id="28-digit-exponent"),
    pytest.param("1E-999999999999999999", b"0.0", id="smallest-exponent"),
    pytest.param("123456789012345678901234567890", b"1.2345678901234568e+29", id="30-digits"),
    pytest.param("1E+28", b"1e+28", id="29-digit-exponent"),
    pytest.param("12345678901234567890123456789.5", b"1.2345678901234568e+28", id="long-fraction"),
    pytest.param("1E+999999999999999999", b"Infinity", id="largest-exponent"),
    pytest.param("Infinity", b"Infinity", id="infinity"),
    pytest.param("-Infinity", b"-Infinity", id="minus-infinity"),
    pytest.param("NaN", b"NaN", id="nan"),
    pytest.param("-NaN", b"NaN", id="minus-nan"),
    pytest.param("sNaN", b"NaN", id="signalling-nan"),
]


@pytest.mark.parametrize(("text", "number"), DECIMAL_CASES)
async def test_decimal_values(text: str, number: bytes) -> None:
    result = await call(lambda e, c: {"n": decimal.Decimal(text)})
    assert result.error is None
    assert result.payload == b'{"n": ' + number + b"}"


@pytest.mark.parametrize(("text", "number"), DECIMAL_CASES)
async def test_decimal_values_whatever_the_decimal_context(text: str, number: bytes) -> None:
    # An async handler may change the event loop thread's context, where marshalling runs.
    async def handler(event: dict[str, Any], context: LambdaContext) -> Any:
        return {"n": decimal.Decimal(text)}

    with decimal.localcontext() as narrow:
        narrow.prec = 2
        narrow.traps[decimal.Inexact] = True
        result = await call(handler)
    assert result.error is None
    assert result.payload == b'{"n": ' + number + b"}"


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


class _BrokenMapping(dict[str, Any]):
    def items(self) -> Any:
        raise RuntimeError("items() failed")


def _circular() -> dict[str, Any]:
    value: dict[str, Any] = {}
    value["self"] = value
    return value


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(
            lambda: _nested(5000),
            "maximum recursion depth exceeded while encoding a JSON object",
            id="nested-too-deeply",
        ),
        pytest.param(
            lambda: {"a": _nested(5000)},
            "maximum recursion depth exceeded while encoding a JSON object",
            id="nested-in-an-object",
        ),
        pytest.param(lambda: _BrokenMapping(a=1), "items() failed", id="mapping-items-raises"),
        pytest.param(_circular, "Circular reference detected", id="circular"),
    ],
)
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_any_marshalling_failure_is_a_marshal_error(
    make: Callable[[], Any], message: str, kind: str
) -> None:
    def sync_handler(event: dict[str, Any], context: LambdaContext) -> Any:
        return make()

    async def async_handler(event: dict[str, Any], context: LambdaContext) -> Any:
        return make()

    result = await call(sync_handler if kind == "sync" else async_handler)
    assert result.payload is None
    assert result.error is not None
    assert result.error.error_type == "Runtime.MarshalError"
    assert result.error.error_message == f"Unable to marshal response: {message}"
    assert result.error.stack_trace == ()


@pytest.mark.parametrize(
    ("handler", "error_type", "message", "frame"),
    [
        pytest.param(sync_raises, "ValueError", "bad record m1", "in sync_raises", id="sync"),
        pytest.param(async_raises, "KeyError", "'missing'", "in async_raises", id="async"),
        pytest.param(
            sync_raises_nested,
            "ZeroDivisionError",
            "cannot divide 7",
            "in _helper_that_fails",
            id="nested",
        ),
        pytest.param(async_custom, "CustomError", "custom", "in async_custom", id="custom-class"),
    ],
)
async def test_exception_becomes_error_payload(
    handler: Callable[..., Any], error_type: str, message: str, frame: str
) -> None:
    result = await call(handler)
    assert result.payload is None
    error = result.error
    assert error is not None
    assert (error.error_type, error.error_message) == (error_type, message)
    payload = error.payload(REQUEST_ID)
    assert list(payload) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert payload["errorMessage"] == message
    assert payload["errorType"] == error_type
    assert payload["requestId"] == REQUEST_ID
    trace = payload["stackTrace"]
    assert isinstance(trace, list)
    assert all(isinstance(line, str) for line in trace)
    text = "".join(trace)
    assert f'File "{__file__}"' in text
    assert frame in text
    assert "anyio" not in text
    assert "poller/invokers" not in text
    assert "asyncio" not in text
    json.dumps(payload)


class _HandlersOwn(BaseException):
    pass


def _raises(make: Callable[[], BaseException]) -> Callable[..., Any]:
    def handler(event: dict[str, Any], context: LambdaContext) -> None:
        raise make()

    return handler


def _async_raises(make: Callable[[], BaseException]) -> Callable[..., Any]:
    async def handler(event: dict[str, Any], context: LambdaContext) -> None:
        await anyio.lowlevel.checkpoint()
        raise make()

    return handler


@pytest.mark.parametrize("wrap", [_raises, _async_raises], ids=["sync", "async"])
@pytest.mark.parametrize(
    ("make", "status"),
    [
        # sys.exit(code) raises SystemExit(code): the status CPython would exit with.
        pytest.param(lambda: SystemExit(), "exit status 0", id="sys-exit-none"),
        pytest.param(lambda: SystemExit(0), "exit status 0", id="sys-exit-zero"),
        pytest.param(lambda: SystemExit(3), "exit status 3", id="sys-exit-three"),
        pytest.param(lambda: SystemExit(256 + 7), "exit status 7", id="sys-exit-wraps"),
        pytest.param(lambda: SystemExit("bye"), "exit status 1", id="sys-exit-text"),
        pytest.param(lambda: SystemExit(True), "exit status 1", id="sys-exit-bool"),
        # An uncaught KeyboardInterrupt ends CPython by SIGINT ...
        pytest.param(KeyboardInterrupt, "signal: interrupt", id="keyboard-interrupt"),
        # ... any other uncaught BaseException with status 1, after its traceback.
        pytest.param(GeneratorExit, "exit status 1", id="generator-exit"),
        pytest.param(_HandlersOwn, "exit status 1", id="own-base-exception"),
        pytest.param(
            lambda: BaseExceptionGroup("group", [KeyboardInterrupt()]),
            "exit status 1",
            id="group-of-keyboard-interrupt",
        ),
        pytest.param(
            lambda: BaseExceptionGroup("group", [SystemExit(3)]),
            "exit status 1",
            id="group-of-system-exit",
        ),
    ],
)
async def test_base_exception_fails_the_invocation_as_runtime_exit_error(
    wrap: Callable[[Callable[[], BaseException]], Callable[..., Any]],
    make: Callable[[], BaseException],
    status: str,
) -> None:
    # Lambda's runtime process would end; here only the invocation does, in Lambda's words.
    result = await call(wrap(make))
    assert result.payload is None
    assert result.error is not None
    assert result.error.error_type == "Runtime.ExitError"
    assert result.error.error_message == (
        f"RequestId: {REQUEST_ID} Error: Runtime exited with error: {status}"
    )
    # The invoker carries on.
    assert (await call(sync_none)).payload == b"null"


async def test_an_outer_cancellation_is_not_a_function_error() -> None:
    # Shutdown cancels in-flight invocations from outside: that must reach its scope.
    async def slow(event: dict[str, Any], context: LambdaContext) -> Any:
        await anyio.sleep(30)

    results: list[InvokeResult] = []
    with anyio.move_on_after(0.1) as outer:
        results.append(await call(slow))
    assert outer.cancelled_caught
    assert results == []


async def test_timeout_inside_a_handlers_task_group_is_a_timeout() -> None:
    async def fan_out(event: dict[str, Any], context: LambdaContext) -> Any:
        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.sleep, 30)
            tg.start_soon(anyio.sleep, 30)

    result = await call(fan_out)
    assert result.error is not None
    assert result.error.error_type == "Sandbox.Timedout"


async def test_nested_stack_trace_lists_handler_then_helper() -> None:
    result = await call(sync_raises_nested)
    assert result.error is not None
    frames = [re.search(r"in (\w+)\n", line) for line in result.error.stack_trace]
    assert [m.group(1) for m in frames if m] == ["sync_raises_nested", "_helper_that_fails"]


async def test_error_is_logged() -> None:
    with capture_logs() as logs:
        await call(sync_raises)
    assert len(logs) == 1
    entry = logs[0]
    assert entry["event"] == "handler_error"
    assert entry["log_level"] == "warning"
    assert entry["function"] == "orders"
    assert entry["errorType"] == "ValueError"
    assert entry["requestId"] == REQUEST_ID


# --- timeout -------------------------------------------------------------------------------

TIMEOUT_MESSAGE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
    + re.escape(REQUEST_ID)
    + r" Task timed out after 1\.00 seconds$"
)


async def test_async_timeout() -> None:
    async def slow(event: dict[str, Any], context: LambdaContext) -> Any:
        await anyio.sleep(30)

    started = time.monotonic()
    result = await call(slow)
    elapsed = time.monotonic() - started
    assert result.payload is None
    assert result.error is not None
    assert result.error.error_type == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in result.error.error_message
    assert TIMEOUT_MESSAGE.match(result.error.error_message)
    assert 0.9 <= elapsed < 1.5
    assert 0.9 <= result.duration < 1.5


async def test_sync_timeout_abandons_thread() -> None:
    release = threading.Event()
    finished = threading.Event()

    def stuck(event: dict[str, Any], context: LambdaContext) -> Any:
        release.wait(10)
        finished.set()
        return "late"

    try:
        result = await call(stuck)
    finally:
        release.set()
    assert result.error is not None
    assert result.error.error_type == "Sandbox.Timedout"
    assert TIMEOUT_MESSAGE.match(result.error.error_message)
    assert await anyio.to_thread.run_sync(finished.wait, 5)


# --- context -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "handler",
    [pytest.param(sync_context, id="sync"), pytest.param(async_context, id="async")],
)
async def test_context_is_passed(handler: Callable[..., Any]) -> None:
    result = await call(handler)
    assert result.payload is not None
    described = json.loads(result.payload)
    remaining = described.pop("remaining")
    assert described == {
        "function_name": "orders",
        "aws_request_id": REQUEST_ID,
        "invoked_function_arn": FUNCTION_ARN,
        "memory_limit_in_mb": "128",
        "function_version": "$LATEST",
        "log_group_name": "/aws/lambda/orders",
    }
    assert 500 < remaining <= 1000


async def test_event_is_passed_unchanged() -> None:
    seen: list[Any] = []

    def capture(event: dict[str, Any], context: LambdaContext) -> None:
        seen.append(event)

    await call(capture)
    assert seen == [EVENT]


def test_function_identity() -> None:
    function = FunctionConfig(handler="app:handler", memory_size=512)
    identity = function_identity("orders", function, FUNCTION_ARN)
    assert identity.function_name == "orders"
    assert identity.invoked_function_arn == FUNCTION_ARN
    assert identity.memory_limit_in_mb == "512"
    assert identity.log_group_name == "/aws/lambda/orders"
    assert identity.function_version == "$LATEST"
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", identity.log_stream_name)


# --- concurrency ---------------------------------------------------------------------------


async def test_sync_handlers_are_bounded_by_max_threads() -> None:
    lock = threading.Lock()
    running = 0
    peak = 0

    def counted(event: dict[str, Any], context: LambdaContext) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1

    target = invoker(counted, FunctionConfig(handler="x:y", timeout=1, max_threads=2))
    async with anyio.create_task_group() as tg:
        for i in range(5):
            tg.start_soon(target.invoke, EVENT, f"r{i}")
    assert peak == 2


async def test_async_handlers_run_concurrently_on_the_event_loop() -> None:
    running = 0
    peak = 0
    loops: set[int] = set()

    async def counted(event: dict[str, Any], context: LambdaContext) -> None:
        nonlocal running, peak
        loops.add(id(asyncio.get_running_loop()))
        running += 1
        peak = max(peak, running)
        await anyio.sleep(0.05)
        running -= 1

    target = invoker(counted, FunctionConfig(handler="x:y", timeout=1, max_threads=1))
    async with anyio.create_task_group() as tg:
        for i in range(4):
            tg.start_soon(target.invoke, EVENT, f"r{i}")
    assert peak == 4
    assert loops == {id(asyncio.get_running_loop())}


# --- load_handler --------------------------------------------------------------------------


@pytest.fixture
def module_name(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A module name no other test uses; sys.path and sys.modules are restored afterwards."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    name = f"handler_{uuid.uuid4().hex}"
    yield name
    sys.modules.pop(name, None)


def _function(handler: str, code_uri: str | None = "src") -> FunctionConfig:
    return FunctionConfig(handler=handler, code_uri=code_uri)


def test_load_handler(tmp_path: Path, module_name: str) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / f"{module_name}.py").write_text(
        "def handler(event, context):\n    return {'ok': event}\n", encoding="utf-8"
    )
    handler = load_handler("fn", _function(f"{module_name}:handler"), tmp_path)
    assert handler({"a": 1}, None) == {"ok": {"a": 1}}
    assert str((tmp_path / "src").resolve()) in sys.path


def test_load_handler_lambda_dot_form(tmp_path: Path, module_name: str) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / f"{module_name}.py").write_text(
        "def lambda_handler(event, context):\n    return 'dot'\n", encoding="utf-8"
    )
    handler = load_handler("fn", _function(f"{module_name}.lambda_handler"), tmp_path)
    assert handler({}, None) == "dot"


def test_load_handler_missing_module(tmp_path: Path, module_name: str) -> None:
    (tmp_path / "src").mkdir()
    with pytest.raises(StartupError) as info:
        load_handler("fn", _function(f"{module_name}:handler"), tmp_path)
    assert str(info.value) == (
        f"functions.fn.handler: Runtime.ImportModuleError: Unable to import module "
        f"'{module_name}': No module named '{module_name}'"
    )


def test_load_handler_module_raises_on_import(tmp_path: Path, module_name: str) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / f"{module_name}.py").write_text(
        "raise RuntimeError('no config')\n", encoding="utf-8"
    )
    with pytest.raises(StartupError) as info:
        load_handler("fn", _function(f"{module_name}:handler"), tmp_path)
    assert str(info.value) == (
        f"functions.fn.handler: Runtime.ImportModuleError: Unable to import module "
        f"'{module_name}': no config"
    )


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("def other(event, context):\n    return 1\n", id="missing-attribute"),
        pytest.param("handler = 5\n", id="not-callable"),
    ],
)
def test_load_handler_handler_not_found(tmp_path: Path, module_name: str, source: str) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / f"{module_name}.py").write_text(source, encoding="utf-8")
    with pytest.raises(StartupError) as info:
        load_handler("orders", _function(f"{module_name}:handler"), tmp_path)
    assert str(info.value) == (
        f"functions.orders.handler: Runtime.HandlerNotFound: Handler 'handler' missing on "
        f"module '{module_name}'"
    )
