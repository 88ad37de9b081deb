"""Logs: records only with logging.log_records; credentials never, whatever fails."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import itest_handlers
import pytest
import structlog
from sqs_support import HERE, config_yaml, make_queue, running, send, unique, wait_for

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
    env = {
        **os.environ,
        "PYTHONPATH": str(HERE),
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEKEYID0000",
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_SESSION_TOKEN": "SESSIONMARKER" + "x" * 40,
    }
    log = tmp_path / "poller.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "poller", "run", "-c", str(config)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        # The endpoint refuses. The first source_error is logged once botocore's own retries
        # give up, seconds after start-up; a SIGTERM before then cancels the call unlogged.
        deadline = time.monotonic() + 30
        while '"source_error"' not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = log.read_text()
    assert '"source_error"' in output
    assert secret not in output
    assert "SESSIONMARKER" not in output
