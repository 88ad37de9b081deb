"""invokers.http: a function behind the Runtime Interface Emulator's HTTP protocol, against a real
local server speaking it."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from aiohttp import web
from fake_targets import PYTHON_ERROR, RIE_ROUTE, FakeRie, closed_port, serve

from poller.errors import InvokeError, Throttled
from poller.invokers.http import RIE_PATH, HttpInvoker, interpret
from poller.model import FunctionError

pytestmark = pytest.mark.anyio

REQUEST_ID = "8f507cfc-d2c1-4e62-b6b1-4f3e3d1c0a11"
EVENT: dict[str, Any] = {"Records": [{"messageId": "m1", "body": "hello"}]}


@pytest.fixture
async def rie() -> AsyncIterator[tuple[FakeRie, str]]:
    fake = FakeRie()
    async with serve(fake.app()) as base:
        yield fake, base + RIE_ROUTE


@pytest.fixture
async def invoker(rie: tuple[FakeRie, str]) -> AsyncIterator[HttpInvoker]:
    async with HttpInvoker("orders", rie[1], timeout=2) as target:
        yield target


def test_default_path_is_the_emulators() -> None:
    assert RIE_PATH == RIE_ROUTE


async def test_payload_round_trips(invoker: HttpInvoker, rie: tuple[FakeRie, str]) -> None:
    result = await invoker.invoke(EVENT, REQUEST_ID)

    assert result.error is None
    assert result.payload is not None
    assert json.loads(result.payload) == EVENT
    assert result.request_id == REQUEST_ID
    assert result.duration >= 0
    headers, _ = rie[0].requests[0]
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Amz-Request-Id"] == REQUEST_ID


@pytest.mark.parametrize("do", ["raise", "raise_header"])
async def test_function_error_as_the_emulator_reports_it(invoker: HttpInvoker, do: str) -> None:
    result = await invoker.invoke({"do": do}, REQUEST_ID)

    assert result.payload is None
    assert result.error == FunctionError("boom", "ValueError", tuple(PYTHON_ERROR["stackTrace"]))


async def test_emulator_timeout_text_is_a_timeout(invoker: HttpInvoker) -> None:
    result = await invoker.invoke({"do": "rie_timeout"}, REQUEST_ID)

    assert result.error == FunctionError("Task timed out after 3.00 seconds", "Sandbox.Timedout")


@pytest.mark.parametrize(
    ("do", "payload"),
    [
        pytest.param("empty", None, id="empty-body"),
        pytest.param("null", None, id="null"),
        pytest.param(
            "lookalike", b'{"errorType": "x", "errorMessage": "y", "id": 1}', id="lookalike"
        ),
    ],
)
async def test_payloads(invoker: HttpInvoker, do: str, payload: bytes | None) -> None:
    result = await invoker.invoke({"do": do}, REQUEST_ID)

    assert result.error is None
    assert result.payload == payload


async def test_slow_handler_times_out_as_lambda_does(rie: tuple[FakeRie, str]) -> None:
    async with HttpInvoker("orders", rie[1], timeout=0.3) as invoker:
        started = time.monotonic()
        result = await invoker.invoke({"do": "sleep", "seconds": 10}, REQUEST_ID)
        elapsed = time.monotonic() - started

    assert result.error is not None
    assert result.error.error_type == "Sandbox.Timedout"
    assert result.error.error_message.endswith(f"{REQUEST_ID} Task timed out after 0.30 seconds")
    assert 0.3 <= elapsed < 1.3
    assert result.duration >= 0.3


async def test_fast_enough_handler_is_not_timed_out(rie: tuple[FakeRie, str]) -> None:
    async with HttpInvoker("orders", rie[1], timeout=2) as invoker:
        result = await invoker.invoke({"do": "sleep", "seconds": 0.2}, REQUEST_ID)

    assert result.payload == b'{"slept": true}'


@pytest.mark.parametrize(
    ("do", "error", "text"),
    [
        pytest.param("throttle", Throttled, "HTTP 429", id="429"),
        pytest.param("fail", InvokeError, "HTTP 500: internal failure", id="500"),
        pytest.param("busy", InvokeError, "HTTP 400: invoke already in progress", id="400"),
        pytest.param("reset", InvokeError, "ServerDisconnectedError", id="reset"),
    ],
)
async def test_target_faults_raise(
    invoker: HttpInvoker, do: str, error: type[InvokeError], text: str
) -> None:
    with pytest.raises(error, match=text) as caught:
        await invoker.invoke({"do": do}, REQUEST_ID)

    assert caught.type is error


async def test_connection_refused_is_an_invoke_error_not_a_function_error() -> None:
    url = f"http://127.0.0.1:{closed_port()}{RIE_PATH}"
    async with HttpInvoker("orders", url, timeout=2) as invoker:
        with pytest.raises(InvokeError, match="Cannot connect") as caught:
            await invoker.invoke(EVENT, REQUEST_ID)

    assert caught.type is InvokeError


async def test_concurrent_invokes_share_one_session(
    invoker: HttpInvoker, rie: tuple[FakeRie, str]
) -> None:
    results: list[bytes | None] = []

    async def one(n: int) -> None:
        results.append((await invoker.invoke({"n": n}, f"r{n}")).payload)

    async with anyio.create_task_group() as tg:
        for n in range(8):
            tg.start_soon(one, n)

    assert sorted(json.loads(p or b"")["n"] for p in results) == list(range(8))
    assert len(rie[0].requests) == 8


async def test_close_is_idempotent_and_reopens_on_use(rie: tuple[FakeRie, str]) -> None:
    invoker = HttpInvoker("orders", rie[1], timeout=2)
    await invoker.close()
    assert (await invoker.invoke(EVENT, REQUEST_ID)).payload is not None
    await invoker.close()
    await invoker.close()


# --- interpret: the emulator's response table, without a server -------------------------------


ERROR_DOC = json.dumps(PYTHON_ERROR).encode()
DEEP_OBJECT = b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
DEEP_ERROR = (
    b'{"errorType": "E", "errorMessage": "m", "stackTrace": '
    + b"[" * 100_000
    + b"]" * 100_000
    + b"}"
)


@pytest.mark.parametrize(
    ("status", "header", "body", "expected"),
    [
        pytest.param(200, None, b'{"ok": 1}', b'{"ok": 1}', id="payload"),
        pytest.param(200, None, b'"text"', b'"text"', id="json-string"),
        pytest.param(200, None, b"", None, id="empty"),
        pytest.param(200, None, b"null\n", None, id="null"),
        pytest.param(202, None, b"[1]", b"[1]", id="other-2xx"),
        pytest.param(
            200,
            None,
            ERROR_DOC,
            FunctionError("boom", "ValueError", tuple(PYTHON_ERROR["stackTrace"])),
            id="error-document",
        ),
        pytest.param(
            200,
            "Unhandled",
            b'{"errorMessage": "out of memory"}',
            FunctionError("out of memory", "Unhandled"),
            id="header-without-type",
        ),
        pytest.param(
            200,
            "Unhandled",
            b"Runtime exited with error: signal: killed",
            FunctionError("Runtime exited with error: signal: killed", "Unhandled"),
            id="header-text-body",
        ),
        pytest.param(
            200,
            None,
            b"Task timed out after 3.00 seconds",
            FunctionError("Task timed out after 3.00 seconds", "Sandbox.Timedout"),
            id="emulator-timeout",
        ),
        pytest.param(
            200,
            None,
            b'{"errorType": "x", "errorMessage": "y", "extra": 1}',
            b'{"errorType": "x", "errorMessage": "y", "extra": 1}',
            id="lookalike-payload",
        ),
        pytest.param(
            200,
            None,
            b'{"errorMessage": "only a message"}',
            b'{"errorMessage": "only a message"}',
            id="message-only-payload",
        ),
        # nested too deeply to parse: treated as any body that is not a JSON object
        pytest.param(200, None, DEEP_OBJECT, DEEP_OBJECT, id="deep-payload"),
        pytest.param(
            200,
            "Unhandled",
            DEEP_OBJECT,
            FunctionError(DEEP_OBJECT.decode(), "Unhandled"),
            id="deep-error-document",
        ),
        pytest.param(
            200,
            "Unhandled",
            DEEP_ERROR,
            FunctionError(DEEP_ERROR.decode(), "Unhandled"),
            id="deep-inside-error-document",
        ),
    ],
)
def test_interpret(
    status: int, header: str | None, body: bytes, expected: bytes | FunctionError | None
) -> None:
    assert interpret(status, header, body) == expected


@pytest.mark.parametrize(
    ("status", "error"),
    [
        pytest.param(429, Throttled, id="429"),
        pytest.param(500, InvokeError, id="500"),
        pytest.param(504, InvokeError, id="504"),
        pytest.param(404, InvokeError, id="404"),
        pytest.param(413, InvokeError, id="413"),
        pytest.param(302, InvokeError, id="302"),
    ],
)
def test_interpret_raises(status: int, error: type[InvokeError]) -> None:
    with pytest.raises(error, match=f"HTTP {status}: x{{200}}$") as caught:
        interpret(status, None, b"x" * 500)

    assert caught.type is error


@pytest.mark.parametrize(
    ("headers", "payload", "error"),
    [
        pytest.param({}, DEEP_OBJECT, None, id="payload"),
        pytest.param(
            {"X-Amz-Function-Error": "Unhandled"},
            None,
            FunctionError(DEEP_OBJECT.decode(), "Unhandled"),
            id="function-error",
        ),
    ],
)
async def test_deeply_nested_answer_is_read_like_any_other(
    headers: dict[str, str], payload: bytes | None, error: FunctionError | None
) -> None:
    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=DEEP_OBJECT, content_type="application/json", headers=headers)

    app = web.Application()
    app.router.add_post(RIE_ROUTE, answer)
    async with serve(app) as base, HttpInvoker("orders", base + RIE_ROUTE, timeout=2) as target:
        result = await target.invoke(EVENT, REQUEST_ID)
    assert (result.payload, result.error) == (payload, error)


def test_emulator_502_is_a_runtime_exit_error() -> None:
    # The RIE answers 502 when the runtime process died mid-invoke: the event reached the
    # function, so it is a function error (Lambda's Runtime.ExitError), not a retryable fault.
    result = interpret(502, None, b"runtime exited")
    assert isinstance(result, FunctionError)
    assert result.error_type == "Runtime.ExitError"
