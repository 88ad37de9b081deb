"""What the end-to-end benchmarks in this directory share: servers, poller's metrics, runs.

- `run_benchmark`: the body of every benchmark's `main()`: the server up, the rounds, the server
  down, report;
- `Server`, `MotoServer`, `run_against_server`, `sigterm_as_exit`: the AWS-compatible server in
  its own process, never left running (stopped by PID, on SIGTERM / SIGHUP too, and on Linux when
  the benchmark dies); ministack and an external endpoint are in `fast_server.py`;
- `process_cpu_seconds`: user + system CPU of processes, read from /proc;
- `client_config`, `prepare_process`, `server_account`: the same client settings and process
  set-up as poller, and the account the server puts resources in;
- `sample`, `api_calls`: figures read from a `Metrics` registry;
- `run_daemon_until`, `run_tasks_until`: run a contender until a condition, stop it, time the stop;
- `run_peer`: a contender in another process (node, another Python) speaking JSON lines;
- `add_common_options`, `command_line`, `environment`, `print_report`, `row`: the command-line
  options and the report (table or JSON, with its `rows`) every benchmark has.

The benchmarks are run as `python benchmarks/<name>.py`, so this directory is on `sys.path` and a
plain `import bench_support` works (mypy finds it through `mypy_path`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import functools
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
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import IO, Any, Protocol, TextIO, TypeVar

import anyio
import structlog
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
# The server: moto's here, ministack's and an external endpoint in fast_server.py


class Server(Protocol):
    """An AWS-compatible endpoint the benchmark runs against, started and stopped by it (or not)."""

    name: str  # moto, ministack, endpoint
    url: str

    @property
    def pid(self) -> int | None:
        """The server's (leading) process while started, if known."""

    def start(self) -> None:
        """Launch and wait until it answers; RuntimeError if it cannot (then call `stop()`)."""

    def stop(self) -> None:
        """Stop it, whatever state it is in; safe to call twice or when not started."""

    def reset(self) -> bool:
        """Wipe every resource; False if this server cannot (the caller deletes its own).

        Blocking: from async code call it through `anyio.to_thread.run_sync`."""

    def cpu_seconds(self) -> float | None:
        """User + system CPU its processes have used so far; None if not known."""

    def describe(self) -> dict[str, str]:
        """What to print about it in the report (version, PID)."""


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pids: Iterable[int]) -> float | None:
    """utime + stime of these processes from /proc/<pid>/stat (10 ms granularity); None if
    none of them is readable (not Linux, or all gone)."""
    total = 0
    found = False
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        total += int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)
        found = True
    return total / CLOCK_TICKS if found else None


def process_group(pgid: int) -> list[int]:
    """The PIDs of every live process in process group `pgid` (from /proc)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        if int(text.rsplit(")", 1)[1].split()[2]) == pgid:
            members.append(int(entry.name))
    return members


class MotoServer:
    """`moto_server` on loopback and a free port, in its own OS process (its own GIL).

    `start()` returns once the server answers HTTP. Stopped by PID in `stop()`, which also
    closes the server's log, so an instance serves one start/stop. On Linux the child also gets
    SIGTERM from the kernel if this process dies without running `stop()` (SIGKILL, a crash), so
    no server is left behind.
    """

    name = "moto"

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

    def reset(self) -> bool:
        """POST /moto-api/reset: wipe every backend (queues, streams, CloudWatch data moto keeps).

        Blocking: from async code call it through `anyio.to_thread.run_sync`."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=30):
            pass
        return True

    def cpu_seconds(self) -> float | None:
        """The server process's CPU so far (moto_server runs in one process)."""
        return process_cpu_seconds([self._proc.pid]) if self._proc is not None else None

    def describe(self) -> dict[str, str]:
        return {"moto": metadata.version("moto"), "url": self.url}

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


S = TypeVar("S", bound=Server)


def run_against_server(server: S, benchmark: Callable[[S], Awaitable[T]]) -> T | None:
    """Start `server`, run `benchmark(server)` in a fresh event loop, stop the server.

    Returns what the benchmark returns (which must not be None), or None if it raised
    TimeoutError (alone or inside an exception group; the caller reports it). Any other
    exception propagates. The server is stopped whatever happens: an exception, Ctrl-C,
    SIGTERM / SIGHUP (see `sigterm_as_exit`); on Linux a server this process started also dies
    with it (see `MotoServer`, `fast_server.MinistackServer`).
    """
    timed_out = False
    result: T | None = None
    with sigterm_as_exit():
        try:
            server.start()
            described = ", ".join(f"{k} {v}" for k, v in server.describe().items())
            print(f"{server.name} pid {server.pid}: {described}", file=sys.stderr)
            result = anyio.run(benchmark, server)
        except* TimeoutError:
            timed_out = True
        finally:
            server.stop()
    return None if timed_out else result


def run_against_moto(benchmark: Callable[[MotoServer], Awaitable[T]]) -> T | None:
    """`run_against_server` with a fresh `MotoServer`."""
    return run_against_server(MotoServer(), benchmark)


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
    removed, so nothing real is used), and poller's logging at `log_level` as deployed (JSON
    lines, every processor) but into /dev/null: its cost counts, its text does not flood the
    report. (`warning` leaves out the per-batch lines.)"""
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # moto's dummy credentials
        AWS_DEFAULT_REGION=REGION,
    )
    for var in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE"):
        os.environ.pop(var, None)
    configure(log_level, "json")
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(_devnull()))


@functools.cache
def _devnull() -> TextIO:
    """/dev/null for poller's log lines, opened once by a benchmark process (not on import:
    the tests import this module for MotoServer)."""
    return open(os.devnull, "w")


async def server_account(url: str) -> str:
    """The account the server puts this benchmark's resources in, as its STS says (moto:
    123456789012; ministack and LocalStack: 000000000000 for a key id that is not 12 digits)."""
    import aioboto3  # here: the benchmarks that never ask do not pay for the import

    session = aioboto3.Session(region_name=REGION)
    async with session.client("sts", endpoint_url=url, config=client_config(1)) as sts:
        identity = await sts.get_caller_identity()
    return str(identity["Account"])


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


@dataclass(frozen=True)
class Mark:
    """A moment of a timed window: wall clock, this process's CPU, the server's CPU."""

    at: float  # time.perf_counter()
    cpu: float  # time.process_time(): every thread of this process
    server_cpu: float | None

    @classmethod
    def now(cls, server_cpu: Callable[[], float | None]) -> Mark:
        return cls(time.perf_counter(), time.process_time(), server_cpu())

    def server_cpu_since(self, start: Mark) -> float | None:
        """The server's CPU from `start` to this mark, if both were read."""
        if self.server_cpu is None or start.server_cpu is None:
            return None
        return self.server_cpu - start.server_cpu


# ---------------------------------------------------------------------------------------------
# A contender in another process


PEER_LINE_LIMIT = 1 << 24  # a `done` line may carry every message's figures (latency.py)


@dataclass
class PeerRun:
    """What a contender in another process reported over one run."""

    done: dict[str, Any]  # its `done` event: its own timing, CPU and counts
    server_cpu_seconds: float | None  # the server's CPU between its `start` and `done` events
    shutdown_seconds: float  # from reading `done` until the process had exited


async def run_peer(
    command: list[str],
    *,
    env: dict[str, str],
    server_cpu: Callable[[], float | None],
    wait_limit: float,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> PeerRun:
    """Run `command` until it exits; it speaks JSON lines on stdout, one object per line with
    an `event`: `start` (its timed window opens), any of its own (`ready`, ...), `done` (the
    window closes; the object carries its figures), `stopped`; `error` with a `message` ends
    the run with RuntimeError, as does an exit without `done`.

    `on_event` sees every event as it is read. The server's CPU is sampled when `start` and
    `done` are read. TimeoutError after `wait_limit` seconds. The process is killed by PID if it
    is still running when this returns or is cancelled; on Linux it also gets SIGTERM if this
    process dies (PR_SET_PDEATHSIG).
    """
    with tempfile.TemporaryFile() as errors:
        proc = await asyncio.create_subprocess_exec(
            *command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
            env=env,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            limit=PEER_LINE_LIMIT,
        )
        try:
            with anyio.fail_after(wait_limit):
                run = await _follow_peer(proc, server_cpu, on_event)
        except RuntimeError as exc:
            errors.seek(0)
            tail = errors.read().decode("utf-8", "replace")[-3000:]
            raise RuntimeError(f"{shlex.join(command[:2])}: {exc}\n{tail}") from exc
        finally:
            if proc.returncode is None:
                proc.kill()
                with anyio.CancelScope(shield=True):
                    await proc.wait()
    return run


async def _follow_peer(
    proc: asyncio.subprocess.Process,
    server_cpu: Callable[[], float | None],
    on_event: Callable[[dict[str, Any]], None] | None,
) -> PeerRun:
    assert proc.stdout is not None
    cpu_start: float | None = None
    cpu_done: float | None = None
    done: dict[str, Any] | None = None
    done_at = 0.0
    async for line in proc.stdout:
        try:
            event = json.loads(line)
        except ValueError:
            print(f"  peer: {line.decode('utf-8', 'replace').rstrip()}", file=sys.stderr)
            continue
        kind = event.get("event")
        if kind == "start":
            cpu_start = server_cpu()
        elif kind == "done":
            cpu_done = server_cpu()
            done_at = time.perf_counter()
            done = event
        elif kind == "error":
            raise RuntimeError(event.get("message", "failed"))
        if on_event is not None:
            on_event(event)
    status = await proc.wait()
    if done is None:
        raise RuntimeError(f"exited with {status} before reporting `done`")
    spent = cpu_done - cpu_start if cpu_done is not None and cpu_start is not None else None
    return PeerRun(done, spent, time.perf_counter() - done_at)


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
        default="info",
        choices=("debug", "info", "warning", "error"),
        help="poller's log level (info, its default: a line per batch, into /dev/null)",
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


def int_list(low: int, high: int) -> Callable[[str], list[int]]:
    """An argparse type: comma-separated integers in `low`..`high`, duplicates dropped."""

    def parse(text: str) -> list[int]:
        try:
            values = [int(part) for part in text.split(",") if part.strip()]
        except ValueError as exc:
            raise argparse.ArgumentTypeError(
                f"not a comma-separated list of integers: {text!r}"
            ) from exc
        if not values or any(not low <= v <= high for v in values):
            raise argparse.ArgumentTypeError(f"values must be between {low} and {high}")
        return list(dict.fromkeys(values))

    return parse


def alternating(
    contenders: tuple[str, ...], rounds: int, cases: tuple[T, ...]
) -> Iterator[tuple[int, T, str]]:
    """(round, case, contender) in the order the benchmarks run them: every contender for
    every case in every round, A B C then C B A, flipped per round and per case, so drift on
    the machine hits all alike. Prints a line as each round starts."""
    for round_no in range(1, rounds + 1):
        print(f"round {round_no}/{rounds}", file=sys.stderr)
        for index, case in enumerate(cases):
            flip = (round_no + index) % 2 == 0
            for contender in contenders[::-1] if flip else contenders:
                yield round_no, case, contender


def name_list(choices: tuple[str, ...]) -> Callable[[str], tuple[str, ...]]:
    """An argparse type: a comma-separated subset of `choices`, in the order given."""

    def parse(text: str) -> tuple[str, ...]:
        values = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
        if not values or any(v not in choices for v in values):
            raise argparse.ArgumentTypeError(
                f"a comma-separated subset of {','.join(choices)}, not {text!r}"
            )
        return values

    return parse


def command_line() -> str:
    """This process's command line, shell-quoted, to head the report."""
    return shlex.join([sys.executable, *sys.argv])


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Python, platform, CPU count and the versions of the packages that shape the figures,
    then `extra` (the server, the peers)."""
    versions = {pkg: metadata.version(pkg) for pkg in ("moto", "aioboto3", "botocore", "anyio")}
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": str(os.cpu_count()),
        **versions,
        **(extra or {}),
    }


def print_report(
    opts: argparse.Namespace,
    command: str,
    wall_seconds: float,
    table: str,
    results: dict[str, Any],
    extra_environment: dict[str, str] | None = None,
) -> None:
    """The report on stdout: with `opts.json` a JSON document (command, environment,
    parameters = every option but --json, then `results` in order, then wall_seconds);
    otherwise the command, the environment, `table` and the wall time as text."""
    if opts.json:
        document = {
            "command": command,
            "environment": environment(extra_environment),
            "parameters": {k: v for k, v in vars(opts).items() if k != "json"},
            **results,
            "wall_seconds": wall_seconds,
        }
        print(json.dumps(document, indent=2))
    else:
        env = ", ".join(f"{k} {v}" for k, v in environment(extra_environment).items())
        print(f"command: {command}")
        print(f"environment: {env}")
        print(table)
        print(f"wall time: {wall_seconds:.1f} s")


def row(
    section: str,
    case: str,
    contender: str,
    value: float,
    unit: str,
    *,
    cpu_ms_per_1k: float | None,
    baseline_value: float | None,
    **extra: Any,
) -> dict[str, Any]:
    """One entry of a report's `rows`, the shape every benchmark shares so that one table can
    hold them all; `ratio` is `value` / the baseline's (raw's) value from the same run, None
    when the baseline did not run. `extra` adds keys after the common ones."""
    return {
        "section": section,
        "case": case,
        "contender": contender,
        "value": value,
        "unit": unit,
        "cpu_ms_per_1k": cpu_ms_per_1k,
        "baseline": "raw",
        "ratio": value / baseline_value if baseline_value else None,
        **extra,
    }


def rows_table(rows: list[dict[str, Any]]) -> str:
    """`rows` as text: one line each, as an aggregator would print them."""
    width = max([len(r["case"]) for r in rows] + [len("case")]) + 2
    lines = [
        f"  {'section':<12}{'case':<{width}}{'contender':<15}{'value':>11} {'unit':<9}"
        f"{'CPU ms/1k':>11}{'server ms/1k':>14}{'ratio':>8}"
    ]
    for r in rows:
        cpu = r["cpu_ms_per_1k"]
        server = r.get("server_cpu_ms_per_1k")
        ratio = r["ratio"]
        lines.append(
            f"  {r['section']:<12}{r['case']:<{width}}{r['contender']:<15}{r['value']:>11,.1f}"
            f" {r['unit']:<9}{'-' if cpu is None else f'{cpu:,.1f}':>11}"
            f"{'-' if server is None else f'{server:,.1f}':>14}"
            f"{'-' if ratio is None else f'{ratio:.3f}':>8}"
        )
    return "\n".join(lines)


def run_benchmark(
    opts: argparse.Namespace,
    benchmark: Callable[[Any, argparse.Namespace], Awaitable[T]],
    report: Callable[[T, argparse.Namespace], tuple[str, dict[str, Any]]],
    *,
    timeout_message: str,
    server: Server | None = None,
    extra_environment: dict[str, str] | None = None,
) -> int:
    """Run `benchmark(server, opts)` against `server` (default: a fresh moto server) and print
    its report.

    `report(result, opts)` gives the text table and the benchmark's own entries of the JSON
    document (see `print_report`; the wall time covers the server's start, the benchmark and
    the server's stop). `extra_environment` and the server's `describe()` join the report's
    environment. Returns the exit status: 0, or 1 after `error: <timeout_message>` on stderr if
    the benchmark raised TimeoutError. Call `prepare_process` first.
    """
    command = command_line()
    wall = time.perf_counter()
    server = server if server is not None else MotoServer()
    described = {k: v for k, v in server.describe().items() if k != "url"}
    result = run_against_server(server, lambda s: benchmark(s, opts))
    if result is None:
        print(f"error: {timeout_message}", file=sys.stderr)
        return 1
    wall_seconds = time.perf_counter() - wall
    table, results = report(result, opts)
    extra = {"server": server.name, **described, **(extra_environment or {})}
    print_report(opts, command, wall_seconds, table, results, extra)
    return 0
