"""cli: `poller version`, `validate` and `status` load only what they need.

Each command runs in a fresh interpreter (a subprocess), which then reports `sys.modules`. None
may load the AWS SDK, the event loop or the daemon; `version` and `status` not even the
configuration models. A module-level import added back to `poller.cli`, `poller.errors`,
`poller.config.*` or `poller.telemetry.status_client` fails these tests (`-X importtime` shows
who brought it in: `python -X importtime -m poller validate -c FILE 2>&1 | grep botocore`).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

# Runs `poller.cli.main(argv)` as `python -m poller` does, then prints the modules it loaded.
PROBE = """
import json, sys
from poller.cli import main
code = main(sys.argv[1:])
print("PROBE " + json.dumps({"code": int(code), "modules": sorted(sys.modules)}))
"""

# Never needed by version, validate or status: the AWS SDK, the event loop, the daemon and its
# services, TLS and HTTP clients.
HEAVY = (
    "aioboto3",
    "aiobotocore",
    "boto3",
    "botocore",
    "aiohttp",
    "anyio",
    "asyncio",
    "structlog",
    "prometheus_client",
    "ssl",
    "http.client",
    "poller.daemon",
    "poller.supervisor",
    "poller.aws",
    "poller.runtime",
    "poller.invokers",
    "poller.sources",
    "poller.telemetry.metrics",
    "poller.telemetry.http",
)
# What only `validate` (and `run`) need: the configuration and its parsers.
CONFIG = ("pydantic", "pydantic_core", "yaml", "poller.config.models", "poller.config.loader")

CONFIG_TEXT = """\
functions:
  fn: {handler: "probe_handler:handler", code_uri: ".", timeout: 3}
mappings:
  - function: fn
    event_source_arn: arn:aws:sqs:us-east-1:123456789012:q
    batch_size: 10
    filter_criteria: {filters: [{pattern: '{"body": {"kind": ["a"]}}'}]}
  - FunctionName: fn
    EventSourceArn: arn:aws:kinesis:us-east-1:123456789012:stream/s
    StartingPosition: TRIM_HORIZON
    DestinationConfig: {OnFailure: {Destination: arn:aws:sqs:us-east-1:123456789012:dlq}}
"""


def probe(cwd: Path, *argv: str) -> tuple[int, set[str], str]:
    """Run the cli with `argv` in a new interpreter: exit code, loaded modules, other output."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = done.stdout.splitlines()
    report = [line for line in lines if line.startswith("PROBE ")]
    assert report, f"the probe did not finish: {done.stdout}\n{done.stderr}"
    data: dict[str, Any] = json.loads(report[-1].removeprefix("PROBE "))
    other = "\n".join(line for line in lines if not line.startswith("PROBE "))
    return data["code"], set(data["modules"]), other


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """Those of `names` that are loaded, themselves or any submodule."""
    return [n for n in names if n in modules or any(m.startswith(f"{n}.") for m in modules)]


def test_version_loads_neither_the_sdk_nor_the_configuration(tmp_path: Path) -> None:
    code, modules, out = probe(tmp_path, "version")
    assert code == 0
    assert out.startswith("poller ")
    assert loaded(modules, HEAVY + CONFIG) == []


def test_validate_loads_the_configuration_only(tmp_path: Path) -> None:
    (tmp_path / "probe_handler.py").write_text("def handler(event, context):\n    return None\n")
    (tmp_path / "poller.yaml").write_text(CONFIG_TEXT)
    code, modules, out = probe(tmp_path, "validate", "-c", "poller.yaml")
    assert (code, out) == (0, "poller.yaml: OK (1 functions, 2 mappings)")
    assert "poller.config.models" in modules  # the probe did validate
    assert loaded(modules, HEAVY) == []


def test_an_invalid_configuration_is_reported_without_the_sdk(tmp_path: Path) -> None:
    (tmp_path / "poller.yaml").write_text(CONFIG_TEXT.replace("batch_size: 10", "colour: blue"))
    code, modules, _ = probe(tmp_path, "validate", "-c", "poller.yaml")
    assert code == 2
    assert loaded(modules, HEAVY) == []


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_status_without_a_daemon_loads_neither_the_sdk_nor_the_configuration(
    tmp_path: Path, closed_port: int
) -> None:
    code, modules, out = probe(tmp_path, "status", "--url", f"http://127.0.0.1:{closed_port}")
    assert code == 1
    assert "cannot read" in out
    network = ("ssl", "http.client")  # urllib.request's, which status uses
    assert loaded(modules, tuple(n for n in HEAVY if n not in network) + CONFIG) == []


def test_the_daemon_loads_tenacity_only_when_something_fails() -> None:
    """Retries are built on the first failure (`poller.aws.retried`): a daemon that starts and
    polls without an error never pays tenacity's import."""
    done = subprocess.run(
        [sys.executable, "-c", "import sys, poller.daemon; print('tenacity' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout.strip() == "False"
