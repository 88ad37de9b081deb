"""The operations HTTP server: /metrics, /healthz, /readyz, /mappings and the control API."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import anyio
import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from anyio.abc import TaskStatus
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from yarl import URL

from poller.errors import StartupError
from poller.telemetry.control import Control, control_view
from poller.telemetry.metrics import Metrics

# No route reads a request body; the control API takes none. Anything larger is refused (413)
# by whatever would read it.
MAX_BODY = 64 * 1024
# The request parser's limits (aiohttp's line limits; half its header count): a longer request
# or header line, or more headers, is answered with a 4xx without reaching a route.
PARSER_LIMITS = {"max_line_size": 8190, "max_field_size": 8190, "max_headers": 64}
# An idle connection, or one that has not sent a whole request head this long after it opened
# or after its last response, is closed (aiohttp's default is an hour): this bounds a slowloris.
IDLE_TIMEOUT = 15.0
# How long an unread request body is drained after the response before the connection closes.
LINGER = 2.0

log = structlog.get_logger("poller.http")


class _ServerLog(logging.Handler):
    """aiohttp's own request-handling log records, as poller's structlog events.

    aiohttp logs every malformed request with a traceback whose message quotes the offending
    request line or header (an Authorization header included) through the standard library,
    around structlog and its redaction. Here a malformed request is one debug line that names
    the fault and never the request's text (a client cannot fill the log at a higher level); a
    route that raised is an error line with its traceback.
    """

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            log.debug("http_request_rejected", status=exc.code, fault=type(exc).__name__)
        elif isinstance(exc, RequestPayloadError):  # a body that does not decode, read unasked
            log.debug("http_request_rejected", status=400, fault=type(exc).__name__)
        elif exc is not None and record.exc_info is not None:
            log.error("http_route_failed", exc_info=record.exc_info)


def _guard_request_factory(server: web.Server) -> None:
    """A request head that parses without a URL gets the URL "/" (a 404: no route is there).

    aiohttp 3.14's parser hands over a CONNECT request with an empty target and no version with
    no URL; building its request then raised inside the connection's task, which died without
    answering or closing the connection, past the idle timeout: one such request leaked one
    socket for as long as the client kept it (tests/unit/telemetry/test_http.py).
    """
    make = server.request_factory

    def factory(message: Any, payload: Any, protocol: Any, writer: Any, task: Any) -> Any:
        if message.url is None:
            message = message._replace(url=URL("/"), path="/")
        return make(message, payload, protocol, writer, task)

    server.request_factory = factory


def _server_logger() -> logging.Logger:
    """A logger of aiohttp's request handlers: outside the logging tree (nothing propagates
    to the root logger's handlers), into `_ServerLog`."""
    logger = logging.Logger("poller.http.server", logging.DEBUG)
    logger.addHandler(_ServerLog())
    return logger


class Readiness:
    """Per-mapping readiness: a mapping is ready while its last call to its source succeeded."""

    def __init__(self) -> None:
        self._ready: dict[str, bool] = {}

    def expect(self, mapping: str) -> None:
        self._ready.setdefault(mapping, False)

    def set(self, mapping: str, ready: bool) -> None:
        self._ready[mapping] = ready

    def forget(self, mapping: str) -> None:
        self._ready.pop(mapping, None)

    def waiting(self) -> list[str]:
        return sorted(name for name, ready in self._ready.items() if not ready)


def build_app(
    metrics: Metrics,
    readiness: Readiness,
    mappings: Callable[[], list[dict[str, Any]]] | None = None,
    control: Control | None = None,
) -> web.Application:
    """/metrics, /healthz, /readyz, /mappings (each mapping's status) when given, and with
    `control` POST /mappings/{name}/enable|disable, which alone need its bearer token."""

    async def metrics_view(_: web.Request) -> web.Response:
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        waiting = readiness.waiting()
        status = 503 if waiting else 200
        body = {"status": "waiting" if waiting else "ready", "waiting": waiting}
        return web.Response(status=status, text=json.dumps(body), content_type="application/json")

    async def mappings_view(_: web.Request) -> web.Response:
        assert mappings is not None
        return web.json_response({"mappings": mappings()})

    app = web.Application(client_max_size=MAX_BODY, handler_args=PARSER_LIMITS)
    if mappings is not None:
        app.router.add_get("/mappings", mappings_view)
    if control is not None:
        view = control_view(control, metrics.http_unauthorized)
        app.router.add_post("/mappings/{name}/{action}", view)
    app.router.add_get("/metrics", metrics_view)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def serve(
    app: web.Application,
    host: str,
    port: int,
    *,
    idle_timeout: float = IDLE_TIMEOUT,
    task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled; reports the bound port (useful with port 0) once listening.

    A connection is closed `idle_timeout` s after it opened or last got a response unless a
    whole request head has come in meanwhile.
    """
    runner = web.AppRunner(
        app,
        access_log=None,  # an access log would be the only place request headers could leak
        handle_signals=False,
        keepalive_timeout=idle_timeout,
        lingering_time=LINGER,
        logger=_server_logger(),
    )
    await runner.setup()
    assert runner.server is not None
    _guard_request_factory(runner.server)
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise StartupError(f"http.listen: cannot bind {host}:{port}: {exc.strerror}") from exc
        bound = runner.addresses[0][1]
        task_status.started(int(bound))
        await anyio.sleep_forever()
    finally:
        with anyio.CancelScope(shield=True):
            await runner.cleanup()
