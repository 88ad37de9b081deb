"""Servers other than moto, and the peer contenders, installed on demand in a cache directory.

- `MinistackServer`: ministack (PyPI) in a venv of its own (it pins a botocore other than
  poller's), started as `GATEWAY_PORT=<port> BIND_HOST=127.0.0.1 ministack` in its own process
  group and stopped by that group, whatever happens;
- `ExternalServer`: any AWS-compatible endpoint already running (`--endpoint URL`);
- `add_server_options`, `make_server`: `--server moto|ministack`, `--endpoint`, `--server-pid`;
- `ensure_sqs_consumer`, `ensure_async_kinesis`: bbc's sqs-consumer (npm) and async-kinesis
  (PyPI) for the peer contenders in `peers/`; `Unavailable` says why one cannot be had.

Everything installed lives under `$POLLER_BENCH_CACHE` (default `~/.cache/poller-bench`), one
directory per pinned version, made once (under a file lock, so two benchmarks starting together
do not race) and reused; a directory without its completion marker is rebuilt.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import bench_support as bench

# Pinned: the newest release on PyPI / npm when this was written, except sqs-consumer, whose
# 15.x wants node >= 22 (this machine has node 20): 14.2.8 is the newest that runs on node 20.
MINISTACK_VERSION = "1.5.33"
SQS_CONSUMER_VERSION = "14.2.8"
CLIENT_SQS_VERSION = "3.1178.0"  # @aws-sdk/client-sqs; sqs-consumer 14.2.8 asks ^3.1018.0
ASYNC_KINESIS_VERSION = "3.0.1"
NODE_MAJOR_MIN = 20  # sqs-consumer 14.x's engines field
INSTALL_TIMEOUT = 600.0
MARKER = ".poller-bench-complete"
EXIT_UNAVAILABLE = 3  # a server that cannot be installed or reached


class Unavailable(Exception):
    """A server or peer that cannot be installed here; the message says why."""


def cache_dir() -> Path:
    """`$POLLER_BENCH_CACHE`, else `$XDG_CACHE_HOME/poller-bench` (`~/.cache/poller-bench`)."""
    if explicit := os.environ.get("POLLER_BENCH_CACHE"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "poller-bench"


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    """An exclusive lock on `<cache>/<name>.lock` while installing `name`."""
    cache_dir().mkdir(parents=True, exist_ok=True)
    with (cache_dir() / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _run(command: list[str], what: str, cwd: Path | None = None) -> str:
    """Run an install step; Unavailable with the tail of its output if it fails or hangs."""
    try:
        done = subprocess.run(
            command,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"{what}: {exc}") from exc
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip()[-1500:]
        raise Unavailable(f"{what} failed (exit {done.returncode}):\n{tail}")
    return done.stdout


def _installed(directory: Path) -> bool:
    return (directory / MARKER).exists()


def _fresh(directory: Path, what: str) -> None:
    """Remove a half-made install and say what is about to be installed."""
    if directory.exists():
        shutil.rmtree(directory)
    print(f"installing {what} into {directory} (once) ...", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# Installs


def ensure_ministack() -> Path:
    """The venv holding ministack==MINISTACK_VERSION (and its own botocore), made if missing."""
    venv = cache_dir() / f"ministack-{MINISTACK_VERSION}-venv"
    with _locked("ministack"):
        if not _installed(venv):
            _fresh(venv, f"ministack=={MINISTACK_VERSION}")
            _run([sys.executable, "-m", "venv", str(venv)], "python -m venv")
            pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
            _run([*pip, f"ministack=={MINISTACK_VERSION}"], "pip install ministack")
            (venv / MARKER).write_text(MINISTACK_VERSION)
    return venv


def node_version() -> str:
    """`node --version` without the v; Unavailable without node and npm, or node too old."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise Unavailable("node and npm are needed (not found on PATH)")
    version = _run(["node", "--version"], "node --version").strip().lstrip("v")
    if int(version.split(".")[0]) < NODE_MAJOR_MIN:
        raise Unavailable(f"sqs-consumer {SQS_CONSUMER_VERSION} needs node >= {NODE_MAJOR_MIN}")
    return version


def ensure_sqs_consumer() -> Path:
    """A directory whose node_modules holds sqs-consumer and @aws-sdk/client-sqs (pinned)."""
    node_version()
    directory = cache_dir() / f"sqs-consumer-{SQS_CONSUMER_VERSION}"
    with _locked("sqs-consumer"):
        if not _installed(directory):
            _fresh(directory, f"sqs-consumer@{SQS_CONSUMER_VERSION} (npm)")
            directory.mkdir(parents=True)
            package = {
                "name": "poller-bench-sqs-consumer",
                "private": True,
                "description": "bbc's sqs-consumer for benchmarks/peers/sqs_consumer.js",
                "dependencies": {
                    "sqs-consumer": SQS_CONSUMER_VERSION,
                    "@aws-sdk/client-sqs": CLIENT_SQS_VERSION,
                },
            }
            (directory / "package.json").write_text(json.dumps(package, indent=2) + "\n")
            _run(["npm", "install", "--no-audit", "--no-fund"], "npm install", cwd=directory)
            (directory / MARKER).write_text(SQS_CONSUMER_VERSION)
    return directory


def ensure_async_kinesis() -> Path:
    """A directory holding async-kinesis (`pip install --target`, no dependencies): it needs
    only aiobotocore, which poller's venv has at the pinned version, so the peer runs on the
    same botocore as poller, in a process of its own (`PYTHONPATH=<dir>`)."""
    directory = cache_dir() / f"async-kinesis-{ASYNC_KINESIS_VERSION}"
    with _locked("async-kinesis"):
        if not _installed(directory):
            _fresh(directory, f"async-kinesis=={ASYNC_KINESIS_VERSION}")
            _run(
                [
                    *(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"),
                    *("--target", str(directory), f"async-kinesis=={ASYNC_KINESIS_VERSION}"),
                ],
                "pip install async-kinesis",
            )
            (directory / MARKER).write_text(ASYNC_KINESIS_VERSION)
    return directory


# ---------------------------------------------------------------------------------------------
# Servers


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer means it is serving
    except OSError:
        return False


class MinistackServer:
    """ministack on 127.0.0.1 and a free port, in its own process group (its own GIL).

    `start()` returns once `/_ministack/health` answers. `stop()` sends SIGTERM to the whole
    group, SIGKILL after `timeout`, and reaps the leader last, so the group id cannot be reused
    while it is signalled. On Linux the leader also gets SIGTERM from the kernel if this process
    dies without running `stop()`. One start/stop per instance.
    """

    name = "ministack"

    def __init__(self, venv: Path) -> None:
        self.venv = venv
        self.port = bench._free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self._proc: subprocess.Popen[bytes] | None = None
        self._members: list[int] = []

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout: float = 60.0) -> None:
        env = {**os.environ, "GATEWAY_PORT": str(self.port), "BIND_HOST": "127.0.0.1"}
        self._proc = subprocess.Popen(
            [str(self.venv / "bin" / "ministack")],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=bench._die_with_parent if sys.platform == "linux" else None,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"ministack exited with {self._proc.returncode}:\n{self.tail()}")
            if _answers(f"{self.url}/_ministack/health"):
                self._members = bench.process_group(self._proc.pid) or [self._proc.pid]
                return
            time.sleep(0.1)
        raise RuntimeError(f"ministack did not answer within {timeout:.0f} s:\n{self.tail()}")

    def reset(self) -> bool:
        """POST /_ministack/reset: wipe every service's state."""
        request = urllib.request.Request(f"{self.url}/_ministack/reset", method="POST")
        with urllib.request.urlopen(request, timeout=30):
            pass
        return True

    def cpu_seconds(self) -> float | None:
        """CPU of every process of its group (found when it first answered)."""
        return bench.process_cpu_seconds(self._members) if self._proc is not None else None

    def describe(self) -> dict[str, str]:
        return {"ministack": MINISTACK_VERSION, "url": self.url}

    def tail(self, limit: int = 4000) -> str:
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")[-limit:]

    def stop(self, timeout: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        try:
            if proc is not None:
                _stop_group(proc, timeout)
        finally:
            self._log.close()
            with contextlib.suppress(OSError):
                Path(tempfile.gettempdir(), f"ministack-{self.port}.pid").unlink()


def _leader_exited(pid: int) -> bool:
    """Whether the leader has exited, without reaping it (its PID, so the group id, stays ours)."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def _stop_group(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM to the group, SIGKILL to what is left after `timeout`, then reap the leader."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while not _leader_exited(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers, or the leader itself if it hung
    proc.wait(timeout)


class ExternalServer:
    """An endpoint someone else runs: never started, stopped or reset by the benchmark. Its CPU
    is read from `/proc/<pid>/stat` if `--server-pid` names its process (same machine)."""

    name = "endpoint"

    def __init__(self, url: str, pid: int | None) -> None:
        self.url = url.rstrip("/")
        self._pid = pid

    @property
    def pid(self) -> int | None:
        return self._pid

    def start(self) -> None:
        if not _answers(self.url):
            raise RuntimeError(f"nothing answers at {self.url}")

    def stop(self) -> None:
        pass

    def reset(self) -> bool:
        return False

    def cpu_seconds(self) -> float | None:
        return bench.process_cpu_seconds([self._pid]) if self._pid is not None else None

    def describe(self) -> dict[str, str]:
        return {"url": self.url}


# ---------------------------------------------------------------------------------------------
# Command line


def add_server_options(parser: argparse.ArgumentParser, default: str = "ministack") -> None:
    """--server (ministack or moto, `default` if not given), --endpoint URL, --server-pid PID."""
    parser.add_argument(
        "--server",
        choices=("ministack", "moto"),
        default=default,
        help=f"the server to start on 127.0.0.1 ({default}; ministack is installed on first use"
        f" into {cache_dir()})",
    )
    parser.add_argument(
        "--endpoint",
        help="use this already-running AWS-compatible endpoint instead of starting a server",
    )
    parser.add_argument(
        "--server-pid",
        type=int,
        help="with --endpoint: the server's PID, to read its CPU from /proc",
    )


def make_server(opts: argparse.Namespace) -> bench.Server:
    """The server the options ask for, installed if need be (not started); Unavailable if
    ministack cannot be installed."""
    if opts.endpoint:
        return ExternalServer(opts.endpoint, opts.server_pid)
    if opts.server == "moto":
        return bench.MotoServer()
    try:
        return MinistackServer(ensure_ministack())
    except Unavailable as exc:
        raise Unavailable(
            f"ministack {MINISTACK_VERSION} could not be installed ({exc});"
            " run with --server moto, or --endpoint URL for a server already running"
        ) from exc


def server_kind(opts: argparse.Namespace) -> str:
    """`moto`, `ministack` or `endpoint`, before the server exists (for defaults)."""
    return "endpoint" if opts.endpoint else str(opts.server)
