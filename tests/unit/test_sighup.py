"""cli: what a SIGHUP does when the new configuration cannot be applied. It is refused or fails,
and the daemon runs on with the old configuration; it never stops the daemon."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError
from structlog.testing import capture_logs

from poller.cli import _reload, check_handlers
from poller.config.loader import parse_config
from poller.errors import ConfigError, StartupError

pytestmark = pytest.mark.anyio


def _config_file(tmp_path: Path, handler: str) -> Path:
    path = tmp_path / "poller.yaml"
    path.write_text(
        f"functions: {{fn: {{handler: '{handler}', code_uri: '.'}}}}\n"
        "mappings: [{function: fn, event_source_arn: 'arn:aws:sqs:us-east-1:123456789012:q'}]\n"
    )
    return path


def test_a_package_whose_init_raises_is_a_config_error(tmp_path: Path) -> None:
    package = f"pkg_{uuid.uuid4().hex[:8]}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("import os\nTABLE = os.environ['NO_SUCH']\n")
    (tmp_path / package / "app.py").write_text("def handler(event, context): pass\n")
    config = parse_config(_config_file(tmp_path, f"{package}.app:handler").read_text(), {})
    with pytest.raises(ConfigError) as info:
        check_handlers(config, tmp_path)
    assert info.value.issues == [
        f"functions.fn.handler: importing '{package}.app' failed: KeyError: 'NO_SUCH'"
    ]


class _FailingDaemon:
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def reload(self, config: Any) -> None:
        raise self.error


@pytest.mark.parametrize(
    ("error", "logged"),
    [
        pytest.param(
            StartupError("functions.fn.handler: ModuleNotFoundError: x"),
            "functions.fn.handler: ModuleNotFoundError: x",
            id="startup-error",
        ),
        pytest.param(
            EndpointConnectionError(endpoint_url="https://sts.amazonaws.com"),
            "EndpointConnectionError: Could not connect to the endpoint URL: "
            '"https://sts.amazonaws.com"',
            id="sts-unreachable",
        ),
    ],
)
async def test_a_reload_that_fails_is_logged_and_the_daemon_runs_on(
    tmp_path: Path, error: Exception, logged: str
) -> None:
    module = f"h_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text("def handler(event, context): pass\n")
    path = _config_file(tmp_path, f"{module}:handler")
    with capture_logs() as logs:
        await _reload(_FailingDaemon(error), path)  # type: ignore[arg-type]
    [failed] = [e for e in logs if e["event"] == "reload_failed"]
    assert failed["error"] == logged
