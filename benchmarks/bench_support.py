"""What the end-to-end benchmarks in this directory share: moto's server, poller's metrics, runs.

- `run_benchmark`: the body of every benchmark's `main()`: moto up, the rounds, moto down, report;
- `MotoServer`, `run_against_moto`, `sigterm_as_exit`: moto's server in its own process, never
  left running (stopped by PID, on SIGTERM / SIGHUP too, and on Linux when the benchmark dies);
- `client_config`, `prepare_process`: the same client settings and process set-up as poller;
- `sample`, `api_calls`: figures read from a `Metrics` registry;
- `run_daemon_until`, `run_tasks_until`: run a contender until a condition, stop it, time the stop;
- `add_common_options`, `command_line`, `environment`, `print_report`: the command-line options
  and the report (table or JSON) every benchmark has.

The benchmarks are run as `python benchmarks/<name>.py`, so this directory is on `sys.path` and a
plain `import bench_support` works (mypy finds it through `mypy_path`).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import platform
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import IO, Any, TypeVar

import anyio
from aiobotocore.config import AioConfig
from anyio.abc import TaskStatus

from poller.daemon import Daemon
from poller.telemetry.logging import configure
from poller.telemetry.metrics import Metrics

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
PR_SET_PDEATHSIG = 1  # prctl(2): signal the child when this process dies

T = TypeVar("T")


# ---------------------------------------------------------------------------------------------
# moto's server, in its own process


class MotoServer:
    """`moto_server` on loopback and a free port, in its own OS process (its own GIL).

    `start()` returns once the server answers HTTP. Stopped by PID in `stop()`, which also
    closes the server's log, so an instance serves one start/stop. On Linux the child also gets
    SIGTERM from the kernel if this process dies without running `stop()` (SIGKILL, a crash), so
    no server is left behind.
    """

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The server's PID while it is started, else None."""
        return self._proc.pid if self._proc is not None else None

    def command(self) -> list[str]:
        """The venv's `moto_server` script if there is one, else `python -m moto.server`."""
        script = Path(sys.executable).with_name("moto_server")
        launcher = [str(script)] if script.exists() else [sys.executable, "-m", "moto.server"]
        return [*launcher, "-H", "127.0.0.1", "-p", str(self.port)]

    def start(self, timeout: float = 30.0) -> None:
        """Launch the server and wait until it answers; RuntimeError (with its log) if it exits
        or does not answer within `timeout` seconds (call `stop()` in either case)."""
        self._proc = subprocess.Popen(
            self.command(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"moto_server exited with {self._proc.returncode}:\n{self.tail()}"
                )
            if self._answers():
                return
            time.sleep(0.1)
        raise RuntimeError(f"moto_server did not answer within {timeout:.0f} s:\n{self.tail()}")

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):
                return True
        except urllib.error.HTTPError:
            return True  # any HTTP answer means it is serving
        except OSError:
            return False

    def reset(self) -> None:
        """POST /moto-api/reset: wipe every backend (queues, streams, CloudWatch data moto keeps).

        Blocking: from async code call it through `anyio.to_thread.run_sync`."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=30):
            pass

    def tail(self, limit: int = 4000) -> str:
        """The last `limit` characters of the server's combined stdout and stderr."""
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")[-limit:]

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate by PID, kill after `timeout`; safe to call when not started or stopped."""
        proc, self._proc = self._proc, None
        try:
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout)
        finally:
            self._log.close()


def _die_with_parent() -> None:
    """In the child before exec: ask the kernel for SIGTERM when the parent dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def sigterm_as_exit() -> Iterator[None]:
    """SIGTERM (and SIGHUP) raise SystemExit, so `finally` blocks run and moto is stopped.

    The previous handlers are restored on leaving. Main thread only (a `signal` rule)."""

    def leave(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, leave) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_against_moto(benchmark: Callable[[MotoServer], Awaitable[T]]) -> T | None:
    """Start a `MotoServer`, run `benchmark(server)` in a fresh event loop, stop the server.

    Returns what the benchmark returns (which must not be None), or None if it raised
    TimeoutError (alone or inside an exception group; the caller reports it). Any other
    exception propagates. The server is stopped whatever happens: an exception, Ctrl-C,
    SIGTERM / SIGHUP (see `sigterm_as_exit`); on Linux it also dies with this process (see
    `MotoServer`).
    """
    timed_out = False
    result: T | None = None
    with sigterm_as_exit():
        moto = MotoServer()
        try:
            moto.start()
            print(f"moto_server pid {moto.pid} at {moto.url}", file=sys.stderr)
            result = anyio.run(benchmark, moto)
        except* TimeoutError:
            timed_out = True
        finally:
            moto.stop()
    return None if timed_out else result


# ---------------------------------------------------------------------------------------------
# AWS clients and process set-up


def client_config(max_pool_connections: int) -> AioConfig:
    """poller's client settings (poller.aws.Aws.client: timeouts, retries) with this pool size."""
    return AioConfig(
        connect_timeout=5,
        read_timeout=45,
        max_pool_connections=max_pool_connections,
        retries={"mode": "standard", "max_attempts": 3},
    )


def prepare_process(log_level: str) -> None:
    """moto's dummy credentials and `REGION` in the environment (any session token or profile
    removed, so nothing real is used), and poller's logging to the console at `log_level`."""
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # moto's dummy credentials
        AWS_DEFAULT_REGION=REGION,
    )
    for var in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE"):
        os.environ.pop(var, None)
    configure(log_level, "console")


# ---------------------------------------------------------------------------------------------
# poller's metrics


def sample(metrics: Metrics, name: str, labels: dict[str, str]) -> float:
    """The value of sample `name` with exactly these labels in the registry; 0.0 if absent."""
    return metrics.value(name, **labels)


def api_calls(metrics: Metrics, service: str) -> dict[str, int]:
    """`poller_aws_api_calls_total` of one service (`sqs`, `kinesis`, ...) by operation; an
    operation never called is absent."""
    label_sets = [
        s.labels
        for family in metrics.registry.collect()
        if family.name == "poller_aws_api_calls"
        for s in family.samples
        if s.name == "poller_aws_api_calls_total"
    ]
    return {
        labels["operation"]: int(sample(metrics, "poller_aws_api_calls_total", labels))
        for labels in label_sets
        if labels["service"] == service
    }


# ---------------------------------------------------------------------------------------------
# Running a contender until a condition, then stopping it


async def run_daemon_until(
    daemon: Daemon,
    until: Callable[[], Awaitable[T]],
    *,
    wait_limit: float,
    shutdown_limit: float,
) -> tuple[T, float]:
    """Start `daemon`, await `until()`, then `daemon.stop()` and wait for `run()` to return.

    Returns `until()`'s result and the seconds from `stop()` until the daemon had stopped. If
    `until()` takes longer than `wait_limit` seconds, TimeoutError is raised (the daemon is
    cancelled). If the daemon takes longer than `shutdown_limit` seconds to stop, a `!!` line
    goes to stderr, the daemon is cancelled and the seconds count up to that point.
    """
    stopped = anyio.Event()

    async def run_daemon(*, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        await daemon.run(task_status=task_status)
        stopped.set()

    async with anyio.create_task_group() as tg:
        await tg.start(run_daemon)
        with anyio.fail_after(wait_limit):
            result = await until()
        stop_requested = time.perf_counter()
        daemon.stop()
        with anyio.move_on_after(shutdown_limit):
            await stopped.wait()
        shutdown = time.perf_counter() - stop_requested
        if not stopped.is_set():
            print(
                f"  !! poller did not stop within {shutdown_limit:.0f} s of stop(); cancelling it",
                file=sys.stderr,
            )
            tg.cancel_scope.cancel()
    return result, shutdown


async def run_tasks_until(
    tasks: Iterable[Callable[[], Coroutine[Any, Any, object]]],
    done: anyio.Event,
    *,
    wait_limit: float,
) -> float:
    """Start every task in one task group, wait for `done`, then cancel them all.

    Returns once every task has ended, with the `time.perf_counter()` at which they were told
    to stop: the caller measures the shutdown from there, including whatever it closes after
    (its client). TimeoutError if `done` is not set within `wait_limit` seconds (the tasks are
    cancelled). A task that raises ends the wait with its exception, as in any task group.
    """
    async with anyio.create_task_group() as tg:
        for task in tasks:
            tg.start_soon(task)
        with anyio.fail_after(wait_limit):
            await done.wait()
        stop_requested = time.perf_counter()
        tg.cancel_scope.cancel()
    return stop_requested


# ---------------------------------------------------------------------------------------------
# Command line and report


def add_common_options(
    parser: argparse.ArgumentParser, *, timeout: float, shutdown_limit: float
) -> None:
    """--json, --no-warmup (dest `warmup`), --log-level, --timeout and --shutdown-limit, with
    these defaults for the last two (seconds)."""
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument(
        "--no-warmup", dest="warmup", action="store_false", help="skip the unreported warm-up"
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=("debug", "info", "warning", "error"),
        help="poller's log level (warning: no per-batch log lines)",
    )
    parser.add_argument(
        "--timeout", type=float, default=timeout, help="give up on a run after this many seconds"
    )
    parser.add_argument(
        "--shutdown-limit",
        type=float,
        default=shutdown_limit,
        help="seconds poller may take to stop before it is cancelled and reported",
    )


def command_line() -> str:
    """This process's command line, shell-quoted, to head the report."""
    return shlex.join([sys.executable, *sys.argv])


def environment() -> dict[str, str]:
    """Python, platform, CPU count and the versions of the packages that shape the figures."""
    versions = {pkg: metadata.version(pkg) for pkg in ("moto", "aioboto3", "botocore", "anyio")}
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": str(os.cpu_count()),
        **versions,
    }


def print_report(
    opts: argparse.Namespace,
    command: str,
    wall_seconds: float,
    table: str,
    results: dict[str, Any],
) -> None:
    """The report on stdout: with `opts.json` a JSON document (command, environment,
    parameters = every option but --json, then `results` in order, then wall_seconds);
    otherwise the command, the environment, `table` and the wall time as text."""
    if opts.json:
        document = {
            "command": command,
            "environment": environment(),
            "parameters": {k: v for k, v in vars(opts).items() if k != "json"},
            **results,
            "wall_seconds": wall_seconds,
        }
        print(json.dumps(document, indent=2))
    else:
        env = ", ".join(f"{k} {v}" for k, v in environment().items())
        print(f"command: {command}")
        print(f"environment: {env}")
        print(table)
        print(f"wall time: {wall_seconds:.1f} s")


def run_benchmark(
    opts: argparse.Namespace,
    benchmark: Callable[[MotoServer, argparse.Namespace], Awaitable[T]],
    report: Callable[[T, argparse.Namespace], tuple[str, dict[str, Any]]],
    *,
    timeout_message: str,
) -> int:
    """Run `benchmark(moto, opts)` against a fresh moto server and print its report.

    `report(result, opts)` gives the text table and the benchmark's own entries of the JSON
    document (see `print_report`; the wall time covers moto's start, the benchmark and moto's
    stop).
    Returns the exit status: 0, or 1 after `error: <timeout_message>` on stderr if the
    benchmark raised TimeoutError. Call `prepare_process` first.
    """
    command = command_line()
    wall = time.perf_counter()
    result = run_against_moto(lambda moto: benchmark(moto, opts))
    if result is None:
        print(f"error: {timeout_message}", file=sys.stderr)
        return 1
    wall_seconds = time.perf_counter() - wall
    table, results = report(result, opts)
    print_report(opts, command, wall_seconds, table, results)
    return 0
