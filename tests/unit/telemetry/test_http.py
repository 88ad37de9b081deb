"""telemetry.http: the operations server's control API needs its bearer token, the other routes
do not; malformed requests are answered 4xx and logged without their text; slow request heads
are cut off."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import anyio
import pytest
import structlog.testing

from poller.telemetry.control import BearerToken, Control
from poller.telemetry.http import Readiness, build_app, serve
from poller.telemetry.metrics import Metrics

pytestmark = pytest.mark.anyio
TOKEN = "unit-test-token-0123456789"


class _Mappings:
    """A stand-in for Daemon.set_enabled: one mapping named "m"; records each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    async def set_enabled(self, name: str, enabled: bool) -> bool:
        self.calls.append((name, enabled))
        return name == "m"


@asynccontextmanager
async def _server(
    metrics: Metrics, mappings: _Mappings, idle_timeout: float = 15
) -> AsyncIterator[str]:
    app = build_app(
        metrics,
        Readiness(),
        lambda: [{"Name": "m"}],
        Control(mappings.set_enabled, BearerToken(TOKEN)),
    )
    async with anyio.create_task_group() as tg:
        port = await tg.start(
            lambda task_status: serve(
                app, "127.0.0.1", 0, idle_timeout=idle_timeout, task_status=task_status
            )
        )
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            tg.cancel_scope.cancel()


async def _post(base: str, path: str, authorization: str | None) -> tuple[int, dict[str, str]]:
    headers = {"Authorization": authorization} if authorization is not None else {}
    async with aiohttp.ClientSession() as session, session.post(base + path, headers=headers) as r:
        return r.status, dict(r.headers)


@pytest.mark.parametrize(
    ("authorization", "reason", "challenge"),
    [
        pytest.param(None, "missing", 'Bearer realm="poller"', id="no-header"),
        pytest.param(f"Basic {TOKEN}", "missing", 'Bearer realm="poller"', id="not-bearer"),
        pytest.param(
            "Bearer not-the-token-at-all",
            "invalid",
            'Bearer realm="poller", error="invalid_token"',
            id="wrong-token",
        ),
    ],
)
async def test_control_without_the_token_is_401_counted_and_logged(
    authorization: str | None, reason: str, challenge: str
) -> None:
    metrics, mappings = Metrics(), _Mappings()
    with structlog.testing.capture_logs() as logs:
        async with _server(metrics, mappings) as base:
            status, headers = await _post(base, "/mappings/m/disable", authorization)
            # Refused before the route looks at the name: an unknown one is refused alike.
            unknown, _ = await _post(base, "/mappings/nope/frobnicate", authorization)
    assert (status, unknown) == (401, 401)
    assert headers["WWW-Authenticate"] == challenge
    assert mappings.calls == []
    assert metrics.value("poller_http_unauthorized_total", reason=reason) == 2
    refused = [e for e in logs if e["event"] == "control_refused"]
    assert [e["reason"] for e in refused] == [reason, reason]
    assert TOKEN not in repr(logs)


async def test_control_with_the_token_acts() -> None:
    metrics, mappings = Metrics(), _Mappings()
    async with _server(metrics, mappings) as base:
        bearer = f"Bearer {TOKEN}"
        assert (await _post(base, "/mappings/m/disable", bearer))[0] == 200
        assert (await _post(base, "/mappings/m/enable", bearer))[0] == 200
        assert (await _post(base, "/mappings/nope/enable", bearer))[0] == 404
        assert (await _post(base, "/mappings/m/frobnicate", bearer))[0] == 404
    assert mappings.calls == [("m", False), ("m", True), ("nope", True)]
    assert metrics.value("poller_http_unauthorized_total") == 0


@pytest.mark.parametrize("path", ["/metrics", "/healthz", "/readyz", "/mappings"])
async def test_the_read_only_routes_need_no_token(path: str) -> None:
    async with (
        _server(Metrics(), _Mappings()) as base,
        aiohttp.ClientSession() as session,
        session.get(base + path) as response,
    ):
        assert response.status == 200


def _raw(port: int, request: bytes) -> bytes:
    """Send `request` over a plain socket; what comes back until the response head ends."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    return received


async def test_malformed_authorization_header_is_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Regression: aiohttp logged each malformed request through the standard library with a
    traceback quoting the offending header, so a token with a stray control character went to
    stderr whole, around structlog's redaction. Now: one debug event naming the fault."""
    caplog.set_level(logging.DEBUG)
    request = (
        b"POST /mappings/m/disable HTTP/1.1\r\nHost: x\r\n"
        b"Authorization: Bearer " + TOKEN.encode() + b"\x01\r\n\r\n"
    )
    with structlog.testing.capture_logs() as logs:
        async with _server(Metrics(), _Mappings()) as base:
            port = int(base.rsplit(":", 1)[1])
            answer = await anyio.to_thread.run_sync(_raw, port, request)
    assert answer.startswith(b"HTTP/1.0 400 ")
    assert TOKEN not in caplog.text
    assert TOKEN not in repr(logs)
    assert {"event": "http_request_rejected", "status": 400, "fault": "BadHttpMessage"} in [
        {k: e.get(k) for k in ("event", "status", "fault")} for e in logs
    ]


def _closed_by_server(port: int, deadline: float) -> bool:
    """Open a connection, send half a request head, and wait up to `deadline` s: True when the
    server closes it meanwhile."""
    with socket.create_connection(("127.0.0.1", port), timeout=deadline) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        try:
            return sock.recv(1024) == b""
        except TimeoutError:
            return False


async def test_a_slow_request_head_is_cut_off_after_the_idle_timeout() -> None:
    """A slowloris holds a connection by never finishing its head: it is closed after
    `idle_timeout` (aiohttp's default keeps it an hour), and others are served meanwhile."""
    async with _server(Metrics(), _Mappings(), idle_timeout=0.5) as base:
        port = int(base.rsplit(":", 1)[1])
        async with anyio.create_task_group() as tg:
            closed: list[bool] = []

            async def slow() -> None:
                closed.append(await anyio.to_thread.run_sync(_closed_by_server, port, 10))

            tg.start_soon(slow)
            answer = await anyio.to_thread.run_sync(
                _raw, port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
            )
            assert answer.startswith(b"HTTP/1.1 200 ")
        assert closed == [True]


async def test_connect_with_an_empty_target_is_answered_not_leaked() -> None:
    """Regression: `CONNECT  ` (no target, no version) crashed aiohttp's connection task while
    building the request, so the connection was never answered nor closed, idle timeout or
    not. Now it is answered at once (404: no route serves it)."""
    async with _server(Metrics(), _Mappings(), idle_timeout=60) as base:
        port = int(base.rsplit(":", 1)[1])
        answer = await anyio.to_thread.run_sync(_raw, port, b"CONNECT  \r\nHost: x\r\n\r\n")
    assert answer.split(b" ", 2)[1] == b"404"
