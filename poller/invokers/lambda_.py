"""Functions in AWS Lambda (or any endpoint speaking its API), called with the Invoke API."""

from __future__ import annotations

import time
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import structlog
from botocore.exceptions import BotoCoreError, ClientError

from poller.arns import Arn
from poller.aws import Aws
from poller.errors import InvokeError, Throttled, error_code
from poller.events import json_bytes
from poller.invokers.http import error_from_payload
from poller.model import FunctionError, InvokeResult

log = structlog.get_logger("poller.invoke")


def interpret(function_error: str | None, body: bytes) -> bytes | FunctionError | None:
    """What a RequestResponse invoke returned: the payload (None for `null`) or, when Lambda
    set `FunctionError` (Handled / Unhandled), the error document in the payload."""
    if function_error:
        return error_from_payload(body, function_error)
    if body.strip() in (b"", b"null"):
        return None
    return body


def invoke_error(function_name: str, exc: BaseException) -> InvokeError:
    """The retry contract of a failed Invoke call: a throttle, or any other reason the event
    never reached the function (missing function, denied, network, service errors)."""
    code = error_code(exc)
    message = f"{function_name}: Invoke failed: {exc}"
    if code == "TooManyRequestsException" or "Throttl" in code:
        return Throttled(message)
    return InvokeError(message)


class LambdaInvoker:
    """Invokes a Lambda function with InvocationType RequestResponse, one attempt per call.

    `start()` opens the client (up to `max_connections` concurrent invokes), `close()` closes
    it. Function errors come back in the result; throttles raise `Throttled`, everything else
    that kept the event from the function raises `InvokeError`.
    """

    def __init__(
        self,
        function_name: str,
        aws: Aws,
        qualifier: str | None = None,
        max_connections: int = 10,
        timeout: float = 900.0,
    ) -> None:
        self.function_name = function_name
        self._aws = aws
        self._qualifier = qualifier
        self._max_connections = max_connections
        # The call may last as long as the function runs, plus the service's own latency.
        self._read_timeout = timeout + 30.0
        self._stack = AsyncExitStack()
        self._client: Any = None

    async def __aenter__(self) -> LambdaInvoker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        if self._client is None:
            # One request per invoke: the mapping decides about throttles, and a re-sent Invoke
            # after a dropped connection could run the function twice.
            manager = self._aws.client(
                "lambda",
                max_connections=self._max_connections,
                read_timeout=self._read_timeout,
                attempts=1,
                region=_region_of(self.function_name),
            )
            self._client = await self._stack.enter_async_context(manager)

    async def close(self) -> None:
        self._client = None
        await self._stack.aclose()

    async def invoke(self, event: dict[str, Any], request_id: str) -> InvokeResult:
        if self._client is None:
            raise RuntimeError("LambdaInvoker.start() was not called")
        params: dict[str, Any] = {
            "FunctionName": self.function_name,
            "InvocationType": "RequestResponse",
            "Payload": json_bytes(event),  # as the batch was measured
        }
        if self._qualifier:
            params["Qualifier"] = self._qualifier
        started = time.monotonic()
        try:
            response = await self._client.invoke(**params)
            async with response["Payload"] as stream:
                body: bytes = await stream.read()
        except (ClientError, BotoCoreError, OSError, aiohttp.ClientError) as exc:
            # aiohttp.ClientError: the body is read by aiohttp, whose errors aiobotocore wraps
            # only in part (a truncated body is a bare ClientPayloadError).
            raise invoke_error(self.function_name, exc) from exc
        duration = time.monotonic() - started
        outcome = interpret(response.get("FunctionError"), body)
        if isinstance(outcome, FunctionError):
            log.warning(
                "handler_error",
                function=self.function_name,
                aws_request_id=response.get("ResponseMetadata", {}).get("RequestId"),
                executed_version=response.get("ExecutedVersion"),
                **outcome.payload(request_id),
            )
            return InvokeResult(request_id, duration, error=outcome)
        return InvokeResult(request_id, duration, payload=outcome)


def _region_of(function_name: str) -> str | None:
    """The region a full function ARN names (its Invoke goes there), else None."""
    try:
        return Arn.parse(function_name).region or None
    except ValueError:  # a name or a partial ARN: the configured region
        return None
