"""poller as a process: start-up to the first handler call, CLI wall time, cost when idle.

Three sections, every contender a subprocess of this script, against one moto server (started
here, in its own process: `bench_support.MotoServer`) or any endpoint given with `--endpoint`:

- startup: from just before `subprocess.Popen` to the handler's first call (a timestamp the
  handler writes), with a backlog already waiting: one SQS mapping, then one Kinesis mapping at
  TRIM_HORIZON. `poller run -c <config>` against `startup_raw.py`, a minimal aioboto3 consumer
  calling the same handler (`startup_handler.py`). Alternating order, medians, poller/raw.
- cli: `poller version`, `poller validate -c <config>` and `poller status` with no daemon
  (connection refused) run `--cli-runs` times each, median wall time, beside `python -c pass`.
- idle: `poller run` with one SQS mapping on an empty queue, then one Kinesis mapping over
  `--idle-shards` shards at LATEST, for `--idle-seconds` once ready: AWS API calls per minute
  by operation (poller's `poller_aws_api_calls_total`, scraped from its /metrics), the poller
  process's CPU per minute (/proc/<pid>/stat) and per poll (ReceiveMessage or GetRecords).

    python benchmarks/startup_idle.py [--rounds 5] [--cli-runs 20] [--idle-seconds 60] [--json]
    python benchmarks/startup_idle.py --sections startup,cli      # a subset
    python benchmarks/startup_idle.py --quick       # smoke: 1 round, 5 CLI runs, 10 s idle
    python benchmarks/startup_idle.py --endpoint http://127.0.0.1:4566   # a server of yours

Every subprocess is stopped by its PID (SIGTERM, SIGKILL after `--shutdown-limit`), also when
this script is interrupted or killed (Linux: the kernel sends them SIGTERM when it dies).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import bench_support as bench
import boto3
from botocore.config import Config
from prometheus_client.parser import text_string_to_metric_families
from startup_handler import STAMP_ENV

SECTIONS = ("startup", "cli", "idle")
SOURCES = ("sqs", "kinesis")
CONTENDERS = ("poller", "raw")
RAW_SCRIPT = bench.BENCH_DIR / "startup_raw.py"
HANDLER = "startup_handler:handler"
PR_SET_PDEATHSIG = 1  # prctl(2)
SETTLE_SECONDS = 2.0  # idle: after /readyz answers 200, before the window opens
STAMP_POLL = 0.005  # seconds between looks for the handler's stamp file
QUICK = {"rounds": 1, "cli_runs": 5, "idle_seconds": 10.0}
DEFAULTS = {"rounds": 5, "cli_runs": 20, "idle_seconds": 60.0}
POLL_OPERATIONS = {"sqs": "ReceiveMessage", "kinesis": "GetRecords"}
SQS_LONG_POLL = 20  # seconds: poller's ReceiveMessage WaitTimeSeconds


# ---------------------------------------------------------------------------------------------
# Subprocesses, each stopped by its PID

_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM from the kernel when this benchmark dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(
    args: list[str], env: dict[str, str], cwd: Path, log: IO[bytes]
) -> subprocess.Popen[bytes]:
    """Start a long-running contender, its stdout and stderr to `log`."""
    proc = subprocess.Popen(
        args,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )
    _CHILDREN[proc.pid] = proc
    return proc


def stop(proc: subprocess.Popen[bytes], limit: float) -> tuple[float, bool]:
    """SIGTERM by PID, SIGKILL if still alive after `limit` seconds. Returns the seconds it
    took to exit and whether it had to be killed."""
    _CHILDREN.pop(proc.pid, None)
    started = time.perf_counter()
    killed = False
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(limit)
        except subprocess.TimeoutExpired:
            killed = True
            proc.kill()
            proc.wait(limit)
    return time.perf_counter() - started, killed


def stop_all(limit: float) -> None:
    """Whatever is still running (an error or an interruption cut a run short)."""
    for proc in list(_CHILDREN.values()):
        stop(proc, limit)


@dataclass
class Child:
    """A contender's process, its combined stdout and stderr, and how its stop went."""

    proc: subprocess.Popen[bytes]
    log: Path
    stop_seconds: float = 0.0  # SIGTERM -> exit
    killed: bool = False  # still alive after --shutdown-limit: SIGKILLed


@contextlib.contextmanager
def running(
    args: list[str], env: dict[str, str], cwd: Path, name: str, limit: float
) -> Iterator[Child]:
    """`spawn` with its log at `cwd/<name>.log`; stopped (`stop`) on leaving, however."""
    log_path = cwd / f"{name}.log"
    with log_path.open("wb") as log:
        child = Child(spawn(args, env, cwd, log), log_path)
        try:
            yield child
        finally:
            child.stop_seconds, child.killed = stop(child.proc, limit)


def tail(path: Path, limit: int = 3000) -> str:
    return path.read_text(errors="replace")[-limit:]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of `pid` (its own threads, not its children), or None without /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": field 3 onwards
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_env(stamp: Path | None = None) -> dict[str, str]:
    """This process's environment (moto's dummy credentials and region, from
    `bench.prepare_process`), plus the handler's stamp file."""
    env = dict(os.environ)
    env.pop(STAMP_ENV, None)
    if stamp is not None:
        env[STAMP_ENV] = str(stamp)
    return env


# ---------------------------------------------------------------------------------------------
# Sources: fresh queues and streams, created and deleted through a client of this process


class Admin:
    """boto3 clients of this process (not timed, not billed to any contender)."""

    def __init__(self, endpoint: str) -> None:
        config = Config(retries={"mode": "standard", "max_attempts": 3})
        self.endpoint = endpoint
        self.sqs = boto3.client(
            "sqs", endpoint_url=endpoint, region_name=bench.REGION, config=config
        )
        self.kinesis = boto3.client(
            "kinesis", endpoint_url=endpoint, region_name=bench.REGION, config=config
        )

    def new_queue(self, messages: int) -> tuple[str, str]:
        """A fresh queue holding `messages` messages; its URL and ARN."""
        url: str = self.sqs.create_queue(QueueName=f"bench-{uuid.uuid4().hex[:12]}")["QueueUrl"]
        for start in range(0, messages, 10):
            entries = [
                {"Id": str(i), "MessageBody": json.dumps({"seq": i})}
                for i in range(start, min(start + 10, messages))
            ]
            failed = self.sqs.send_message_batch(QueueUrl=url, Entries=entries).get("Failed")
            if failed:
                raise RuntimeError(f"SendMessageBatch failed: {failed}")
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        arn: str = attributes["Attributes"]["QueueArn"]
        return url, arn

    def new_stream(self, shards: int, records: int) -> tuple[str, str]:
        """A fresh ACTIVE stream of `shards` shards holding `records` records; name and ARN."""
        name = f"bench-{uuid.uuid4().hex[:12]}"
        self.kinesis.create_stream(StreamName=name, ShardCount=shards)
        for _ in range(300):
            summary = self.kinesis.describe_stream_summary(StreamName=name)
            if summary["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE":
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"stream {name} did not become ACTIVE")
        if records:
            entries = [
                {"PartitionKey": f"key-{i}", "Data": json.dumps({"seq": i}).encode()}
                for i in range(records)
            ]
            if self.kinesis.put_records(StreamName=name, Records=entries)["FailedRecordCount"]:
                raise RuntimeError("PutRecords failed")
        arn: str = summary["StreamDescriptionSummary"]["StreamARN"]
        return name, arn

    def delete_queue(self, url: str) -> None:
        with contextlib.suppress(Exception):
            self.sqs.delete_queue(QueueUrl=url)

    def delete_stream(self, name: str) -> None:
        with contextlib.suppress(Exception):
            self.kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)


@contextlib.contextmanager
def source(admin: Admin, kind: str, records: int, shards: int = 1) -> Iterator[tuple[str, str]]:
    """A fresh queue (URL, ARN) or stream (name, ARN) with `records` waiting; deleted after."""
    if kind == "sqs":
        url, arn = admin.new_queue(records)
        try:
            yield url, arn
        finally:
            admin.delete_queue(url)
    else:
        name, arn = admin.new_stream(shards, records)
        try:
            yield name, arn
        finally:
            admin.delete_stream(name)


# ---------------------------------------------------------------------------------------------
# poller's configuration


def mapping(kind: str, arn: str, starting_position: str) -> dict[str, Any]:
    if kind == "sqs":
        return {"function": "bench", "name": "bench-sqs", "event_source_arn": arn, "batch_size": 10}
    return {
        "function": "bench",
        "name": "bench-kinesis",
        "event_source_arn": arn,
        "starting_position": starting_position,
        "batch_size": 100,
    }


def write_config(
    directory: Path,
    endpoint: str,
    mappings: list[dict[str, Any]],
    opts: argparse.Namespace,
    http_port: int | None = None,
) -> Path:
    """A poller configuration (JSON is YAML) in `directory`: these mappings, the stamping
    handler, checkpoints in `directory`, /metrics on `http_port` if given, and a quick stop
    (open long polls cancelled, not finished)."""
    http = (
        {"enabled": True, "listen": f"127.0.0.1:{http_port}"} if http_port else {"enabled": False}
    )
    config = {
        "aws": {"region": bench.REGION, "endpoint_url": endpoint},
        "http": http,
        "logging": {"level": opts.log_level, "format": "json"},
        "state": {"path": str(directory / "state.db")},
        "shutdown_timeout": 5,
        "shutdown_receives": "cancel",
        "functions": {"bench": {"handler": HANDLER, "code_uri": str(bench.BENCH_DIR)}},
        "mappings": mappings,
    }
    path = directory / "poller.yaml"
    path.write_text(json.dumps(config, indent=2))
    return path


def poller_command(config: Path) -> list[str]:
    return [sys.executable, "-m", "poller", "run", "-c", str(config)]


# ---------------------------------------------------------------------------------------------
# Section 1: start-up, exec to the first handler call


@dataclass
class StartupRun:
    source: str
    contender: str
    round: int  # 0: warm-up
    seconds: float  # just before Popen -> the handler's first call
    first_records: int  # records in that first call
    stop_seconds: float  # SIGTERM -> exit
    killed: bool


def wait_for_stamp(stamp: Path, proc: subprocess.Popen[bytes], log: Path, limit: float) -> str:
    """The stamp file's line once the handler has written it. RuntimeError (with the log's
    tail) if the contender exits first, TimeoutError after `limit` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError):
            return stamp.read_text()
        if proc.poll() is not None:
            raise RuntimeError(
                f"{proc.args!r} exited with {proc.returncode} before the handler ran:\n{tail(log)}"
            )
        time.sleep(STAMP_POLL)
    raise TimeoutError(f"no handler call within --timeout {limit:g} s:\n{tail(log)}")


def startup_run(
    admin: Admin, kind: str, contender: str, round_no: int, opts: argparse.Namespace
) -> StartupRun:
    """One contender from exec to its handler's first call, on a fresh source with a backlog."""
    with (
        tempfile.TemporaryDirectory(prefix="poller-startup-") as tmp,
        source(admin, kind, opts.backlog) as (target, arn),
    ):
        directory = Path(tmp)
        stamp = directory / "stamp"
        if contender == "poller":
            config = write_config(
                directory, admin.endpoint, [mapping(kind, arn, "TRIM_HORIZON")], opts
            )
            args = poller_command(config)
        else:
            target = target if kind == "sqs" else arn
            args = [sys.executable, str(RAW_SCRIPT), "--endpoint", admin.endpoint, kind, target]
        env = child_env(stamp)
        name = f"{contender}-{kind}"
        started_ns = time.time_ns()
        with running(args, env, directory, name, opts.shutdown_limit) as child:
            line = wait_for_stamp(stamp, child.proc, child.log, opts.timeout)
        called_ns, records = (int(part) for part in line.split())
    run = StartupRun(
        source=kind,
        contender=contender,
        round=round_no,
        seconds=(called_ns - started_ns) / 1e9,
        first_records=records,
        stop_seconds=child.stop_seconds,
        killed=child.killed,
    )
    label = "warm-up" if round_no == 0 else f"round {round_no}"
    print(
        f"  startup {label:<8} {kind:<8}{contender:<7} first call {run.seconds:6.3f} s"
        f" ({records} records) | stop {run.stop_seconds:.2f} s{' KILLED' if run.killed else ''}",
        file=sys.stderr,
    )
    return run


def startup_section(admin: Admin, opts: argparse.Namespace) -> list[StartupRun]:
    runs: list[StartupRun] = []
    if opts.warmup:
        for kind in SOURCES:
            for contender in CONTENDERS:
                startup_run(admin, kind, contender, 0, opts)
    for round_no in range(1, opts.rounds + 1):
        for index, kind in enumerate(SOURCES):
            order = CONTENDERS if (round_no + index) % 2 else CONTENDERS[::-1]
            runs.extend(startup_run(admin, kind, c, round_no, opts) for c in order)
    return runs


# ---------------------------------------------------------------------------------------------
# Section 2: CLI wall time


@dataclass(frozen=True)
class CliCase:
    name: str
    contender: str
    args: list[str]
    expected_exit: int


@dataclass
class CliResult:
    case: str
    contender: str
    command: str
    runs: int
    median_seconds: float
    min_seconds: float
    max_seconds: float
    exit_code: int


def cli_cases(config: Path) -> list[CliCase]:
    poller = [sys.executable, "-m", "poller"]
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused, exit 1
    return [
        CliCase("version", "poller", [*poller, "version"], 0),
        CliCase("validate", "poller", [*poller, "validate", "-c", str(config)], 0),
        CliCase("status (no daemon)", "poller", [*poller, "status", "--url", nobody], 1),
        CliCase("interpreter start", "python -c pass", [sys.executable, "-c", "pass"], 0),
    ]


def time_command(case: CliCase, cwd: Path) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run(case.args, cwd=cwd, capture_output=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != case.expected_exit:
        print(
            f"  !! {case.name}: exit {done.returncode}, expected {case.expected_exit}:"
            f" {done.stderr.decode(errors='replace')[-500:]}",
            file=sys.stderr,
        )
    return seconds, done.returncode


def cli_section(endpoint: str, opts: argparse.Namespace) -> list[CliResult]:
    """Every case `--cli-runs` times, interleaved (the order rotates each pass) so drift on
    the machine spreads over all of them; one unreported pass first unless --no-warmup."""
    with tempfile.TemporaryDirectory(prefix="poller-cli-") as tmp:
        directory = Path(tmp)
        arns = {
            "sqs": f"arn:aws:sqs:{bench.REGION}:{bench.ACCOUNT}:q",
            "kinesis": f"arn:aws:kinesis:{bench.REGION}:{bench.ACCOUNT}:stream/s",
        }
        config = write_config(
            directory,
            endpoint,
            [mapping(kind, arns[kind], "TRIM_HORIZON") for kind in SOURCES],
            opts,
        )
        cases = cli_cases(config)
        times: dict[str, list[float]] = {c.name: [] for c in cases}
        codes: dict[str, int] = {}
        if opts.warmup:
            for case in cases:
                time_command(case, directory)
        for n in range(opts.cli_runs):
            shift = n % len(cases)
            for case in cases[shift:] + cases[:shift]:
                seconds, codes[case.name] = time_command(case, directory)
                times[case.name].append(seconds)
    results = [
        CliResult(
            case=c.name,
            contender=c.contender,
            command=" ".join(c.args[1:]),
            runs=len(times[c.name]),
            median_seconds=statistics.median(times[c.name]),
            min_seconds=min(times[c.name]),
            max_seconds=max(times[c.name]),
            exit_code=codes[c.name],
        )
        for c in cases
    ]
    for r in results:
        print(
            f"  cli {r.case:<20} median {r.median_seconds * 1000:7.1f} ms"
            f" (min {r.min_seconds * 1000:.1f}, max {r.max_seconds * 1000:.1f},"
            f" exit {r.exit_code})",
            file=sys.stderr,
        )
    return results


# ---------------------------------------------------------------------------------------------
# Section 3: idle cost


@dataclass
class IdleResult:
    case: str
    source: str
    shards: int
    window_seconds: float  # measured, from the first scrape to the second
    calls: dict[str, int] = field(default_factory=dict)  # over the window, by operation
    cpu_seconds: float | None = None  # the poller process's, over the window
    ready_seconds: float = 0.0  # exec -> /readyz 200

    @property
    def minutes(self) -> float:
        return self.window_seconds / 60

    def calls_per_minute(self) -> dict[str, float]:
        return {op: n / self.minutes for op, n in sorted(self.calls.items())}

    @property
    def cpu_ms_per_minute(self) -> float | None:
        return None if self.cpu_seconds is None else 1000 * self.cpu_seconds / self.minutes

    @property
    def polls(self) -> int:
        return self.calls.get(POLL_OPERATIONS[self.source], 0)

    @property
    def cpu_us_per_poll(self) -> float | None:
        if self.cpu_seconds is None or not self.polls:
            return None
        return 1e6 * self.cpu_seconds / self.polls


def scrape_api_calls(port: int) -> dict[str, int]:
    """`poller_aws_api_calls_total` from the daemon's /metrics, as `service:Operation` -> n."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        f"{s.labels['service']}:{s.labels['operation']}": int(s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "poller_aws_api_calls_total"
    }


def wait_ready(port: int, proc: subprocess.Popen[bytes], log: Path, limit: float) -> None:
    """Until /readyz answers 200 (every mapping's last call to its source succeeded)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"poller exited with {proc.returncode}:\n{tail(log)}")
        url = f"http://127.0.0.1:{port}/readyz"
        with (
            contextlib.suppress(urllib.error.URLError, OSError),
            urllib.request.urlopen(url, timeout=2) as answer,
        ):
            if answer.status == 200:  # a 503 (not ready yet) raises HTTPError
                return
        time.sleep(0.1)
    raise TimeoutError(f"poller was not ready within --timeout {limit:g} s:\n{tail(log)}")


def idle_run(admin: Admin, kind: str, opts: argparse.Namespace) -> IdleResult:
    shards = opts.idle_shards if kind == "kinesis" else 1
    case = "sqs empty queue" if kind == "sqs" else f"kinesis {shards} shards LATEST"
    with (
        tempfile.TemporaryDirectory(prefix="poller-idle-") as tmp,
        source(admin, kind, 0, shards) as (_, arn),
    ):
        directory = Path(tmp)
        port = free_port()
        config = write_config(
            directory, admin.endpoint, [mapping(kind, arn, "LATEST")], opts, http_port=port
        )
        started = time.perf_counter()
        with running(
            poller_command(config), child_env(), directory, f"idle-{kind}", opts.shutdown_limit
        ) as child:
            pid = child.proc.pid
            wait_ready(port, child.proc, child.log, opts.timeout)
            ready = time.perf_counter() - started
            time.sleep(SETTLE_SECONDS)
            # The CPU is read after the first scrape and before the second: serving /metrics
            # is not billed to the window.
            calls0 = scrape_api_calls(port)
            cpu0, t0 = cpu_seconds(pid), time.perf_counter()
            time.sleep(opts.idle_seconds)
            cpu1, t1 = cpu_seconds(pid), time.perf_counter()
            calls1 = scrape_api_calls(port)
            if child.proc.poll() is not None:
                raise RuntimeError(f"poller exited during the idle window:\n{tail(child.log)}")
    calls = {op: n - calls0.get(op, 0) for op, n in calls1.items() if n - calls0.get(op, 0)}
    result = IdleResult(
        case=case,
        source=kind,
        shards=shards,
        window_seconds=t1 - t0,
        calls={op.split(":", 1)[1]: n for op, n in calls.items()},
        cpu_seconds=None if cpu0 is None or cpu1 is None else cpu1 - cpu0,
        ready_seconds=ready,
    )
    per_minute = ", ".join(f"{op} {n:.1f}" for op, n in result.calls_per_minute().items())
    print(
        f"  idle {case:<24} {result.window_seconds:.1f} s window | calls/min: {per_minute or '-'}"
        f" | CPU {fmt(result.cpu_ms_per_minute, '.1f')} ms/min,"
        f" {fmt(result.cpu_us_per_poll, ',.0f')} µs/poll",
        file=sys.stderr,
    )
    return result


def idle_section(admin: Admin, opts: argparse.Namespace) -> list[IdleResult]:
    return [idle_run(admin, kind, opts) for kind in SOURCES]


# ---------------------------------------------------------------------------------------------
# Report


@dataclass
class Results:
    startup: list[StartupRun] = field(default_factory=list)
    cli: list[CliResult] = field(default_factory=list)
    idle: list[IdleResult] = field(default_factory=list)


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def row(
    section: str,
    case: str,
    contender: str,
    value: float | None,
    unit: str,
    baseline: str | None = None,
    ratio: float | None = None,
) -> dict[str, Any]:
    """One line of the aggregated table (the shape every benchmark's `rows` share)."""
    return {
        "section": section,
        "case": case,
        "contender": contender,
        "value": value,
        "unit": unit,
        "cpu_ms_per_1k": None,
        "baseline": baseline,
        "ratio": ratio,
    }


STARTUP_CASES = {"sqs": "sqs backlog", "kinesis": "kinesis backlog (TRIM_HORIZON)"}


def startup_rows(runs: list[StartupRun]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for kind in SOURCES:
        medians = {
            c: statistics.median(r.seconds for r in runs if (r.source, r.contender) == (kind, c))
            for c in CONTENDERS
            if any((r.source, r.contender) == (kind, c) for r in runs)
        }
        if len(medians) < len(CONTENDERS):
            continue
        case = STARTUP_CASES[kind]
        poller, raw = medians["poller"], medians["raw"]
        rows += [
            row("startup", case, "poller", poller, "s", "raw", poller / raw),
            row("startup", case, "raw", raw, "s"),
            row("startup", f"{case}: poller - raw", "poller", poller - raw, "s", "raw"),
        ]
    return rows


def cli_rows(results: list[CliResult]) -> list[dict[str, Any]]:
    return [row("cli", r.case, r.contender, r.median_seconds, "s") for r in results]


def idle_rows(results: list[IdleResult]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for r in results:
        per_minute = r.calls_per_minute()
        rows += [
            row("idle", f"{r.case}: {op}", "poller", n, "calls/min") for op, n in per_minute.items()
        ]
        rows += [
            row("idle", f"{r.case}: all calls", "poller", sum(per_minute.values()), "calls/min"),
            row("idle", r.case, "poller", r.cpu_ms_per_minute, "ms CPU/min"),
            row("idle", r.case, "poller", r.cpu_us_per_poll, "µs CPU/poll"),
        ]
    return rows


def settings(opts: argparse.Namespace) -> list[str]:
    """What was run, one line per section that ran."""
    described = {
        "startup": f"startup: {opts.rounds} rounds (order alternating), {opts.backlog} records"
        " waiting per source, medians",
        "cli": f"cli: {opts.cli_runs} runs per command (interleaved), median wall time",
        "idle": f"idle: a {opts.idle_seconds:g} s window from {SETTLE_SECONDS:g} s after /readyz,"
        f" Kinesis over {opts.idle_shards} shards",
    }
    lines = [described[s] for s in opts.sections]
    if "idle" in opts.sections and opts.idle_seconds < SQS_LONG_POLL:
        lines.append(
            f"  !! an idle window under {SQS_LONG_POLL} s may hold no SQS long poll at all"
            " (calls are counted as they start): SQS idle figures need 60 s or more"
        )
    return lines


def table(rows: list[dict[str, Any]], opts: argparse.Namespace) -> str:
    width = max([len(r["case"]) for r in rows] + [4])
    lines = [
        *settings(opts),
        "",
        f"{'section':<8} {'case':<{width}}  {'contender':<15}{'value':>12}"
        f"  {'unit':<12}{'ratio':>7}",
    ]
    for r in rows:
        value = r["value"]
        unit = r["unit"]
        spec = ".3f" if unit == "s" else ".1f" if value is None or abs(value) < 1000 else ",.0f"
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else ""
        lines.append(
            f"{r['section']:<8} {r['case']:<{width}}  {r['contender']:<15}{fmt(value, spec):>12}"
            f"  {unit:<12}{ratio:>7}"
        )
    lines += [
        "",
        "ratio: poller / raw of the medians; 'poller - raw': the difference of the medians",
    ]
    return "\n".join(lines)


def report(results: Results, opts: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    rows = startup_rows(results.startup) + cli_rows(results.cli) + idle_rows(results.idle)
    document = {
        "rows": rows,
        "startup_runs": [asdict(r) for r in results.startup],
        "cli": [asdict(r) for r in results.cli],
        "idle": [
            {
                **asdict(r),
                "calls_per_minute": r.calls_per_minute(),
                "cpu_ms_per_minute": r.cpu_ms_per_minute,
                "polls": r.polls,
                "cpu_us_per_poll": r.cpu_us_per_poll,
            }
            for r in results.idle
        ],
    }
    return table(rows, opts), document


# ---------------------------------------------------------------------------------------------
# Entry point


def run_sections(endpoint: str, opts: argparse.Namespace) -> Results:
    admin = Admin(endpoint)
    results = Results()
    if "startup" in opts.sections:
        print("startup: exec -> first handler call", file=sys.stderr)
        results.startup = startup_section(admin, opts)
    if "cli" in opts.sections:
        print("cli: wall time", file=sys.stderr)
        results.cli = cli_section(endpoint, opts)
    if "idle" in opts.sections:
        print("idle: API calls and CPU", file=sys.stderr)
        results.idle = idle_section(admin, opts)
    return results


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sections",
        type=bench.name_list(SECTIONS),
        default=SECTIONS,
        help="comma-separated (startup,cli,idle)",
    )
    parser.add_argument("--endpoint", help="use this endpoint instead of starting moto's server")
    parser.add_argument("--rounds", type=int, help="startup: runs per contender and source (5)")
    parser.add_argument("--backlog", type=int, default=10, help="startup: records waiting (10)")
    parser.add_argument("--cli-runs", type=int, help="cli: runs per command (20)")
    parser.add_argument("--idle-seconds", type=float, help="idle: the measured window (60)")
    parser.add_argument("--idle-shards", type=int, default=4, help="idle: Kinesis shards (4)")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1 round, 5 CLI runs, 10 s idle"
    )
    bench.add_common_options(parser, timeout=60.0, shutdown_limit=10.0)
    opts = parser.parse_args(argv)
    for name, default in DEFAULTS.items():
        if getattr(opts, name) is None:
            setattr(opts, name, QUICK[name] if opts.quick else default)
    if opts.rounds < 1 or opts.cli_runs < 1 or opts.idle_seconds <= 0:
        parser.error("--rounds and --cli-runs must be at least 1, --idle-seconds above 0")
    if not 1 <= opts.backlog <= 500 or not 1 <= opts.idle_shards <= 100:
        parser.error("--backlog must be 1..500 (one PutRecords), --idle-shards 1..100")
    opts.sections = list(opts.sections)
    return opts


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    bench.prepare_process(opts.log_level)
    command = bench.command_line()
    wall = time.perf_counter()
    with bench.sigterm_as_exit():
        moto = None if opts.endpoint else bench.MotoServer()
        try:
            if moto is not None:
                moto.start()
                print(f"moto_server pid {moto.pid} at {moto.url}", file=sys.stderr)
            results = run_sections(opts.endpoint or (moto.url if moto else ""), opts)
        except TimeoutError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        finally:
            stop_all(opts.shutdown_limit)
            if moto is not None:
                moto.stop()
    text, document = report(results, opts)
    bench.print_report(opts, command, time.perf_counter() - wall, text, document)
    return 0


if __name__ == "__main__":
    sys.exit(main())
