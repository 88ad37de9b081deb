"""Logs: records only with logging.log_records; credentials never, whatever fails."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import itest_handlers
import pytest
import structlog
from sqs_support import (
    config_yaml,
    make_queue,
    running,
    send,
    start_poller,
    stop_poller,
    unique,
    until,
    wait_for,
)

pytestmark = pytest.mark.integration


@pytest.mark.anyio
@pytest.mark.parametrize("log_records", [False, True])
async def test_records_are_logged_only_when_asked(
    endpoint: str, sqs: Any, log_records: bool
) -> None:
    queue = unique("q")
    url = make_queue(sqs, queue)
    send(sqs, url, ["a private body"])
    config = (
        config_yaml(endpoint, queue) + f"logging: {{log_records: {str(log_records).lower()}}}\n"
    )
    with structlog.testing.capture_logs() as logs:
        async with running(config):
            await wait_for(lambda: len(itest_handlers.records()) >= 1)
    [line] = [e for e in logs if e["event"] == "batch_invoked"]
    assert ("records" in line) == log_records
    if log_records:
        assert line["records"][0]["body"] == "a private body"


def test_credentials_never_reach_the_logs(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = tmp_path / "poller.yaml"
    config.write_text(
        config_yaml(f"http://127.0.0.1:{port}", "orders") + "logging: {format: json}\n"
    )
    secret = "SECRETMARKER0123456789abcdefghijklmnopqrs"
    log = tmp_path / "poller.log"
    proc = start_poller(
        config,
        log,
        AWS_ACCESS_KEY_ID="AKIAEXAMPLEKEYID0000",
        AWS_SECRET_ACCESS_KEY=secret,
        AWS_SESSION_TOKEN="SESSIONMARKER" + "x" * 40,
    )
    try:
        # The endpoint refuses. The first source_error is logged once botocore's own retries
        # give up, seconds after start-up; a SIGTERM before then cancels the call unlogged.
        until(lambda: '"source_error"' in log.read_text(), 30)
    finally:
        stop_poller(proc)
    output = log.read_text()
    assert '"source_error"' in output
    assert secret not in output
    assert "SESSIONMARKER" not in output
