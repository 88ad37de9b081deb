"""Functions behind an HTTP endpoint speaking the Lambda Runtime Interface Emulator's protocol."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import aiohttp
import anyio
import structlog

from poller.errors import InvokeError, Throttled
from poller.events import json_bytes
from poller.invokers.runtime_errors import TIMED_OUT, timed_out
from poller.model import FunctionError, InvokeResult

log = structlog.get_logger("poller.invoke")

# Where the RIE listens in a container image: http://HOST:PORT + RIE_PATH.
RIE_PATH = "/2015-03-31/functions/function/invocations"
CONNECT_TIMEOUT = 5.0
_ERROR_KEYS = frozenset({"errorMessage", "errorType", "stackTrace", "requestId"})
_SNIPPET = 200


def error_from_payload(body: bytes, fallback_type: str) -> FunctionError:
    """A FunctionError from Lambda's error document (errorMessage, errorType, stackTrace).

    A body that is not one becomes the message; `fallback_type` names errors without a type
    (Lambda's `X-Amz-Function-Error` value, Handled or Unhandled).
    """
    document = _object(body)
    if document is None or not {"errorMessage", "errorType"} & document.keys():
        text = body.decode("utf-8", "replace").strip()
        return FunctionError(
            text, "Sandbox.Timedout" if text.startswith(TIMED_OUT) else fallback_type
        )
    message = str(document.get("errorMessage", ""))
    error_type = document.get("errorType") or (
        "Sandbox.Timedout" if TIMED_OUT in message else fallback_type
    )
    trace = document.get("stackTrace")
    lines = tuple(str(line) for line in trace) if isinstance(trace, list) else ()
    return FunctionError(message, str(error_type), lines)


def interpret(status: int, function_error: str | None, body: bytes) -> bytes | FunctionError | None:
    """What an emulator response means: the payload (None for an empty or `null` body) or a
    function error. Raises `Throttled` for 429 and `InvokeError` for any other non-2xx status.

    The RIE answers a failed invocation with 200 and the runtime's error document, and its own
    timeout with 200 and plain text; Lambda's `X-Amz-Function-Error` header is honoured too.
    """
    if function_error:
        return error_from_payload(body, function_error)
    if status == 429:
        raise Throttled(f"HTTP 429: {snippet(body)}")
    if status == 502:  # the emulator's answer when the runtime process died mid-invoke
        return FunctionError(
            f"Runtime exited without providing a reason: {snippet(body)}", "Runtime.ExitError"
        )
    if not 200 <= status < 300:
        raise InvokeError(f"HTTP {status}: {snippet(body)}")
    if body.strip() in (b"", b"null"):
        return None
    if body.startswith(TIMED_OUT.encode()):
        return error_from_payload(body, "Sandbox.Timedout")
    document = _object(body)
    if document is not None and {"errorMessage", "errorType"} <= document.keys() <= _ERROR_KEYS:
        return error_from_payload(body, "Unhandled")
    return body


def snippet(body: bytes) -> str:
    text = body[:_SNIPPET].decode("utf-8", "replace").strip()
    return text or "(empty body)"


def _object(body: bytes) -> dict[str, Any] | None:
    """`body` parsed, if it is a JSON object; None for anything else, never an exception."""
    if not body.lstrip().startswith(b"{"):
        return None
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply to parse
        return None
    return document if isinstance(document, dict) else None


@dataclass(slots=True)
class _Deadline:
    """Bounds one request: `connect` seconds to send it, then `timeout` seconds (the function's)
    for the response. `sent` tells which of the two ran out."""

    scope: anyio.CancelScope
    timeout: float
    sent: bool = False

    def start_function_clock(self) -> None:
        self.sent = True
        self.scope.deadline = anyio.current_time() + self.timeout


async def _on_headers_sent(
    session: aiohttp.ClientSession, context: SimpleNamespace, params: object
) -> None:
    # aiohttp awaits this in the requesting task, so moving the scope's deadline is safe.
    deadline = context.trace_request_ctx
    if isinstance(deadline, _Deadline):
        deadline.start_function_clock()


class HttpInvoker:
    """Invokes a function by POSTing the event to an endpoint that speaks the RIE's protocol.

    The function's timeout starts once the request is sent; a response not back by then is
    Lambda's "Task timed out" function error, and the endpoint is left to finish (or kill) the
    abandoned invocation. Not connecting within `connect_timeout`, a dropped connection or a
    non-2xx status means the event never ran: `InvokeError` (`Throttled` for 429). One aiohttp
    session per invoker, created on first use and closed by `close()`.
    """

    def __init__(
        self,
        function_name: str,
        url: str,
        timeout: float,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self.function_name = function_name
        self.url = url
        self._timeout = float(timeout)
        self._connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> HttpInvoker:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def invoke(self, event: dict[str, Any], request_id: str) -> InvokeResult:
        started = time.monotonic()
        outcome = await self._post(json_bytes(event), request_id)  # as the batch was measured
        duration = time.monotonic() - started
        if isinstance(outcome, FunctionError):
            log.warning("handler_error", function=self.function_name, **outcome.payload(request_id))
            return InvokeResult(request_id, duration, error=outcome)
        return InvokeResult(request_id, duration, payload=outcome)

    async def _post(self, body: bytes, request_id: str) -> bytes | FunctionError | None:
        deadline = _Deadline(anyio.CancelScope(), self._timeout)
        deadline.scope.deadline = anyio.current_time() + self._connect_timeout
        headers = {"Content-Type": "application/json", "X-Amz-Request-Id": request_id}
        with deadline.scope:
            try:
                async with self._client().post(
                    self.url, data=body, headers=headers, trace_request_ctx=deadline
                ) as response:
                    answer = await response.read()
                    return interpret(
                        response.status, response.headers.get("X-Amz-Function-Error"), answer
                    )
            except aiohttp.ClientError as exc:
                raise InvokeError(
                    f"{self.function_name}: POST {self.url}: {type(exc).__name__}: {exc}"
                ) from exc
        if deadline.sent:
            return timed_out(request_id, self._timeout, dt.datetime.now(dt.UTC))
        raise InvokeError(
            f"{self.function_name}: POST {self.url}: not sent within {self._connect_timeout:g} s"
        )

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            tracing = aiohttp.TraceConfig()
            tracing.on_request_headers_sent.append(_on_headers_sent)
            # No aiohttp timeout (its default total is 5 minutes): a cancel scope bounds each call.
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None), trace_configs=[tracing]
            )
        return self._session
