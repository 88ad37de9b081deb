"""No secret reaches poller's output: a `poller run` at debug level, with secrets planted in its
config (a function's `environment`, literal and `${VAR}`), its process environment (AWS keys,
the control token) and its handler's errors, driven through successes, handler errors, refused
and malformed control requests and rejected reloads, never writes one to stdout or stderr.

What is redacted (README, "Operations"): values under secret-named keys, AWS credentials inside
any text (`aws_secret_access_key=...`, `X-Amz-Security-Token`, `Signature`), and whatever a
malformed HTTP request carried. A handler's own error message is the function's output, logged
as it is apart from those AWS credentials, as Lambda writes it to the function's log. Record
bodies appear only with `logging.log_records: true`.
"""

from __future__ import annotations

import signal
import socket
import textwrap
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqs_support import (
    HERE,
    REGION,
    json_lines,
    logged_port,
    make_queue,
    queue_arn,
    send,
    start_poller,
    stop_poller,
    unique,
    until,
)

pytestmark = pytest.mark.integration


def _secret(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex}"


def _short_secret() -> str:
    """A password as people choose them: short enough to fit whole in a quoted line."""
    return f"pw{uuid.uuid4().hex[:8]}"


def _config(endpoint: str, queue: str, secrets: dict[str, str], log_records: bool) -> str:
    return textwrap.dedent(f"""\
        aws: {{region: {REGION}, endpoint_url: "{endpoint}"}}
        http: {{listen: "127.0.0.1:0", control: true}}
        logging: {{level: debug, format: json, log_records: {str(log_records).lower()}}}
        shutdown_timeout: 5
        shutdown_receives: cancel
        functions:
          fn:
            handler: "secret_handlers:handler"
            timeout: 3
            code_uri: "{HERE}"
            environment:
              DB_PASSWORD: "{secrets["config_password"]}"
              SERVICE_CREDENTIALS: "{secrets["config_credentials"]}"
              API_TOKEN: "${{PLANTED_API_TOKEN}}"
        mappings:
          - function: fn
            event_source_arn: "{queue_arn(queue)}"
            batch_size: 1
        """)


def _post(port: int, path: str, headers: dict[str, str]) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", method="POST", headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        return sock.recv(65536)


def _events(output: Path, name: str) -> list[dict[str, Any]]:
    return [e for e in json_lines(output) if e.get("event") == name]


@pytest.mark.parametrize("log_records", [False, True], ids=["records-off", "records-on"])
def test_no_planted_secret_reaches_the_output(
    endpoint: str, sqs: Any, tmp_path: Path, log_records: bool
) -> None:
    secrets = {"config_password": _short_secret()} | {
        kind: _secret(kind)
        for kind in (
            "config_credentials",
            "env_api_token",
            "aws_secret_key",
            "aws_session_token",
            "control_token",
        )
    }
    record = _secret("record-body")  # not a secret: the user's data, shown only when asked
    queue = unique("q")
    url = make_queue(sqs, queue)
    config = tmp_path / "poller.yaml"
    config.write_text(_config(endpoint, queue, secrets, log_records))
    output = tmp_path / "poller.out"
    proc = start_poller(
        config,
        output,
        PLANTED_API_TOKEN=secrets["env_api_token"],
        AWS_SECRET_ACCESS_KEY=secrets["aws_secret_key"],
        AWS_SESSION_TOKEN=secrets["aws_session_token"],
        POLLER_CONTROL_TOKEN=secrets["control_token"],
    )
    try:
        until(lambda: logged_port(output) is not None or proc.poll() is not None, 30)
        port = logged_port(output)
        assert port is not None, output.read_text()

        send(sqs, url, [f"ok {record}", "aws-error", "session-error", "boom"])
        until(lambda: len(_events(output, "handler_error")) >= 3, 30)
        until(lambda: len(_events(output, "batch_invoked")) >= 4, 30)

        token = secrets["control_token"]
        assert _post(port, "/mappings/nope/disable", {}) == 401
        assert _post(port, "/mappings/nope/disable", {"Authorization": "Bearer " + "x" * 20}) == 401
        assert _post(port, "/mappings/nope/disable", {"Authorization": f"Bearer {token}"}) == 404
        malformed = (
            b"POST /mappings/nope/disable HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer " + token.encode() + b"\x01\r\n\r\n"
        )
        assert _raw(port, malformed).startswith(b"HTTP/1.0 400 ")
        until(lambda: len(_events(output, "control_refused")) >= 2, 10)

        # Reloads refused: a YAML error on the line of a secret, then a wrong type next to one.
        good = config.read_text()
        password = secrets["config_password"]
        config.write_text(good.replace(f'"{password}"', f'"{password}'))
        proc.send_signal(signal.SIGHUP)
        until(lambda: len(_events(output, "reload_rejected")) >= 1, 10)
        config.write_text(good.replace(f'"{password}"', f'["{password}"]'))
        proc.send_signal(signal.SIGHUP)
        until(lambda: len(_events(output, "reload_rejected")) >= 2, 10)
    finally:
        assert stop_poller(proc) == 0

    text = output.read_text()
    leaked = {kind for kind, value in secrets.items() if value in text}
    assert not leaked, f"leaked: {sorted(leaked)}"
    assert (record in text) is log_records
    # The planted AWS secrets did reach the handler's errors, masked there.
    messages = [e["errorMessage"] for e in _events(output, "handler_error")]
    assert "upstream refused the request: aws_secret_access_key=[redacted]" in messages
    assert "boom" in messages  # a handler's own message is logged as it is
