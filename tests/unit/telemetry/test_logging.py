"""telemetry.logging.redact: credentials never reach the logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from poller.telemetry.logging import REDACTED, redact, render_json


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        pytest.param({"event": "x", "token": "t"}, {"event": "x", "token": REDACTED}, id="token"),
        pytest.param(
            {"event": "x", "aws_secret_access_key": "k"},
            {"event": "x", "aws_secret_access_key": REDACTED},
            id="secret-key",
        ),
        pytest.param(
            {"event": "x", "Authorization": "AWS4-HMAC-SHA256 ..."},
            {"event": "x", "Authorization": REDACTED},
            id="authorization-header",
        ),
        pytest.param(
            {"event": "x", "error": "failed: aws_secret_access_key=abc/123+xyz, retrying"},
            {"event": "x", "error": f"failed: aws_secret_access_key={REDACTED}, retrying"},
            id="secret-in-text",
        ),
        pytest.param(
            {"event": "x", "error": 'headers {"X-Amz-Security-Token": "IQoJb3JpZ2lu"}'},
            {"event": "x", "error": f'headers {{"X-Amz-Security-Token": "{REDACTED}"}}'},
            id="session-token-in-text",
        ),
        pytest.param(
            {"event": "batch_invoked", "batch_id": "b", "size": 3, "error_code": "Throttling"},
            {"event": "batch_invoked", "batch_id": "b", "size": 3, "error_code": "Throttling"},
            id="ordinary-fields-untouched",
        ),
    ],
)
def test_redact(event: dict[str, Any], expected: dict[str, Any]) -> None:
    assert redact(None, "info", dict(event)) == expected


@pytest.mark.parametrize(
    "event",
    [
        pytest.param({"event": "batch_invoked", "size": 10, "duration_ms": 0.4}, id="plain"),
        pytest.param({"event": "x", "n": 2**70}, id="int-beyond-64-bits"),
        pytest.param({"event": "x", "nested": {1: "non-string key"}}, id="non-string-key"),
        pytest.param({"event": "x", "text": 'clé \u2028 "q"'}, id="text"),
    ],
)
def test_render_json_writes_one_json_line(event: dict[str, Any]) -> None:
    line = render_json(None, "info", dict(event))
    assert "\n" not in line
    assert json.loads(line) == json.loads(json.dumps(event))


def test_render_json_writes_what_it_cannot_encode_as_its_repr() -> None:
    line = render_json(None, "info", {"event": "x", "path": Path("/tmp/a")})
    assert json.loads(line) == {"event": "x", "path": repr(Path("/tmp/a"))}
