"""Real HTTP servers on 127.0.0.1 for the invoker tests: the Runtime Interface Emulator's
protocol and Lambda's Invoke API, each answering as the real one does for one behaviour.

Not mocks: the invokers talk to them over TCP with their real HTTP clients.
"""

from __future__ import annotations

import json
import socket
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from aiohttp import web

RIE_ROUTE = "/2015-03-31/functions/function/invocations"
INVOKE_ROUTE = "/2015-03-31/functions/{name}/invocations"

PYTHON_ERROR: dict[str, Any] = {
    "errorMessage": "boom",
    "errorType": "ValueError",
    "requestId": "c6af9ac6-7b61-11e6-9a41-93e812345678",
    "stackTrace": ['  File "/var/task/app.py", line 3, in handler\n    raise ValueError("boom")\n'],
}


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Run `app` on a free port; yields its base URL. Handlers are cancelled when the client
    hangs up, so an abandoned slow request does not hold the shutdown."""
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def closed_port() -> int:
    """A port nothing listens on (bound, then released): connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class FakeRie:
    """The emulator's invoke endpoint; the event's `do` key picks the handler's behaviour.

    Echoes the event by default; `requests` keeps each request's headers and body.
    """

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(RIE_ROUTE, self._invoke)
        return app

    async def _invoke(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append((dict(request.headers), body))
        event = json.loads(body)
        do = event.get("do", "echo")
        if do == "sleep":
            await anyio.sleep(float(event["seconds"]))
            return web.json_response({"slept": True})
        if do == "reset":
            # Hang up without answering, as a crashed or restarted endpoint does.
            assert request.transport is not None
            request.transport.abort()
            await anyio.sleep(1)
        return _RIE_ANSWERS.get(do, lambda: web.Response(body=body))()


_RIE_ANSWERS = {
    # The RIE relays the runtime's error document with 200 (no header in older builds) ...
    "raise": lambda: web.json_response(PYTHON_ERROR),
    # ... or with Lambda's header, as targets that mimic the Invoke API do.
    "raise_header": lambda: web.json_response(
        PYTHON_ERROR, headers={"X-Amz-Function-Error": "Unhandled"}
    ),
    # Its own timeout (AWS_LAMBDA_FUNCTION_TIMEOUT) is plain text with 200.
    "rie_timeout": lambda: web.Response(text="Task timed out after 3.00 seconds"),
    # A return value that merely has an errorType key is a payload, not an error.
    "lookalike": lambda: web.json_response({"errorType": "x", "errorMessage": "y", "id": 1}),
    "empty": lambda: web.Response(status=200),
    "null": lambda: web.Response(text="null", content_type="application/json"),
    "throttle": lambda: web.Response(status=429, text="Too Many Requests"),
    "fail": lambda: web.Response(status=500, text="internal failure"),
    "busy": lambda: web.Response(status=400, text="invoke already in progress"),
}


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response(
        {"Type": "User", "message": message}, status=status, headers={"x-amzn-ErrorType": code}
    )


class FakeLambda:
    """Lambda's Invoke API (REST-JSON); the function name picks the answer.

    `calls` counts HTTP requests per function name, so client-side retries show up.
    """

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.qualifiers: list[str | None] = []
        self.url = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(INVOKE_ROUTE, self._invoke)
        return app

    async def _invoke(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.calls[name] += 1
        self.qualifiers.append(request.query.get("Qualifier"))
        body = await request.read()
        version = {"X-Amz-Executed-Version": "7" if request.query.get("Qualifier") else "$LATEST"}
        if name == "echo":
            return web.Response(body=body, content_type="application/json", headers=version)
        if name == "none":
            return web.Response(text="null", content_type="application/json", headers=version)
        if name in ("crash", "handled"):
            kind = "Unhandled" if name == "crash" else "Handled"
            return web.json_response(
                PYTHON_ERROR, headers={**version, "X-Amz-Function-Error": kind}
            )
        if name == "slow":
            # Lambda's own timeout: an Unhandled error document, 200.
            doc = {"errorMessage": "2024-01-01T00:00:00.000Z abc Task timed out after 3.00 seconds"}
            return web.json_response(doc, headers={**version, "X-Amz-Function-Error": "Unhandled"})
        if name == "busy":
            return _error(429, "TooManyRequestsException", "Rate Exceeded.")
        if name == "broken":
            return _error(500, "ServiceException", "Lambda was unable to process the request.")
        if name == "denied":
            return _error(403, "AccessDeniedException", "User is not authorized to invoke.")
        return _error(
            404,
            "ResourceNotFoundException",
            f"Function not found: arn:aws:lambda:us-east-1:123456789012:function:{name}",
        )
