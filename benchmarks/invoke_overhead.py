"""Invocation overhead: a no-op handler through poller's three kinds of target, in one run.

The same events go through `PythonInvoker` (in-process: the sync handler in a worker thread),
`ProcessInvoker` (isolation: process, with 1 worker and with N workers) and `HttpInvoker` (an
aiohttp server on 127.0.0.1 in this process that answers like the Runtime Interface Emulator),
one call at a time (sequential: latency) and `--concurrency` calls at a time (concurrent:
throughput). Targets alternate their order every repeat; the report gives the median µs per call,
the median (min, max) calls per second over the repeats and the ratio to in-process.

    python benchmarks/invoke_overhead.py [--calls 2000] [--repeats 3] [--concurrency 8]
    python benchmarks/invoke_overhead.py --large-event   # also a ~100 KB event (a Kinesis batch)
    python benchmarks/invoke_overhead.py --quick         # smoke run: 300 calls, 1 repeat
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shlex
import signal
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import anyio
from aiohttp import web

from poller.config.settings import FunctionConfig
from poller.events import kinesis
from poller.invokers import Invoker
from poller.invokers.http import RIE_PATH, HttpInvoker
from poller.invokers.process import ProcessInvoker
from poller.invokers.python import PythonInvoker, function_identity, load_handler
from poller.telemetry.logging import configure

REPO_ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
ACCOUNT = "123456789012"
NAME = "noop"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{NAME}"
STREAM_ARN = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/orders"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{NAME}"
ARRIVED = datetime(2025, 11, 25, 15, 47, 40, tzinfo=UTC)
LARGE_EVENT_BYTES = 100_000
MODES = ("sequential", "concurrent")
BASELINE = "in-process"
WARMUP_CALLS = 200
REQUEST_IDS = 1024  # made up front and reused in turn, so uuid4() is not in the timed loop


# ---------------------------------------------------------------------------------------------
# Events


def kinesis_record(index: int, pad: int) -> dict[str, Any]:
    """One record of Lambda's Kinesis event, built by poller from a GetRecords-shaped record."""
    data = {"id": f"evt-{index:08d}", "type": "order", "amount": 250.5, "pad": "x" * pad}
    api_record = {
        "SequenceNumber": str(49_000_000_000 + index),
        "ApproximateArrivalTimestamp": ARRIVED,
        "Data": json.dumps(data).encode(),
        "PartitionKey": f"key-{index}",
    }
    return kinesis.build_record(api_record, "shardId-000000000000", STREAM_ARN, REGION, ROLE_ARN)


def small_event() -> dict[str, Any]:
    """One Kinesis record with a ~130-byte payload (as in stream_throughput.py)."""
    return {"Records": [kinesis_record(0, 64)]}


def large_event() -> dict[str, Any]:
    """A batch of Kinesis records (~700-byte payloads) of about `LARGE_EVENT_BYTES` as JSON."""
    per_record = len(json.dumps(kinesis_record(0, 640)))
    count = max(1, round(LARGE_EVENT_BYTES / per_record))
    return {"Records": [kinesis_record(index, 640) for index in range(count)]}


def size(event: dict[str, Any]) -> int:
    return len(json.dumps(event).encode())


# ---------------------------------------------------------------------------------------------
# Targets


@dataclass(frozen=True)
class Target:
    name: str
    invoker: Invoker


async def _shielded(close: Callable[[], Awaitable[None]]) -> None:
    """Run a close even when the run is being cancelled (Ctrl-C, SIGTERM)."""
    with anyio.CancelScope(shield=True):
        await close()


@asynccontextmanager
async def emulator(answer: str) -> AsyncIterator[str]:
    """An aiohttp server on 127.0.0.1 at the RIE's invoke path; yields the invoke URL.

    It answers at once with 200 and the event itself (`echo`, as FakeRie in tests/support does)
    or `null` (what the emulator relays for a handler that returns None). It runs on this
    process's event loop: its CPU is the benchmark's.
    """

    async def invoke(request: web.Request) -> web.Response:
        body = await request.read()
        return web.Response(
            body=body if answer == "echo" else b"null", content_type="application/json"
        )

    app = web.Application()
    app.router.add_post(RIE_PATH, invoke)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}{RIE_PATH}"
    finally:
        await _shielded(runner.cleanup)


async def open_targets(stack: AsyncExitStack, opts: argparse.Namespace) -> list[Target]:
    """The in-process, process (1 and `--workers` workers) and HTTP targets, all started; each
    is closed by `stack` (worker processes reaped, session and server closed)."""
    function = FunctionConfig(handler="noop_handler:handler", code_uri="benchmarks")
    identity = function_identity(NAME, function, FUNCTION_ARN)
    handler = load_handler(NAME, function, REPO_ROOT)
    targets = [Target(BASELINE, PythonInvoker(handler, identity, function))]
    for workers in dict.fromkeys((1, opts.workers)):
        pool = ProcessInvoker(
            NAME, function, REPO_ROOT, FUNCTION_ARN, workers=workers, region=REGION
        )
        stack.push_async_callback(_shielded, pool.close)  # registered first: start may fail
        await pool.start()
        targets.append(Target(f"process x{workers}", pool))
    url = await stack.enter_async_context(emulator(opts.http_answer))
    http = HttpInvoker(NAME, url, function.timeout)
    stack.push_async_callback(_shielded, http.close)
    targets.append(Target("http", http))
    return targets


# ---------------------------------------------------------------------------------------------
# Measuring


@dataclass(frozen=True)
class Sample:
    """One target, mode and event: `calls` invocations in `seconds`."""

    target: str
    mode: str
    event: str
    calls: int
    seconds: float
    median_us: float  # of the calls' own durations
    failures: int  # invocations that came back with a function error

    @property
    def rate(self) -> float:
        return self.calls / self.seconds


async def timed_calls(
    target: Target, event: tuple[str, dict[str, Any]], mode: str, calls: int, concurrency: int
) -> Sample:
    """`calls` invocations of `target`, by `concurrency` tasks (1 when sequential) that each
    take the next call as soon as their last one returns."""
    name, document = event
    ids = [str(uuid.uuid4()) for _ in range(REQUEST_IDS)]
    durations: list[int] = []
    failures = 0
    issued = 0

    async def caller() -> None:
        nonlocal failures, issued
        while issued < calls:
            request_id = ids[issued % REQUEST_IDS]
            issued += 1
            started = time.perf_counter_ns()
            result = await target.invoker.invoke(document, request_id)
            durations.append(time.perf_counter_ns() - started)
            failures += result.error is not None

    gc.collect()
    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(concurrency if mode == "concurrent" else 1):
            tg.start_soon(caller)
    seconds = time.perf_counter() - started
    median_us = statistics.median(durations) / 1000
    return Sample(target.name, mode, name, calls, seconds, median_us, failures)


async def warm_up(
    targets: Sequence[Target], events: dict[str, dict[str, Any]], concurrency: int
) -> None:
    """Unreported calls through every target, mode and event: imports, connections, and every
    worker of the N-worker pool started (the first concurrent round finds one idle worker, so
    the other slots start theirs at once)."""
    for target in targets:
        for event in events.items():
            for mode in MODES:
                await timed_calls(target, event, mode, WARMUP_CALLS, concurrency)


async def run_repeats(
    targets: Sequence[Target], events: dict[str, dict[str, Any]], opts: argparse.Namespace
) -> list[Sample]:
    """Every target, mode and event `--repeats` times; the target order flips every repeat."""
    samples: list[Sample] = []
    for repeat in range(opts.repeats):
        order = targets if repeat % 2 == 0 else targets[::-1]
        for event in events.items():
            for mode in MODES:
                for target in order:
                    sample = await timed_calls(target, event, mode, opts.calls, opts.concurrency)
                    samples.append(sample)
                    print(
                        f"  repeat {repeat + 1} {sample.event:<5} {mode:<10} {target.name:<12}"
                        f" median {sample.median_us:8.1f} µs  {sample.rate:9,.0f} calls/s"
                        f"  {sample.seconds:6.2f} s",
                        file=sys.stderr,
                    )
    return samples


async def benchmark(
    opts: argparse.Namespace, events: dict[str, dict[str, Any]], caught: list[int]
) -> list[Sample]:
    """Start the targets, warm up, measure, close everything (also when cancelled by a
    signal: `caught` then holds it and the result is empty)."""
    samples: list[Sample] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(watch_signals, tg.cancel_scope, caught)
        async with AsyncExitStack() as stack:
            targets = await open_targets(stack, opts)
            await warm_up(targets, events, opts.concurrency)
            samples = await run_repeats(targets, events, opts)
        tg.cancel_scope.cancel()
    return samples


async def watch_signals(scope: anyio.CancelScope, caught: list[int]) -> None:
    """On SIGINT, SIGTERM or SIGHUP: note it and cancel the run, so the targets are closed."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
        async for signum in signals:
            print(f"!! {signal.Signals(signum).name}: stopping", file=sys.stderr)
            caught.append(signum)
            scope.cancel()
            return


# ---------------------------------------------------------------------------------------------
# Report


@dataclass(frozen=True)
class Summary:
    target: str
    mode: str
    event: str
    median_us: float  # median over the repeats of each repeat's median
    median_rate: float
    min_rate: float
    max_rate: float


def summarise(samples: Sequence[Sample]) -> list[Summary]:
    groups: dict[tuple[str, str, str], list[Sample]] = {}
    for sample in samples:
        groups.setdefault((sample.event, sample.mode, sample.target), []).append(sample)
    return [
        Summary(
            target,
            mode,
            event,
            statistics.median(s.median_us for s in group),
            statistics.median(s.rate for s in group),
            min(s.rate for s in group),
            max(s.rate for s in group),
        )
        for (event, mode, target), group in groups.items()
    ]


def table(summaries: Sequence[Summary]) -> str:
    header = (
        f"{'event':<7}{'target':<13}{'mode':<12}{'median µs':>10}{'calls/s':>10}{'min':>9}"
        f"{'max':>9}{'µs ratio':>10}{'calls/s ratio':>15}"
    )
    base = {(s.event, s.mode): s for s in summaries if s.target == BASELINE}
    rows = []
    for s in sorted(summaries, key=lambda s: (s.event != "small", MODES.index(s.mode))):
        ref = base[(s.event, s.mode)]
        rows.append(
            f"{s.event:<7}{s.target:<13}{s.mode:<12}{s.median_us:>10,.1f}{s.median_rate:>10,.0f}"
            f"{s.min_rate:>9,.0f}{s.max_rate:>9,.0f}{s.median_us / ref.median_us:>10.2f}"
            f"{s.median_rate / ref.median_rate:>15.3f}"
        )
    return "\n".join([header, *rows])


def environment() -> str:
    versions = ", ".join(f"{pkg} {metadata.version(pkg)}" for pkg in ("aiohttp", "anyio"))
    return (
        f"python {platform.python_version()}, {platform.platform()}, cpus {os.cpu_count()}, "
        f"{versions}"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, help="calls per target, mode, event (2000)")
    parser.add_argument("--repeats", type=int, help="timed runs of each (3; --quick 1)")
    parser.add_argument("--concurrency", type=int, default=8, help="calls at once when concurrent")
    parser.add_argument("--workers", type=int, help="the N of process xN (--concurrency)")
    parser.add_argument(
        "--large-event", action="store_true", help="also a ~100 KB event (a Kinesis batch)"
    )
    parser.add_argument(
        "--http-answer",
        choices=("echo", "null"),
        default="echo",
        help="the emulator's answer: the event (echo) or a no-op handler's `null`",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 300 calls, 1 repeat")
    opts = parser.parse_args(argv)
    opts.calls = opts.calls or (300 if opts.quick else 2000)
    opts.repeats = opts.repeats or (1 if opts.quick else 3)
    opts.workers = opts.workers or opts.concurrency
    if min(opts.calls, opts.repeats, opts.concurrency, opts.workers) < 1:
        parser.error("--calls, --repeats, --concurrency and --workers must be at least 1")
    return opts


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    configure("warning", "console")
    events = {"small": small_event()}
    if opts.large_event:
        events["large"] = large_event()
    command = shlex.join(["python", *sys.argv])
    wall = time.perf_counter()
    caught: list[int] = []
    samples = anyio.run(benchmark, opts, events, caught)
    if caught:
        return 128 + caught[0]
    sizes = ", ".join(f"{name} {size(event):,} bytes" for name, event in events.items())
    print(f"command: {command}")
    print(f"environment: {environment()}")
    print(
        f"{opts.calls:,} calls per run, {opts.repeats} repeat{'s' if opts.repeats > 1 else ''} "
        "(target order flips each repeat), "
        f"concurrency {opts.concurrency}, no-op handler; events: {sizes}; "
        f"http answers {opts.http_answer}\n"
    )
    print(table(summarise(samples)))
    print(f"wall time: {time.perf_counter() - wall:.1f} s")
    failures = sum(s.failures for s in samples)
    if failures:
        print(f"!! {failures:,} invocations came back with a function error")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
