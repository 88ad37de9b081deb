"""The operations HTTP server: /metrics, /healthz, /readyz."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from aiohttp import web
from anyio.abc import TaskStatus
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from poller.errors import StartupError
from poller.telemetry.metrics import Metrics


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
    control: Callable[[str, bool], Awaitable[bool]] | None = None,
) -> web.Application:
    """/metrics, /healthz, /readyz, /mappings (each mapping's status) when given, and with
    `control` POST /mappings/{name}/enable|disable."""

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

    async def control_view(request: web.Request) -> web.Response:
        assert control is not None
        name, action = request.match_info["name"], request.match_info["action"]
        if action not in ("enable", "disable"):
            return web.json_response({"error": f"unknown action {action!r}"}, status=404)
        if not await control(name, action == "enable"):
            return web.json_response({"error": f"no mapping named {name!r}"}, status=404)
        return web.json_response({"mapping": name, "enabled": action == "enable"})

    app = web.Application()
    if mappings is not None:
        app.router.add_get("/mappings", mappings_view)
    if control is not None:
        app.router.add_post("/mappings/{name}/{action}", control_view)
    app.router.add_get("/metrics", metrics_view)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def serve(
    app: web.Application,
    host: str,
    port: int,
    *,
    task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled; reports the bound port (useful with port 0) once listening."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
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
