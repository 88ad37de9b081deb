"""invokers.lambda_: Lambda's Invoke API through the real aioboto3 client, against a local server
speaking the API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from fake_targets import PYTHON_ERROR, FakeLambda, closed_port, serve

from poller.aws import Aws
from poller.config.settings import AwsConfig
from poller.errors import InvokeError, Throttled
from poller.invokers.lambda_ import LambdaInvoker, interpret, invoke_error
from poller.model import FunctionError
from poller.telemetry.metrics import Metrics

pytestmark = pytest.mark.anyio

REQUEST_ID = "8f507cfc-d2c1-4e62-b6b1-4f3e3d1c0a11"
EVENT: dict[str, Any] = {"Records": [{"messageId": "m1", "body": "hello"}]}
CREDENTIALS = {"aws_access_key_id": "x", "aws_secret_access_key": "y"}
DEEP_OBJECT = b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


def aws_at(url: str, metrics: Metrics | None = None) -> Aws:
    return Aws(AwsConfig(region="us-east-1", endpoint_url=url), metrics or Metrics(), CREDENTIALS)


@pytest.fixture
async def api() -> AsyncIterator[FakeLambda]:
    fake = FakeLambda()
    async with serve(fake.app()) as url:
        fake.url = url
        yield fake


async def test_payload_round_trips(api: FakeLambda) -> None:
    metrics = Metrics()
    async with LambdaInvoker("echo", aws_at(api.url, metrics)) as invoker:
        result = await invoker.invoke(EVENT, REQUEST_ID)

    assert result.error is None
    assert result.payload is not None
    assert json.loads(result.payload) == EVENT
    assert result.request_id == REQUEST_ID
    assert result.duration > 0
    assert api.qualifiers == [None]
    calls = metrics.registry.get_sample_value(
        "poller_aws_api_calls_total", {"service": "lambda", "operation": "Invoke"}
    )
    assert calls == 1


async def test_null_payload_is_none(api: FakeLambda) -> None:
    async with LambdaInvoker("none", aws_at(api.url)) as invoker:
        result = await invoker.invoke(EVENT, REQUEST_ID)

    assert result == result.__class__(REQUEST_ID, result.duration)


async def test_qualifier_is_sent(api: FakeLambda) -> None:
    async with LambdaInvoker("echo", aws_at(api.url), qualifier="live") as invoker:
        await invoker.invoke(EVENT, REQUEST_ID)

    assert api.qualifiers == ["live"]


@pytest.mark.parametrize("name", ["crash", "handled"])
async def test_function_error_comes_from_the_payload(api: FakeLambda, name: str) -> None:
    async with LambdaInvoker(name, aws_at(api.url)) as invoker:
        result = await invoker.invoke(EVENT, REQUEST_ID)

    assert result.payload is None
    assert result.error == FunctionError("boom", "ValueError", tuple(PYTHON_ERROR["stackTrace"]))


async def test_lambda_timeout_is_sandbox_timedout(api: FakeLambda) -> None:
    async with LambdaInvoker("slow", aws_at(api.url)) as invoker:
        result = await invoker.invoke(EVENT, REQUEST_ID)

    assert result.error is not None
    assert result.error.error_type == "Sandbox.Timedout"


@pytest.mark.parametrize(
    ("name", "error", "text"),
    [
        pytest.param("busy", Throttled, "TooManyRequestsException", id="throttled-429"),
        pytest.param("missing", InvokeError, "ResourceNotFoundException", id="not-found-404"),
        pytest.param("denied", InvokeError, "AccessDeniedException", id="denied-403"),
        pytest.param("broken", InvokeError, "ServiceException", id="service-500"),
    ],
)
async def test_api_errors_raise_once_without_client_retries(
    api: FakeLambda, name: str, error: type[InvokeError], text: str
) -> None:
    async with LambdaInvoker(name, aws_at(api.url)) as invoker:
        with pytest.raises(error, match=text) as caught:
            await invoker.invoke(EVENT, REQUEST_ID)

    assert caught.type is error
    assert api.calls[name] == 1


async def test_unreachable_endpoint_is_an_invoke_error() -> None:
    aws = aws_at(f"http://127.0.0.1:{closed_port()}")
    async with LambdaInvoker("echo", aws) as invoker:
        with pytest.raises(InvokeError, match="Could not connect") as caught:
            await invoker.invoke(EVENT, REQUEST_ID)

    assert caught.type is InvokeError


@asynccontextmanager
async def answering(answer: bytes) -> AsyncIterator[str]:
    """A server that reads one request, writes `answer` as is and hangs up; yields its URL."""

    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.lower().split(b"\r\n")
                if line.startswith(b"content-length:")
            ),
            0,
        )
        await reader.readexactly(length)
        writer.write(answer)
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(reply, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Amz-Executed-Version: $LATEST\r\n"


@pytest.mark.parametrize(
    ("answer", "text"),
    [
        pytest.param(
            HEAD + b'Content-Length: 100\r\n\r\n{"partial":',
            "Response payload is not completed",
            id="body-shorter-than-content-length",
        ),
        pytest.param(
            HEAD + b'Transfer-Encoding: chunked\r\n\r\n5\r\n{"par\r\n',
            "Response payload is not completed",
            id="chunked-body-cut-off",
        ),
        pytest.param(
            HEAD + b'Transfer-Encoding: chunked\r\n\r\nzz\r\n{"par\r\n0\r\n\r\n',
            "Invalid character in chunk size",
            id="chunked-body-malformed",
        ),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Ty", "Connection was closed", id="head-cut-off"),
        pytest.param(b"", "Connection was closed", id="no-answer"),
    ],
)
async def test_broken_response_is_an_invoke_error(answer: bytes, text: str) -> None:
    # The connection failed mid-answer: retried as an invocation that never reached the function.
    async with answering(answer) as url, LambdaInvoker("orders", aws_at(url)) as invoker:
        with pytest.raises(InvokeError, match=text) as caught:
            await invoker.invoke(EVENT, REQUEST_ID)

    assert caught.type is InvokeError
    assert str(caught.value).startswith("orders: Invoke failed: ")


async def test_invoke_before_start_is_a_bug(api: FakeLambda) -> None:
    invoker = LambdaInvoker("echo", aws_at(api.url))
    with pytest.raises(RuntimeError, match="start"):
        await invoker.invoke(EVENT, REQUEST_ID)
    await invoker.close()


async def test_restart_after_close(api: FakeLambda) -> None:
    invoker = LambdaInvoker("echo", aws_at(api.url))
    for _ in range(2):
        await invoker.start()
        assert (await invoker.invoke(EVENT, REQUEST_ID)).payload is not None
        await invoker.close()
    assert api.calls["echo"] == 2


# --- the pure parts ---------------------------------------------------------------------------


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "Invoke")


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        pytest.param(client_error("TooManyRequestsException"), Throttled, id="too-many"),
        pytest.param(client_error("EC2ThrottledException"), Throttled, id="ec2-throttled"),
        pytest.param(client_error("ThrottlingException"), Throttled, id="throttling"),
        pytest.param(client_error("ResourceNotFoundException"), InvokeError, id="not-found"),
        pytest.param(client_error("RequestTooLargeException"), InvokeError, id="too-large"),
        pytest.param(client_error("ENILimitReachedException"), InvokeError, id="eni"),
        pytest.param(EndpointConnectionError(endpoint_url="http://x"), InvokeError, id="network"),
    ],
)
def test_invoke_error(exc: BaseException, expected: type[InvokeError]) -> None:
    error = invoke_error("orders", exc)

    assert type(error) is expected
    assert str(error).startswith("orders: Invoke failed: ")


@pytest.mark.parametrize(
    ("function_error", "body", "expected"),
    [
        pytest.param(None, b'{"a": 1}', b'{"a": 1}', id="payload"),
        pytest.param(None, b"null", None, id="null"),
        pytest.param(None, b"", None, id="empty"),
        # Lambda never reads a returned error-shaped document as an error: only the header does.
        pytest.param(
            None,
            b'{"errorType": "E", "errorMessage": "m"}',
            b'{"errorType": "E", "errorMessage": "m"}',
            id="error-shaped-return-value",
        ),
        pytest.param(
            "Unhandled",
            b'{"errorType": "E", "errorMessage": "m", "stackTrace": ["a", "b"]}',
            FunctionError("m", "E", ("a", "b")),
            id="unhandled",
        ),
        pytest.param(
            "Unhandled",
            b'{"errorMessage": "RequestId: r Error: Runtime exited with error: signal: killed"}',
            FunctionError(
                "RequestId: r Error: Runtime exited with error: signal: killed", "Unhandled"
            ),
            id="untyped",
        ),
        # nested too deeply to parse: the body is the message, as for any non-document body
        pytest.param(
            "Unhandled", DEEP_OBJECT, FunctionError(DEEP_OBJECT.decode(), "Unhandled"), id="deep"
        ),
    ],
)
def test_interpret(
    function_error: str | None, body: bytes, expected: bytes | FunctionError | None
) -> None:
    assert interpret(function_error, body) == expected
