"""sd_notify over a real AF_UNIX datagram socket, the watchdog table, and the shipped unit file."""

from __future__ import annotations

import configparser
import shlex
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from poller.config.models import PollerConfig
from poller.daemon import Daemon
from poller.telemetry.systemd import Notifier, notify_address, watchdog_interval

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sd_notify: Linux")

UNIT = Path(__file__).parents[3] / "deploy" / "systemd" / "poller.service"


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A stand-in for systemd's notify socket: a bound datagram socket and its $NOTIFY_SOCKET."""
    path = str(tmp_path / "notify.sock")
    if len(path) >= 100:
        pytest.skip("tmp_path too long for an AF_UNIX address")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(2)
        yield sock, path


def pending(sock: socket.socket) -> list[bytes]:
    sock.setblocking(False)
    messages = []
    while True:
        try:
            messages.append(sock.recv(4096))
        except BlockingIOError:
            return messages


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "43"}, None),  # another process's
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": ""}, 15.0),  # empty counts as unset
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "x"}, None),
        ({"WATCHDOG_USEC": "1"}, 0.0000005),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": ""}, None),
        ({"WATCHDOG_USEC": "-5"}, None),
        ({"WATCHDOG_USEC": "1_000"}, None),
        ({"WATCHDOG_USEC": "30s"}, None),
        ({"WATCHDOG_PID": "42"}, None),
    ],
)
def test_watchdog_interval(environ: dict[str, str], expected: float | None) -> None:
    assert watchdog_interval(environ, pid=42) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("/run/systemd/notify", "/run/systemd/notify"),
        ("@/org/freedesktop/systemd1/notify", "\0/org/freedesktop/systemd1/notify"),
    ],
)
def test_notify_address(value: str | None, expected: str | None) -> None:
    assert notify_address({} if value is None else {"NOTIFY_SOCKET": value}) == expected


def test_ready_and_stopping_reach_the_manager(manager: tuple[socket.socket, str]) -> None:
    sock, path = manager
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": path})
    notifier.ready("running 2\nmappings")
    notifier.stopping()
    assert sock.recv(4096) == b"READY=1\nSTATUS=running 2 mappings"
    assert sock.recv(4096).split(b"\n")[0] == b"STOPPING=1"


def test_abstract_namespace_address() -> None:
    name = f"poller-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        Notifier.from_environ({"NOTIFY_SOCKET": "@" + name}).ready("up")
        assert sock.recv(4096).startswith(b"READY=1\n")


@pytest.mark.anyio
async def test_run_sends_watchdog_keepalives(manager: tuple[socket.socket, str]) -> None:
    sock, path = manager
    environ = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "20000"}  # a ping every 10 ms
    notifier = Notifier.from_environ(environ)
    assert notifier.watchdog == 0.01
    async with anyio.create_task_group() as tg:
        tg.start_soon(notifier.run)
        await anyio.sleep(0.2)
        tg.cancel_scope.cancel()
    messages = pending(sock)
    assert len(messages) >= 2
    assert set(messages) == {b"WATCHDOG=1"}


@pytest.mark.anyio
@pytest.mark.parametrize(
    "environ",
    [
        {},  # not under systemd
        {"WATCHDOG_USEC": "20000"},  # a watchdog but nowhere to send to
        {"NOTIFY_SOCKET": "/nonexistent", "WATCHDOG_USEC": "20000", "WATCHDOG_PID": "1"},
    ],
)
async def test_run_returns_without_a_watchdog_of_its_own(environ: dict[str, str]) -> None:
    notifier = Notifier.from_environ(environ, pid=2)
    with anyio.fail_after(1):
        await notifier.run()


def test_without_notify_socket_nothing_happens() -> None:
    notifier = Notifier.from_environ({})
    with capture_logs() as logs:
        notifier.ready("up")
        notifier.send("WATCHDOG=1")
        notifier.stopping()
    assert notifier.address is None
    assert logs == []


def test_unreachable_socket_is_logged_once_never_raised(tmp_path: Path) -> None:
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    with capture_logs() as logs:
        notifier.ready("up")
        notifier.send("WATCHDOG=1")
        notifier.stopping()
    assert [(log["event"], log["log_level"], log["state"]) for log in logs] == [
        ("systemd_notify_failed", "warning", "READY=1")
    ]
    assert "No such file" in logs[0]["error"]


@pytest.mark.anyio
async def test_daemon_reports_ready_then_stopping(
    manager: tuple[socket.socket, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, path = manager
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    config = PollerConfig.model_validate(
        {"functions": {"fn": {"handler": "nowhere:handler"}}, "http": {"enabled": False}}
    )
    daemon = Daemon(config, tmp_path)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            await tg.start(daemon.run)
            assert await anyio.to_thread.run_sync(sock.recv, 4096) == (
                b"READY=1\nSTATUS=running 0 mappings"
            )
            daemon.stop()
    assert pending(sock)[0].startswith(b"STOPPING=1\n")


# --- the unit file -------------------------------------------------------------------------


class _Settings(dict[str, Any]):
    """Option storage that keeps every assignment of a repeated key, as systemd does.

    configparser stores a value as a list of lines and joins them with newlines once the file
    is read; appending a repeated key's lines makes `get()` return all its values, one a line.
    """

    def __setitem__(self, key: str, value: Any) -> None:
        if isinstance(value, list) and isinstance(self.get(key), list):
            self[key].extend(value)
        else:
            super().__setitem__(key, value)


class _UnitParser(configparser.RawConfigParser):
    def optionxform(self, optionstr: str) -> str:
        return optionstr  # systemd keys are case-sensitive


def read_unit(path: Path) -> _UnitParser:
    parser = _UnitParser(strict=False, interpolation=None, dict_type=_Settings)
    parser.read_string(path.read_text())
    return parser


def values(unit: configparser.RawConfigParser, section: str, key: str) -> list[str]:
    return unit.get(section, key).split("\n")  # an empty assignment is one empty value


def test_unit_parser_keeps_repeated_keys() -> None:
    unit = _UnitParser(strict=False, interpolation=None, dict_type=_Settings)
    unit.read_string("[Service]\nEnvironment=A=1\nType=simple\nEnvironment=B=2\nType=notify\n")
    assert values(unit, "Service", "Environment") == ["A=1", "B=2"]
    assert values(unit, "Service", "Type")[-1] == "notify"  # a scalar: the last one wins


def test_unit_file_settings() -> None:
    unit = read_unit(UNIT)

    def last(key: str) -> str:
        return values(unit, "Service", key)[-1]

    required = {
        "Type": "notify",
        "NotifyAccess": "main",
        "WatchdogSec": "30",
        "Restart": "on-failure",
        "RestartSec": "5",
        "KillSignal": "SIGTERM",
        "KillMode": "mixed",
        "DynamicUser": "yes",
        "StateDirectory": "poller",
        "ConfigurationDirectory": "poller",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "NoNewPrivileges": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "RestrictNamespaces": "yes",
        "LockPersonality": "yes",
        "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    }
    assert {key: last(key) for key in required} == required
    # Longer than the drain (shutdown_timeout, 30 s by default): systemd must not SIGKILL it.
    assert int(last("TimeoutStopSec")) > 30
    assert "@system-service" in values(unit, "Service", "SystemCallFilter")
    assert "PYTHONUNBUFFERED=1" in values(unit, "Service", "Environment")
    # poller reloads its configuration on SIGHUP.
    assert unit.get("Service", "ExecReload") == "/bin/kill -HUP $MAINPID"
    command = shlex.split(last("ExecStart"))
    assert [Path(command[0]).name, *command[1:3]] == ["poller", "run", "-c"]
    assert command[3] == "/etc/poller/config.yaml"
    assert values(unit, "Install", "WantedBy") == ["multi-user.target"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_unit_file_verifies(tmp_path: Path) -> None:
    # verify checks that ExecStart's binary exists; poller is not installed at the documented
    # /usr/local/bin/poller here, so check a copy pointing at this interpreter instead.
    text = UNIT.read_text().replace("/usr/local/bin/poller run", f"{sys.executable} run")
    copy = tmp_path / UNIT.name
    copy.write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert UNIT.name not in output, output  # e.g. "Unknown key ... ignoring" is only a warning
