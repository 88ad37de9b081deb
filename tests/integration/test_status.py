"""GET /mappings and `poller status`: each mapping's state, last result, counts, last error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import itest_handlers
import pytest
from sqs_support import (
    config_yaml,
    http_get,
    make_queue,
    metric,
    running,
    send,
    unique,
    wait_for,
)
from stream_support import make_stream, put, stream_config

from poller.telemetry.status_client import fetch, run_status, table

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


async def test_mappings_report_state_results_and_counts(
    endpoint: str, sqs: Any, kinesis: Any, tmp_path: Path
) -> None:
    queue = unique("q")
    url = make_queue(sqs, queue)
    send(sqs, url, ["a", "b"])
    async with running(config_yaml(endpoint, queue)) as daemon:
        await wait_for(lambda: len(itest_handlers.records()) >= 2)
        status, body = await http_get(daemon.http_port, "/mappings")
    assert status == 200
    [entry] = json.loads(body)["mappings"]
    assert entry["Name"] == f"fn-{queue}"
    assert entry["State"] == "Enabled"
    assert entry["LastProcessingResult"] == "OK"
    assert entry["Invocations"] >= 1
    assert entry["Ready"] is True
    assert entry["Pollers"] >= 1
    assert entry["LastError"] is None

    def fail(event: dict[str, Any], index: int) -> None:
        raise RuntimeError("no")

    itest_handlers.reset()
    itest_handlers.behaviour = fail
    name = unique("s")
    arn = make_stream(kinesis, name)
    put(kinesis, name, [("k", "x")])
    async with running(stream_config(endpoint, arn, tmp_path / "s.db")) as daemon:
        labels = {"mapping": f"fn-{name}", "function": "fn"}
        # The error is counted just before the failed result is noted, with no await between.
        await wait_for(lambda: metric(daemon, "poller_errors_total", **labels) >= 1)
        mappings = await anyio.to_thread.run_sync(fetch, f"http://127.0.0.1:{daemon.http_port}")
    [stream] = mappings
    assert stream["LastProcessingResult"] == "PROBLEM: Function call failed"
    assert stream["Shards"] == 1
    assert stream["ParallelizationFactor"] == 1
    text = table(mappings)
    assert text.splitlines()[0].split()[:3] == ["MAPPING", "STATE", "READY"]
    assert f"fn-{name}" in text


def test_status_of_an_unreachable_daemon_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    from fake_targets import closed_port

    assert run_status(f"http://127.0.0.1:{closed_port()}", as_json=False) == 1
    assert "cannot read" in capsys.readouterr().out
