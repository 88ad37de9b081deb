"""telemetry.logging.redact: credentials never reach the logs."""

from __future__ import annotations

from typing import Any

import pytest

from poller.telemetry.logging import REDACTED, redact


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
