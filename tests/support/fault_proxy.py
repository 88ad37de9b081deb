"""An HTTP proxy on 127.0.0.1 that injects AWS faults between poller and an AWS-compatible server.

Every request is attributed to a service (the SigV4 credential scope) and an operation (the JSON
protocols' X-Amz-Target, the query protocol's Action, S3's method), then forwarded unchanged or
given a fault chosen by the current `FaultPlan`:

- `http_500` / `http_503`: the service's InternalFailure / ServiceUnavailable, not forwarded;
- `throttle`: the service's own throttling errors as it sends them (`THROTTLES`), not forwarded;
- `reset_before`: the connection reset before the request reaches the server;
- `reset_after`: forwarded, the server acts, then the connection is reset before the client
  hears the answer (the dangerous one: a receive that made messages invisible, a delete that
  deleted);
- `slow`: forwarded, then the answer is held until the client gives up (past its read timeout);
- `truncated`: forwarded, and half the answer's body sent under the full Content-Length.

Runs its own event loop in a thread, so one proxy serves an in-process daemon and a `poller run`
child alike. Use it as a context manager so the thread always stops. Counters (`calls`,
`injected`) are written by the proxy's thread only; read them from the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal, NamedTuple
from urllib.parse import parse_qs

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

Kind = Literal[
    "http_500", "http_503", "throttle", "reset_before", "reset_after", "slow", "truncated"
]
KINDS: tuple[Kind, ...] = (
    "http_500",
    "http_503",
    "throttle",
    "reset_before",
    "reset_after",
    "slow",
    "truncated",
)

# Each service's throttling error codes, as it sends them.
THROTTLES: dict[str, tuple[str, ...]] = {
    "sqs": ("RequestThrottled", "ThrottlingException"),
    "kinesis": ("ProvisionedThroughputExceededException", "LimitExceededException"),
    "dynamodb": ("ProvisionedThroughputExceededException", "ThrottlingException"),
    "dynamodbstreams": ("LimitExceededException", "ThrottlingException"),
    "sns": ("Throttling",),
    "s3": ("SlowDown",),
    "sts": ("Throttling",),
}
# The protocol a service answers errors in: JSON (`__type`) or XML.
_JSON_SERVICES = {"sqs", "kinesis", "dynamodb", "dynamodbstreams", "lambda"}
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
# Headers that describe one connection or one encoding of the body, not the message.
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade"}


class Call(NamedTuple):
    service: str
    operation: str


@dataclass
class FaultPlan:
    """Which calls get a fault, and which: each call that `applies` gets one with probability
    `rate`, its kind drawn from `kinds` (uniformly, or by `weights`)."""

    rate: float = 0.0
    kinds: tuple[Kind, ...] = KINDS
    weights: tuple[float, ...] | None = None
    # Calls the plan covers: every call when None. Names are operations ("ReceiveMessage") or
    # services ("kinesis").
    only: frozenset[str] | None = None
    # A call-by-call choice over the above, for tests that need one exact fault.
    applies: Callable[[Call], bool] | None = None

    def covers(self, call: Call) -> bool:
        if self.only is not None and not {call.service, call.operation} & self.only:
            return False
        return self.applies is None or self.applies(call)


def plan(
    rate: float, kinds: Iterable[Kind] = KINDS, only: Iterable[str] | None = None
) -> FaultPlan:
    """A FaultPlan of `rate` over `kinds`, for the calls (operations or services) in `only`."""
    return FaultPlan(rate, tuple(kinds), only=frozenset(only) if only is not None else None)


@dataclass
class Tally:
    """What passed through: calls per (service, operation), faults per (service, operation,
    kind)."""

    calls: Counter[Call] = field(default_factory=Counter)
    injected: Counter[tuple[str, str, Kind]] = field(default_factory=Counter)

    def faults(self, kind: Kind | None = None, *names: str) -> int:
        """Faults injected, of `kind` (any when None), on calls named in `names` (any if none)."""
        return sum(
            count
            for (service, operation, k), count in self.injected.items()
            if (kind is None or k == kind) and (not names or {service, operation} & set(names))
        )


class FaultProxy:
    """Forwards HTTP from 127.0.0.1:`port` (a free one when 0) to `target` (a base URL),
    injecting the faults `plan` chooses. Set `plan` at any time (`FaultPlan()` injects none);
    `seed` makes the choices repeatable."""

    def __init__(
        self,
        target: str,
        plan: FaultPlan | None = None,
        *,
        port: int = 0,
        seed: int = 0,
        slow_cap: float = 120.0,
    ) -> None:
        self.target = target.rstrip("/")
        self.plan = plan or FaultPlan()
        self.tally = Tally()
        self.slow_cap = slow_cap
        self._random = random.Random(seed)
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self.port = 0

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        self._started.wait(10)
        if self._error is not None:
            raise self._error
        assert self.port, "the fault proxy did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # its loop has already closed
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- the proxy's thread ---------------------------------------------------------------

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to __enter__
            self._error = exc
            self._started.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(
            connector=connector, auto_decompress=False, skip_auto_headers=("User-Agent",)
        ) as upstream:
            app = web.Application(client_max_size=64 * 1024 * 1024)

            async def handle(request: web.Request) -> web.StreamResponse:
                return await self._handle(request, upstream)

            app.router.add_route("*", "/{tail:.*}", handle)
            # At exit, requests still in flight (long polls forwarded to the server) are cut
            # off, not waited for: a test ends when its daemon has.
            runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", self._port, reuse_address=True)
            await site.start()
            self.port = int(runner.addresses[0][1])
            self._started.set()
            try:
                await self._stop.wait()
            finally:
                await runner.cleanup()

    async def _handle(
        self, request: web.Request, upstream: aiohttp.ClientSession
    ) -> web.StreamResponse:
        body = await request.read()
        call = _attribute(request, body)
        self.tally.calls[call] += 1
        kind = self._choose(call)
        if kind is not None:
            self.tally.injected[(call.service, call.operation, kind)] += 1
        if kind in ("http_500", "http_503", "throttle"):
            return self._error_response(call, kind)
        if kind == "reset_before":
            return _reset(request)
        try:
            answer = await self._forward(request, body, upstream)
        except (aiohttp.ClientError, OSError):
            return _reset(request)  # the server is unreachable: so is the proxy
        if kind == "reset_after":
            return _reset(request)
        if kind == "slow":
            await self._hold(request)
            return _reset(request)
        if kind == "truncated":
            return await _truncated(request, answer)
        return answer

    def _choose(self, call: Call) -> Kind | None:
        current = self.plan
        if current.rate <= 0 or not current.covers(call):
            return None
        if self._random.random() >= current.rate:
            return None
        return self._random.choices(current.kinds, weights=current.weights)[0]

    async def _forward(
        self, request: web.Request, body: bytes, upstream: aiohttp.ClientSession
    ) -> web.Response:
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP]
        async with upstream.request(
            request.method,
            self.target + request.rel_url.raw_path_qs,
            headers=headers,
            data=body,
            allow_redirects=False,
        ) as response:
            payload = await response.read()
            out = [(k, v) for k, v in response.headers.items() if k.lower() not in _HOP]
            return web.Response(status=response.status, body=payload, headers=CIMultiDict(out))

    async def _hold(self, request: web.Request) -> None:
        """Wait until the client closes the connection (its read timeout), at most slow_cap."""
        deadline = asyncio.get_running_loop().time() + self.slow_cap
        while asyncio.get_running_loop().time() < deadline:
            transport = request.transport
            if transport is None or transport.is_closing():
                return
            await asyncio.sleep(0.05)

    def _error_response(self, call: Call, kind: Kind) -> web.Response:
        if kind == "throttle":
            codes = THROTTLES.get(call.service, ("ThrottlingException",))
            code, status = self._random.choice(codes), 400
            if call.service == "s3":
                status = 503
        elif kind == "http_503":
            code, status = "ServiceUnavailable", 503
        else:
            code, status = "InternalFailure", 500
        message = f"injected by the fault proxy: {kind}"
        if call.service in _JSON_SERVICES:
            headers = {"Content-Type": "application/x-amz-json-1.0"}
            if call.service == "sqs":  # the query-compatible code, as SQS sends it
                sender = "Receiver" if status >= 500 else "Sender"
                headers["x-amzn-query-error"] = f"{code};{sender}"
            text = json.dumps({"__type": code, "message": message})
            return web.Response(status=status, text=text, headers=headers)
        xml = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{code}</Code><Message>{message}</Message></Error>"
            "<RequestId>fault-proxy</RequestId></ErrorResponse>"
        )
        if call.service == "s3":
            xml = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
        return web.Response(status=status, text=xml, content_type="text/xml")


def _attribute(request: web.Request, body: bytes) -> Call:
    scope = _SCOPE.search(request.headers.get("Authorization", ""))
    service = scope.group(1) if scope else "unknown"
    if service == "dynamodb" and request.headers.get("X-Amz-Target", "").startswith(
        "DynamoDBStreams"
    ):
        service = "dynamodbstreams"
    target = request.headers.get("X-Amz-Target")
    if target:
        return Call(service, target.rpartition(".")[2])
    if body and request.content_type == "application/x-www-form-urlencoded":
        action = parse_qs(body.decode("utf-8", "replace")).get("Action")
        if action:
            return Call(service, action[0])
    return Call(service, request.method)


def _reset(request: web.Request) -> web.Response:
    """Reset the client's connection (RST, not FIN); the returned answer is never sent."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    return web.Response(status=500)


async def _truncated(request: web.Request, answer: web.Response) -> web.StreamResponse:
    body = bytes(answer.body or b"")  # type: ignore[arg-type]
    response = web.StreamResponse(status=answer.status, headers=answer.headers)
    response.content_length = len(body)
    await response.prepare(request)
    await response.write(body[: len(body) // 2])
    return _reset(request)
