"""Runtime enable/disable (Lambda's Enabled): a disabled stream mapping stops reading, and once
enabled again it resumes from its checkpoint. The control endpoints exist only when configured."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import anyio
import itest_handlers
import pytest
import structlog.testing
from sqs_support import http_get, metric, running, unique, wait_for
from stream_support import kinesis_data, make_stream, put, stream_config

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


async def _post(port: int | None, path: str) -> tuple[int, str]:
    def post() -> tuple[int, str]:
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    return await anyio.to_thread.run_sync(post)


def _events(logs: list[MutableMapping[str, Any]], mapping: str) -> list[str]:
    """The names of the captured log events of one mapping (its shards' included)."""
    return [e["event"] for e in logs if e.get("mapping") == mapping]


async def test_disable_then_enable_resumes_from_the_checkpoint(
    endpoint: str, kinesis: Any, tmp_path: Path
) -> None:
    name = unique("s")
    arn = make_stream(kinesis, name)
    put(kinesis, name, [("k", f"a{i}") for i in range(5)])
    config = stream_config(endpoint, arn, tmp_path / "s.db").replace(
        'http: {listen: "127.0.0.1:0"}', 'http: {listen: "127.0.0.1:0", control: true}'
    )
    mapping = f"fn-{name}"
    get_records = {"operation": "GetRecords"}
    with structlog.testing.capture_logs() as logs:
        async with running(config) as daemon:
            await wait_for(lambda: len(itest_handlers.records()) >= 5)
            status, _ = await _post(daemon.http_port, f"/mappings/{mapping}/disable")
            assert status == 200
            await wait_for(lambda: not daemon.supervisor or not daemon.supervisor.running)
            # Its reader has returned and the mapping with it: from here no GetRecords call
            # may be made until it is enabled again.
            await wait_for(lambda: "mapping_stopped" in _events(logs, mapping))
            assert "shard_stopped" in _events(logs, mapping)
            calls = metric(daemon, "poller_aws_api_calls_total", **get_records)
            _, body = await http_get(daemon.http_port, "/mappings")
            assert json.loads(body)["mappings"][0]["State"] == "Disabled"
            put(kinesis, name, [("k", f"b{i}") for i in range(5)])
            assert len(itest_handlers.records()) == 5  # nothing read while disabled
            # Not now, and not at any time since the stop: the count only grows.
            assert metric(daemon, "poller_aws_api_calls_total", **get_records) == calls
            assert metric(daemon, "poller_polled_events_total") == 5
            status, _ = await _post(daemon.http_port, f"/mappings/{mapping}/enable")
            assert status == 200
            await wait_for(lambda: len(itest_handlers.records()) >= 10)
            _, body = await http_get(daemon.http_port, "/mappings")
            assert json.loads(body)["mappings"][0]["State"] == "Enabled"
            status, _ = await _post(daemon.http_port, "/mappings/nope/disable")
            assert status == 404
    data = [kinesis_data(r) for r in itest_handlers.records()]
    assert data == [f"a{i}" for i in range(5)] + [f"b{i}" for i in range(5)]  # no repeats


async def test_control_endpoints_are_off_unless_configured(
    endpoint: str, kinesis: Any, tmp_path: Path
) -> None:
    name = unique("s")
    arn = make_stream(kinesis, name)
    async with running(stream_config(endpoint, arn, tmp_path / "s.db")) as daemon:
        status, _ = await _post(daemon.http_port, f"/mappings/fn-{name}/disable")
        assert status in (404, 405)
        assert daemon.supervisor is not None
        assert len(daemon.supervisor.running) == 1
