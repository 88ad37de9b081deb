"""Runtime enable/disable (Lambda's Enabled): a disabled stream mapping stops reading, and once
enabled again it resumes from its checkpoint. The control endpoints exist only when configured,
and answer only requests that carry the bearer token (from the environment or a file)."""

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
from sqs_support import (
    config_yaml,
    http_get,
    make_queue,
    metric,
    running,
    start_poller,
    stop_poller,
    unique,
    wait_for,
)
from stream_support import kinesis_data, make_stream, put, stream_config

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
TOKEN = "itest-control-token-5f1c9a"
ENV = "POLLER_CONTROL_TOKEN"


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    """The control token, in the environment variable the daemon reads by default."""
    monkeypatch.setenv(ENV, TOKEN)
    return TOKEN


async def _post(
    port: int | None, path: str, token: str | None = TOKEN
) -> tuple[int, str, dict[str, str]]:
    """POST with `Authorization: Bearer token` (none when token is None): status, body and
    response headers."""

    def post() -> tuple[int, str, dict[str, str]]:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        url = f"http://127.0.0.1:{port}{path}"
        request = urllib.request.Request(url, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return int(response.status), response.read().decode(), dict(response.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(), dict(exc.headers)

    return await anyio.to_thread.run_sync(post)


def _control(config: str) -> str:
    return config.replace(
        'http: {listen: "127.0.0.1:0"}', 'http: {listen: "127.0.0.1:0", control: true}'
    )


def _events(logs: list[MutableMapping[str, Any]], mapping: str) -> list[str]:
    """The names of the captured log events of one mapping (its shards' included)."""
    return [e["event"] for e in logs if e.get("mapping") == mapping]


async def test_disable_then_enable_resumes_from_the_checkpoint(
    endpoint: str, kinesis: Any, tmp_path: Path, token: str
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
            status, _, _ = await _post(daemon.http_port, f"/mappings/{mapping}/disable")
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
            status, _, _ = await _post(daemon.http_port, f"/mappings/{mapping}/enable")
            assert status == 200
            await wait_for(lambda: len(itest_handlers.records()) >= 10)
            _, body = await http_get(daemon.http_port, "/mappings")
            assert json.loads(body)["mappings"][0]["State"] == "Enabled"
            status, _, _ = await _post(daemon.http_port, "/mappings/nope/disable")
            assert status == 404
    data = [kinesis_data(r) for r in itest_handlers.records()]
    assert data == [f"a{i}" for i in range(5)] + [f"b{i}" for i in range(5)]  # no repeats


async def test_control_endpoints_are_off_unless_configured(
    endpoint: str, kinesis: Any, tmp_path: Path
) -> None:
    name = unique("s")
    arn = make_stream(kinesis, name)
    async with running(stream_config(endpoint, arn, tmp_path / "s.db")) as daemon:
        status, _, _ = await _post(daemon.http_port, f"/mappings/fn-{name}/disable")
        assert status in (404, 405)
        assert daemon.supervisor is not None
        assert len(daemon.supervisor.running) == 1


async def _state(port: int | None) -> str:
    _, body = await http_get(port, "/mappings")
    return str(json.loads(body)["mappings"][0]["State"])


async def test_control_refuses_requests_without_the_token(
    endpoint: str, sqs: Any, token: str
) -> None:
    queue = unique("q")
    make_queue(sqs, queue)
    async with running(_control(config_yaml(endpoint, queue))) as daemon:
        port = daemon.http_port
        status, _, headers = await _post(port, f"/mappings/fn-{queue}/disable", token=None)
        assert status == 401
        assert headers["WWW-Authenticate"] == 'Bearer realm="poller"'
        assert metric(daemon, "poller_http_unauthorized_total", reason="missing") == 1
        assert await _state(port) == "Enabled"
        assert daemon.supervisor is not None
        assert len(daemon.supervisor.running) == 1
        # The read-only routes stay open.
        await wait_for(lambda: not daemon.readiness.waiting())
        for path in ("/metrics", "/healthz", "/readyz", "/mappings"):
            assert (await http_get(port, path))[0] == 200, path


async def test_control_refuses_a_wrong_token_and_acts_on_the_right_one(
    endpoint: str, sqs: Any, token: str
) -> None:
    queue = unique("q")
    make_queue(sqs, queue)
    path = f"/mappings/fn-{queue}/disable"
    with structlog.testing.capture_logs() as logs:
        async with running(_control(config_yaml(endpoint, queue))) as daemon:
            port = daemon.http_port
            status, _, headers = await _post(port, path, token="wrong-token-wrong-token")
            assert status == 401
            assert headers["WWW-Authenticate"] == 'Bearer realm="poller", error="invalid_token"'
            assert metric(daemon, "poller_http_unauthorized_total", reason="invalid") == 1
            assert await _state(port) == "Enabled"
            status, body, _ = await _post(port, path, token=token)
            assert (status, json.loads(body)) == (200, {"mapping": f"fn-{queue}", "enabled": False})
            assert await _state(port) == "Disabled"
    assert [e["reason"] for e in logs if e["event"] == "control_refused"] == ["invalid"]
    assert "wrong-token-wrong-token" not in repr(logs)
    assert token not in repr(logs)


async def test_the_token_file_wins_over_the_environment(
    endpoint: str, sqs: Any, tmp_path: Path, token: str
) -> None:
    queue = unique("q")
    make_queue(sqs, queue)
    from_file = "file-token-a3e8d6b2c1f0"
    (tmp_path / "control-token").write_text(f"{from_file}\n")
    config = config_yaml(endpoint, queue).replace(
        'http: {listen: "127.0.0.1:0"}',
        f'http: {{listen: "127.0.0.1:0", control: true, '
        f'control_token_file: "{tmp_path / "control-token"}"}}',
    )
    path = f"/mappings/fn-{queue}/disable"
    async with running(config) as daemon:
        assert (await _post(daemon.http_port, path, token=token))[0] == 401  # the variable's
        assert (await _post(daemon.http_port, path, token=from_file))[0] == 200
        assert await _state(daemon.http_port) == "Disabled"


@pytest.mark.parametrize(
    ("http", "env", "message"),
    [
        pytest.param(
            "control: true",
            None,
            "http.control: true needs a bearer token: set the environment variable "
            "POLLER_CONTROL_TOKEN or http.control_token_file",
            id="no-token",
        ),
        pytest.param(
            "control: true",
            "tiny-secret",
            "http.control: the token in the environment variable POLLER_CONTROL_TOKEN is 11 "
            "characters long; use at least 16",
            id="too-short",
        ),
        pytest.param(
            'control: true, control_token_file: "missing-token-file"',
            TOKEN,
            "http.control_token_file: cannot read ",
            id="missing-file",
        ),
    ],
)
def test_control_without_a_usable_token_exits_2_naming_the_field(
    endpoint: str,
    sqs: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    http: str,
    env: str | None,
    message: str,
) -> None:
    queue = unique("q")
    make_queue(sqs, queue)  # everything else would start
    config = tmp_path / "poller.yaml"
    config.write_text(
        config_yaml(endpoint, queue).replace(
            'http: {listen: "127.0.0.1:0"}', f'http: {{listen: "127.0.0.1:0", {http}}}'
        )
    )
    monkeypatch.delenv(ENV, raising=False)
    extra = {ENV: env} if env is not None else {}
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    code = stop_poller(start_poller(config, out, stderr=err, **extra), sig=None)
    stderr = err.read_text()
    assert code == 2, stderr
    assert f"poller: cannot start: {message}" in stderr
    assert "Traceback" not in stderr
    if env is not None:
        assert env not in stderr + out.read_text()
