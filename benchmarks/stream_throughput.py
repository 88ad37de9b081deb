"""Kinesis stream throughput: poller against a minimal aioboto3 GetRecords loop, on moto's server.

Both variants drain the same shape of pre-filled stream (N records over 1 shard, then over 8) with
a no-op handler, in alternating order, in one run; the report gives records per second (median,
min, max over the repeats), CPU seconds of this process per 1,000 records, and the poller/raw
ratios.

    python benchmarks/stream_throughput.py [--records 5000] [--repeats 5] [--shards 1,8] [--json]
    python benchmarks/stream_throughput.py --quick       # smoke run: 1,000 records, 1 repeat

moto serves Kinesis GetRecords at roughly 10-20k records/s on a 2-core machine (see TESTING.md):
the absolute figures are the server's ceiling, the ratios are poller's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gc
import json
import os
import platform
import shlex
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
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import IO, Any

import aioboto3
import anyio
import noop_handler
from aiobotocore.config import AioConfig
from anyio.abc import TaskStatus

from poller.daemon import Daemon
from poller.loader import parse_config
from poller.telemetry.logging import configure
from poller.telemetry.metrics import Metrics

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
VARIANTS = ("poller", "raw")
RAW_LIMIT = 10000  # GetRecords Limit of the raw loop (Kinesis' maximum)
PUT_CHUNK = 500  # PutRecords maximum
RECORD_PAD = 100  # bytes of filler per record: a small JSON document of ~130 bytes
WARMUP_RECORDS = 200
QUICK_RECORDS = 1000
PR_SET_PDEATHSIG = 1  # prctl(2): signal the child when this process dies


# ---------------------------------------------------------------------------------------------
# moto's server, in its own process


class MotoServer:
    """`moto_server` on loopback and a free port, in its own OS process (its own GIL).

    Stopped by PID in `stop()`. On Linux the child also gets SIGTERM from the kernel if this
    process dies without running `stop()` (SIGKILL, a crash), so no server is left behind.
    """

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def command(self) -> list[str]:
        script = Path(sys.executable).with_name("moto_server")
        launcher = [str(script)] if script.exists() else [sys.executable, "-m", "moto.server"]
        return [*launcher, "-H", "127.0.0.1", "-p", str(self.port)]

    def start(self, timeout: float = 30.0) -> None:
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
        """POST /moto-api/reset: wipe every backend (streams, CloudWatch data moto keeps)."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=30):
            pass

    def tail(self, limit: int = 4000) -> str:
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")[-limit:]

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate by PID, kill after `timeout`."""
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
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def sigterm_as_exit() -> Iterator[None]:
    """SIGTERM (and SIGHUP) raise SystemExit, so `finally` blocks run and moto is stopped."""

    def leave(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, leave) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# ---------------------------------------------------------------------------------------------
# Results


@dataclass
class RunResult:
    variant: str
    shards: int
    round: int
    records: int
    seconds: float  # start of the variant (client creation / Daemon()) to the N-th record seen
    cpu_seconds: float  # time.process_time() of this process over the same window
    seen: int  # records the handler counted (poller: = poller_invoked_events_total)
    read: int  # records returned by GetRecords (poller: poller_polled_events_total)
    get_records_calls: int
    shutdown_seconds: float  # stop requested -> variant fully stopped (not in `seconds`)
    fill_seconds: float = 0.0  # PutRecords before the run (not timed)

    @property
    def rate(self) -> float:
        return self.records / self.seconds

    @property
    def cpu_per_1000(self) -> float:
        return 1000 * self.cpu_seconds / self.records


@dataclass(frozen=True)
class Target:
    """What a variant drains: a fresh stream holding `records` records over `shards` shards."""

    endpoint: str
    stream_name: str
    stream_arn: str
    shards: int
    records: int


@dataclass
class Summary:
    variant: str
    shards: int
    repeats: int
    median_rate: float
    min_rate: float
    max_rate: float
    median_cpu_per_1000: float
    median_seconds: float
    median_shutdown_seconds: float
    get_records_calls_per_run: float


def summarise(variant: str, shards: int, runs: list[RunResult]) -> Summary:
    rates = [r.rate for r in runs]
    return Summary(
        variant=variant,
        shards=shards,
        repeats=len(runs),
        median_rate=statistics.median(rates),
        min_rate=min(rates),
        max_rate=max(rates),
        median_cpu_per_1000=statistics.median(r.cpu_per_1000 for r in runs),
        median_seconds=statistics.median(r.seconds for r in runs),
        median_shutdown_seconds=statistics.median(r.shutdown_seconds for r in runs),
        get_records_calls_per_run=statistics.mean(r.get_records_calls for r in runs),
    )


# ---------------------------------------------------------------------------------------------
# The stream each run drains


def client_config() -> AioConfig:
    """The client settings poller uses for Kinesis (poller.aws.Aws.client, 50 connections)."""
    return AioConfig(
        connect_timeout=5,
        read_timeout=45,
        max_pool_connections=50,
        retries={"mode": "standard", "max_attempts": 3},
    )


def stream_arn(name: str) -> str:
    return f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{name}"


async def create_filled_stream(admin: Any, name: str, shards: int, records: int) -> None:
    """A fresh ACTIVE stream with `records` records, distinct partition keys (spread over the
    shards by hash), put 500 at a time from this one task (moto's put is not thread-safe)."""
    await admin.create_stream(StreamName=name, ShardCount=shards)
    for _ in range(100):
        summary = await admin.describe_stream_summary(StreamName=name)
        if summary["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE":
            break
        await anyio.sleep(0.1)
    else:
        raise RuntimeError(f"stream {name} did not become ACTIVE")
    pad = "x" * RECORD_PAD
    for start in range(0, records, PUT_CHUNK):
        entries = [
            {
                "PartitionKey": f"key-{seq}",
                "Data": json.dumps({"seq": seq, "pad": pad}).encode(),
            }
            for seq in range(start, min(start + PUT_CHUNK, records))
        ]
        response = await admin.put_records(StreamName=name, Records=entries)
        if response.get("FailedRecordCount", 0):
            raise RuntimeError(f"PutRecords failed for {response['FailedRecordCount']} records")


async def count_stored(admin: Any, name: str) -> dict[str, int]:
    """Records per shard as the server holds them (a check of the fill, not timed)."""
    counts: dict[str, int] = {}
    shards = (await admin.list_shards(StreamName=name))["Shards"]
    for shard in shards:
        iterator = (
            await admin.get_shard_iterator(
                StreamName=name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )
        )["ShardIterator"]
        counts[shard["ShardId"]] = 0
        while iterator is not None:
            response = await admin.get_records(ShardIterator=iterator, Limit=RAW_LIMIT)
            if not response["Records"]:
                break
            counts[shard["ShardId"]] += len(response["Records"])
            iterator = response.get("NextShardIterator")
    return counts


@dataclass
class Finish:
    """When the handler saw the N-th record: wall clock and this process's CPU at that moment."""

    done: anyio.Event = field(default_factory=anyio.Event)
    at: float = 0.0
    cpu: float = 0.0


def arm_counter(records: int) -> Finish:
    """Reset the handler's record counter; `Finish` is filled in by the thread that handles
    the N-th record (a poller worker thread, or the event loop for the raw loop)."""
    finish = Finish()
    loop = asyncio.get_running_loop()

    def reached() -> None:
        finish.at = time.perf_counter()
        finish.cpu = time.process_time()
        loop.call_soon_threadsafe(finish.done.set)

    noop_handler.COUNTER.arm(records, reached)
    return finish


# ---------------------------------------------------------------------------------------------
# Variant 1: poller's Daemon


def poller_config_text(target: Target, state_path: Path, opts: argparse.Namespace) -> str:
    config = {
        "aws": {"region": REGION, "endpoint_url": target.endpoint},
        "http": {"enabled": False},
        "logging": {"level": opts.log_level},
        "state": {"path": str(state_path)},
        "functions": {
            "noop": {"handler": "noop_handler:counting_handler", "code_uri": "benchmarks"}
        },
        "mappings": [
            {
                "function": "noop",
                "name": "bench",
                "event_source_arn": target.stream_arn,
                "starting_position": "TRIM_HORIZON",
                "batch_size": opts.batch_size,
                "maximum_batching_window_in_seconds": 0,
                "parallelization_factor": opts.parallelization_factor,
            }
        ],
    }
    return json.dumps(config)  # JSON is YAML


def _sample(metrics: Metrics, name: str, labels: dict[str, str]) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def _api_calls(metrics: Metrics, operation: str) -> int:
    labels = {"service": "kinesis", "operation": operation}
    return int(_sample(metrics, "poller_aws_api_calls_total", labels))


async def run_poller(target: Target, opts: argparse.Namespace) -> RunResult:
    labels = {"mapping": "bench", "function": "noop"}
    with tempfile.TemporaryDirectory(prefix="poller-bench-") as state_dir:
        config = parse_config(
            poller_config_text(target, Path(state_dir) / "state.db", opts), os.environ
        )
        metrics = Metrics()
        stopped = anyio.Event()
        finish = arm_counter(target.records)

        async def run_daemon(*, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
            await daemon.run(task_status=task_status)
            stopped.set()

        started = time.perf_counter()
        cpu_started = time.process_time()
        daemon = Daemon(config, REPO_ROOT, metrics=metrics)
        async with anyio.create_task_group() as tg:
            await tg.start(run_daemon)
            with anyio.fail_after(opts.timeout):
                await finish.done.wait()
            stop_requested = time.perf_counter()
            daemon.stop()
            with anyio.move_on_after(opts.shutdown_limit):
                await stopped.wait()
            shutdown = time.perf_counter() - stop_requested
            if not stopped.is_set():
                print(
                    f"  !! poller did not stop within {opts.shutdown_limit:.0f} s of stop(); "
                    "cancelling it",
                    file=sys.stderr,
                )
                tg.cancel_scope.cancel()
    invoked = int(_sample(metrics, "poller_invoked_events_total", labels))
    if invoked != noop_handler.COUNTER.count:
        print(
            f"  !! poller_invoked_events_total {invoked} != handler count"
            f" {noop_handler.COUNTER.count}",
            file=sys.stderr,
        )
    return RunResult(
        variant="poller",
        shards=target.shards,
        round=0,
        records=target.records,
        seconds=finish.at - started,
        cpu_seconds=finish.cpu - cpu_started,
        seen=noop_handler.COUNTER.count,
        read=int(_sample(metrics, "poller_polled_events_total", labels)),
        get_records_calls=_api_calls(metrics, "GetRecords"),
        shutdown_seconds=shutdown,
    )


# ---------------------------------------------------------------------------------------------
# Variant 2: a minimal hand-written GetRecords loop


@dataclass
class RawState:
    finish: Finish
    read: int = 0
    calls: int = 0


async def raw_shard(client: Any, arn: str, shard_id: str, state: RawState) -> None:
    """TRIM_HORIZON iterator, then GetRecords (Limit 10000) -> handler, until N are handled."""
    iterator = (
        await client.get_shard_iterator(
            StreamARN=arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
        )
    )["ShardIterator"]
    while iterator is not None and not state.finish.done.is_set():
        response = await client.get_records(StreamARN=arn, ShardIterator=iterator, Limit=RAW_LIMIT)
        state.calls += 1
        records = response.get("Records", [])
        iterator = response.get("NextShardIterator")
        if not records:
            await anyio.sleep(0.05)  # this shard is drained; others may not be yet
            continue
        state.read += len(records)
        noop_handler.counting_handler({"Records": records}, None)


async def run_raw(target: Target, opts: argparse.Namespace) -> RunResult:
    """One client, one asyncio task per shard; done when N records have been handled."""
    state = RawState(arm_counter(target.records))
    started = time.perf_counter()
    cpu_started = time.process_time()
    session = aioboto3.Session(region_name=REGION)
    async with session.client("kinesis", endpoint_url=target.endpoint, config=client_config()) as c:
        shards = (await c.list_shards(StreamARN=target.stream_arn))["Shards"]
        async with anyio.create_task_group() as tg:
            for shard in shards:
                tg.start_soon(raw_shard, c, target.stream_arn, shard["ShardId"], state)
            with anyio.fail_after(opts.timeout):
                await state.finish.done.wait()
            stop_requested = time.perf_counter()
            tg.cancel_scope.cancel()
    shutdown = time.perf_counter() - stop_requested
    return RunResult(
        variant="raw",
        shards=target.shards,
        round=0,
        records=target.records,
        seconds=state.finish.at - started,
        cpu_seconds=state.finish.cpu - cpu_started,
        seen=noop_handler.COUNTER.count,
        read=state.read,
        get_records_calls=state.calls,
        shutdown_seconds=shutdown,
    )


# ---------------------------------------------------------------------------------------------
# Rounds

Runner = Callable[[Target, argparse.Namespace], Awaitable[RunResult]]
RUNNERS: dict[str, Runner] = {"poller": run_poller, "raw": run_raw}


async def one_run(
    admin: Any, moto: MotoServer, variant: str, shards: int, records: int, opts: argparse.Namespace
) -> RunResult:
    name = f"bench-{variant}-{shards}-{uuid.uuid4().hex[:12]}"
    filling = time.perf_counter()
    await create_filled_stream(admin, name, shards, records)
    fill_seconds = time.perf_counter() - filling
    stored = await count_stored(admin, name)
    if sum(stored.values()) != records:
        raise RuntimeError(f"the server holds {sum(stored.values())} records, not {records}")
    target = Target(moto.url, name, stream_arn(name), shards, records)
    gc.collect()
    try:
        result = await RUNNERS[variant](target, opts)
    finally:
        await anyio.to_thread.run_sync(moto.reset)  # the next run starts from an empty server
    result.fill_seconds = fill_seconds
    spread = f"{min(stored.values())}-{max(stored.values())}/shard" if shards > 1 else ""
    print(
        f"  {variant:<6} {shards} shard(s) {records} rec in {result.seconds:6.3f} s"
        f" = {result.rate:8.0f} rec/s | CPU {result.cpu_per_1000 * 1000:6.1f} ms/1k"
        f" | seen {result.seen}, read {result.read}, GetRecords {result.get_records_calls}"
        f" | shutdown {result.shutdown_seconds:.3f} s | fill {fill_seconds:.1f} s {spread}",
        file=sys.stderr,
    )
    if result.seen != records or result.read != records:
        print(f"  !! expected exactly {records} records seen and read", file=sys.stderr)
    return result


async def benchmark(moto: MotoServer, opts: argparse.Namespace) -> list[RunResult]:
    session = aioboto3.Session(region_name=REGION)
    runs: list[RunResult] = []
    async with session.client("kinesis", endpoint_url=moto.url, config=client_config()) as admin:
        if opts.warmup:
            print(f"warm-up ({WARMUP_RECORDS} records each, not reported)", file=sys.stderr)
            for variant in VARIANTS:
                await one_run(admin, moto, variant, max(opts.shards), WARMUP_RECORDS, opts)
        for round_no in range(1, opts.repeats + 1):
            print(f"round {round_no}/{opts.repeats}", file=sys.stderr)
            for index, shards in enumerate(opts.shards):
                # Alternate the order per round and per shard count, so drift hits both.
                order = VARIANTS if (round_no + index) % 2 else VARIANTS[::-1]
                for variant in order:
                    result = await one_run(admin, moto, variant, shards, opts.records, opts)
                    result.round = round_no
                    runs.append(result)
    return runs


# ---------------------------------------------------------------------------------------------
# Report


def summarise_all(runs: list[RunResult], opts: argparse.Namespace) -> list[Summary]:
    return [
        summarise(v, s, [r for r in runs if r.variant == v and r.shards == s])
        for s in opts.shards
        for v in VARIANTS
    ]


def ratios(summaries: list[Summary]) -> dict[int, dict[str, float]]:
    """Per shard count: poller/raw of median rec/s and of median CPU per 1,000 records."""
    by = {(s.variant, s.shards): s for s in summaries}
    out: dict[int, dict[str, float]] = {}
    for shards in sorted({s.shards for s in summaries}):
        poller, raw = by["poller", shards], by["raw", shards]
        out[shards] = {
            "throughput": poller.median_rate / raw.median_rate,
            "cpu_per_record": poller.median_cpu_per_1000 / raw.median_cpu_per_1000,
        }
    return out


def report_table(summaries: list[Summary], opts: argparse.Namespace) -> str:
    lines = [
        f"{opts.records} records per run, {opts.repeats} repeats (alternating order), no-op"
        f" handler; poller: batch size {opts.batch_size}, parallelization factor"
        f" {opts.parallelization_factor}; raw: GetRecords Limit {RAW_LIMIT}, one task per shard",
        "",
        "throughput (records/s, start of the variant to the N-th record handled) and CPU of"
        " this process (moto's own CPU not included)",
        f"  {'variant':<8}{'shards':>7}{'median rec/s':>14}{'min':>9}{'max':>9}"
        f"{'CPU s/1k rec':>14}{'GetRecords/run':>16}{'shutdown (s)':>14}",
    ]
    lines.extend(
        f"  {s.variant:<8}{s.shards:>7}{s.median_rate:>14,.0f}{s.min_rate:>9,.0f}"
        f"{s.max_rate:>9,.0f}{s.median_cpu_per_1000:>14.4f}"
        f"{s.get_records_calls_per_run:>16.1f}{s.median_shutdown_seconds:>14.3f}"
        for s in summaries
    )
    lines += ["", "ratio poller/raw (of medians)"]
    lines.append(f"  {'shards':>6}{'rec/s':>10}{'CPU per record':>16}")
    lines.extend(
        f"  {shards:>6}{r['throughput']:>10.3f}{r['cpu_per_record']:>16.3f}"
        for shards, r in ratios(summaries).items()
    )
    return "\n".join(lines)


def environment() -> dict[str, str]:
    versions = {pkg: metadata.version(pkg) for pkg in ("moto", "aioboto3", "botocore", "anyio")}
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": str(os.cpu_count()),
        **versions,
    }


# ---------------------------------------------------------------------------------------------
# Entry point


def _shard_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of integers: {text!r}"
        ) from exc
    if not values or any(not 1 <= v <= 100 for v in values):
        raise argparse.ArgumentTypeError("shard counts must be between 1 and 100")
    return list(dict.fromkeys(values))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, help="records per run (5000; --quick: 1000)")
    parser.add_argument("--repeats", type=int, help="runs per variant and shard count (5)")
    parser.add_argument(
        "--shards", type=_shard_list, default=[1, 8], help="shard counts, comma-separated (1,8)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {QUICK_RECORDS} records and 1 repeat (unless given)",
    )
    parser.add_argument("--batch-size", type=int, default=100, help="poller's batch size (100)")
    parser.add_argument(
        "--parallelization-factor",
        type=int,
        default=1,
        choices=range(1, 11),
        metavar="{1..10}",
        help="poller's ParallelizationFactor (1)",
    )
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
        "--timeout", type=float, default=120.0, help="give up on a run after this many seconds"
    )
    parser.add_argument(
        "--shutdown-limit",
        type=float,
        default=30.0,
        help="seconds poller may take to stop before it is cancelled and reported",
    )
    opts = parser.parse_args(argv)
    if opts.quick:
        opts.records = opts.records or QUICK_RECORDS
        opts.repeats = opts.repeats or 1
    opts.records = opts.records if opts.records is not None else 5000
    opts.repeats = opts.repeats if opts.repeats is not None else 5
    if opts.records < 1 or opts.repeats < 1 or not 1 <= opts.batch_size <= 10000:
        parser.error("--records and --repeats must be at least 1, --batch-size 1..10000")
    return opts


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    command = shlex.join([sys.executable, *sys.argv])
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # moto's dummy credentials
        AWS_DEFAULT_REGION=REGION,
    )
    for var in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE"):
        os.environ.pop(var, None)
    configure(opts.log_level, "console")
    wall = time.perf_counter()
    timed_out = False
    runs: list[RunResult] = []
    with sigterm_as_exit():
        moto = MotoServer()
        try:
            moto.start()
            print(f"moto_server pid {moto.pid} at {moto.url}", file=sys.stderr)
            runs = anyio.run(benchmark, moto, opts)
        except* TimeoutError:
            timed_out = True
        finally:
            moto.stop()
    if timed_out:
        print(
            f"error: a run did not handle all its records within --timeout {opts.timeout:g} s",
            file=sys.stderr,
        )
        return 1
    wall_seconds = time.perf_counter() - wall
    summaries = summarise_all(runs, opts)
    if opts.json:
        document = {
            "command": command,
            "environment": environment(),
            "parameters": {k: v for k, v in vars(opts).items() if k != "json"},
            "summaries": [asdict(s) for s in summaries],
            "ratios_poller_raw": {str(k): v for k, v in ratios(summaries).items()},
            "runs": [{**asdict(r), "rate": r.rate, "cpu_per_1000": r.cpu_per_1000} for r in runs],
            "wall_seconds": wall_seconds,
        }
        print(json.dumps(document, indent=2))
    else:
        env = ", ".join(f"{k} {v}" for k, v in environment().items())
        print(f"command: {command}")
        print(f"environment: {env}")
        print(report_table(summaries, opts))
        print(f"wall time: {wall_seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
