"""End-to-end SQS throughput: poller against a minimal aioboto3 loop and bbc's sqs-consumer.

The contenders consume the same pre-loaded queue shape with a no-op handler at the same
concurrency, in alternating order, in one run against one server (ministack by default, moto,
or any endpoint); the report gives messages per second (median, min, max over rounds), CPU per
1,000 messages of the contender and of the server, SQS API calls per 1,000 messages, and each
contender's ratio to the raw loop's median.

    python benchmarks/sqs_throughput.py [--server ministack|moto] [--endpoint URL]
        [--rounds 3] [--messages N] [--concurrency 5,20] [--contenders poller,raw,sqs-consumer]
        [--quick] [--json]

moto caps SQS at roughly 90 msg/s end to end on a 2-core machine, ministack at ~1,000-1,500
(see docs/testing.md): the absolute figures are the server's, the ratios are the contenders'.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import aioboto3
import anyio
import bench_support as bench
import fast_server
import noop_handler

from poller.config.loader import parse_config
from poller.daemon import Daemon
from poller.sources.sqs import queue_depth
from poller.telemetry.metrics import Metrics

LONG_POLL = 20  # poller's long poll (batching.SQS_LONG_POLL_SECONDS); the other contenders too
WARMUP_MESSAGES = 20
QUICK_MESSAGES = 100
CONTENDERS = ("poller", "raw", "sqs-consumer")
BASELINE = "raw"
PEER_SCRIPT = bench.BENCH_DIR / "peers" / "sqs_consumer.js"
# What poller asks for on every receive; the raw loop asks for the same so the server does
# equal work (sqs-consumer is configured the same way).
RECEIVE_ATTRIBUTES: dict[str, Any] = {
    "MessageSystemAttributeNames": ["All"],
    "MessageAttributeNames": ["All"],
}


# ---------------------------------------------------------------------------------------------
# Results


@dataclass
class RunResult:
    contender: str
    concurrency: int
    round: int
    messages: int
    seconds: float  # start of consumption to the last delete
    received: int  # messages handed out by ReceiveMessage (> messages: some came twice)
    deleted: int  # successful DeleteMessageBatch entries (a message received twice may count 2)
    shutdown_seconds: float  # stop requested -> contender fully stopped
    leftover: int  # messages still in the queue afterwards (visible + in flight)
    cpu_seconds: float | None  # the contender's process over the same window
    server_cpu_seconds: float | None  # the server's processes over the same window
    calls: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def cpu_ms_per_1k(self) -> float | None:
        return None if self.cpu_seconds is None else 1e6 * self.cpu_seconds / self.messages

    @property
    def server_cpu_ms_per_1k(self) -> float | None:
        if self.server_cpu_seconds is None:
            return None
        return 1e6 * self.server_cpu_seconds / self.messages


@dataclass(frozen=True)
class Target:
    """What a contender consumes: a fresh queue holding `messages` messages."""

    endpoint: str
    account: str
    queue_name: str
    queue_url: str
    messages: int
    concurrency: int
    # Visible + in-flight messages left in the queue, asked through a client of the benchmark's
    # own (not counted against any contender).
    leftover: Callable[[], Awaitable[int]]
    server_cpu: Callable[[], float | None]


@dataclass
class Summary:
    contender: str
    concurrency: int
    rounds: int
    median_rate: float
    min_rate: float
    max_rate: float
    median_cpu_ms_per_1k: float | None
    median_server_cpu_ms_per_1k: float | None
    median_shutdown_seconds: float
    max_shutdown_seconds: float
    extra_deliveries: int
    calls_per_1000: dict[str, float]
    calls_per_1000_total: float


def median_or_none(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def summarise(contender: str, concurrency: int, runs: list[RunResult]) -> Summary:
    rates = [r.rate for r in runs]
    messages = sum(r.messages for r in runs)
    calls: Counter[str] = Counter()
    for run in runs:
        calls.update(run.calls)
    per_1000 = {op: 1000 * n / messages for op, n in sorted(calls.items())}
    shutdowns = [r.shutdown_seconds for r in runs]
    return Summary(
        contender=contender,
        concurrency=concurrency,
        rounds=len(runs),
        median_rate=statistics.median(rates),
        min_rate=min(rates),
        max_rate=max(rates),
        median_cpu_ms_per_1k=median_or_none([r.cpu_ms_per_1k for r in runs]),
        median_server_cpu_ms_per_1k=median_or_none([r.server_cpu_ms_per_1k for r in runs]),
        median_shutdown_seconds=statistics.median(shutdowns),
        max_shutdown_seconds=max(shutdowns),
        extra_deliveries=sum(max(r.received - r.messages, 0) for r in runs),
        calls_per_1000=per_1000,
        calls_per_1000_total=sum(per_1000.values()),
    )


# ---------------------------------------------------------------------------------------------
# The queue each run consumes


def pool_size(concurrency: int) -> int:
    """The client pool poller's SQS mapping uses at this concurrency (poller.sqs.mapping)."""
    return concurrency + 10


async def create_loaded_queue(admin: Any, name: str, messages: int) -> str:
    """A fresh standard queue holding `messages` small messages, sent from one task."""
    url: str = (await admin.create_queue(QueueName=name))["QueueUrl"]
    for start in range(0, messages, 10):
        entries = [
            {"Id": str(i), "MessageBody": json.dumps({"seq": start + i, "pad": "x" * 64})}
            for i in range(min(10, messages - start))
        ]
        response = await admin.send_message_batch(QueueUrl=url, Entries=entries)
        if response.get("Failed"):
            raise RuntimeError(f"SendMessageBatch failed: {response['Failed']}")
    return url


# ---------------------------------------------------------------------------------------------
# Contender 1: poller's Daemon


def poller_config_text(
    target: Target, log_level: str, handler: str = "noop_handler:handler"
) -> str:
    config = {
        "aws": {"region": bench.REGION, "endpoint_url": target.endpoint},
        "http": {"enabled": False},
        "logging": {"level": log_level},
        # The raw loop abandons its long polls when cancelled; `finish` (the default) would wait
        # for poller's idle polls to end (up to 20 s), timing the server's wait, not poller.
        "shutdown_receives": "cancel",
        "functions": {"noop": {"handler": handler, "code_uri": "benchmarks"}},
        "mappings": [
            {
                "function": "noop",
                "name": "bench",
                "event_source_arn": (
                    f"arn:aws:sqs:{bench.REGION}:{target.account}:{target.queue_name}"
                ),
                "batch_size": 10,
                "maximum_batching_window_in_seconds": 0,
                "scaling_config": {"maximum_concurrency": max(2, target.concurrency)},
            }
        ],
    }
    return json.dumps(config)  # JSON is YAML


async def wait_all_deleted(
    deleted: Callable[[], float],
    messages: int,
    check: Callable[[], Awaitable[int]],
    server_cpu: Callable[[], float | None],
) -> bench.Mark:
    """The moment the deleted-messages counter was first seen at a value where the queue is
    empty (wall clock, this process's CPU and the server's, read then).

    The counter counts successful delete entries; a message the server handed out twice can be
    deleted twice, so reaching `messages` is confirmed by asking the queue (outside the
    contender's client, so the check is not counted as poller's API call).
    """
    checked = 0.0
    while True:
        # A Prometheus counter wakes no one: poll it (5 ms granularity on a multi-second run).
        while (value := deleted()) < messages or value <= checked:  # noqa: ASYNC110
            await anyio.sleep(0.005)
        seen = bench.Mark.now(server_cpu)
        if await check() == 0:
            return seen
        checked = value


async def run_poller(target: Target, opts: argparse.Namespace) -> RunResult:
    config = parse_config(poller_config_text(target, opts.log_level), os.environ)
    labels = {"mapping": "bench", "function": "noop"}
    metrics = Metrics()
    # Read the one series directly: collecting the whole registry every 5 ms would be billed
    # to poller's CPU (this process's), ~50 µs per message on a 2-second run.
    deleted = metrics.deleted_events.labels(**labels, source="sqs")

    async def all_deleted() -> bench.Mark:
        return await wait_all_deleted(
            lambda: float(deleted._value.get()),
            target.messages,
            target.leftover,
            target.server_cpu,
        )

    started = bench.Mark.now(target.server_cpu)
    daemon = Daemon(config, bench.REPO_ROOT, metrics=metrics)
    finished, shutdown = await bench.run_daemon_until(
        daemon, all_deleted, wait_limit=opts.timeout, shutdown_limit=opts.shutdown_limit
    )
    return RunResult(
        contender="poller",
        concurrency=target.concurrency,
        round=0,
        messages=target.messages,
        seconds=finished.at - started.at,
        received=int(bench.sample(metrics, "poller_polled_events_total", labels)),
        deleted=int(bench.sample(metrics, "poller_deleted_events_total", labels)),
        shutdown_seconds=shutdown,
        leftover=0,
        cpu_seconds=finished.cpu - started.cpu,
        server_cpu_seconds=finished.server_cpu_since(started),
        calls=bench.api_calls(metrics, "sqs"),
    )


# ---------------------------------------------------------------------------------------------
# Contender 2: a minimal hand-written loop


@dataclass
class RawState:
    target: int
    server_cpu: Callable[[], float | None]
    received: int = 0
    deleted: int = 0
    deleted_ids: set[str] = field(default_factory=set)
    finished: bench.Mark | None = None
    done: anyio.Event = field(default_factory=anyio.Event)


async def raw_worker(client: Any, url: str, state: RawState) -> None:
    """receive (long poll) -> handler -> delete_message_batch, until the target is deleted."""
    while True:
        response = await client.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=LONG_POLL,
            **RECEIVE_ATTRIBUTES,
        )
        received = response.get("Messages", [])
        if not received:
            continue
        state.received += len(received)
        noop_handler.handler({"Records": received}, None)
        result = await client.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)
            ],
        )
        successful = result.get("Successful", [])
        state.deleted += len(successful)
        state.deleted_ids.update(received[int(entry["Id"])]["MessageId"] for entry in successful)
        if len(state.deleted_ids) >= state.target and not state.done.is_set():
            state.finished = bench.Mark.now(state.server_cpu)
            state.done.set()


async def run_raw(target: Target, opts: argparse.Namespace) -> RunResult:
    """`concurrency` workers on one client; done when every distinct message is deleted."""
    calls: Counter[str] = Counter()
    state = RawState(target.messages, target.server_cpu)

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    started = bench.Mark.now(target.server_cpu)
    session = aioboto3.Session(region_name=bench.REGION)
    async with session.client(
        "sqs",
        endpoint_url=target.endpoint,
        config=bench.client_config(pool_size(target.concurrency)),
    ) as client:
        client.meta.events.register("before-call", count)
        worker = functools.partial(raw_worker, client, target.queue_url, state)
        stop_requested = await bench.run_tasks_until(
            [worker] * target.concurrency, state.done, wait_limit=opts.timeout
        )
    shutdown = time.perf_counter() - stop_requested
    assert state.finished is not None
    return RunResult(
        contender="raw",
        concurrency=target.concurrency,
        round=0,
        messages=target.messages,
        seconds=state.finished.at - started.at,
        received=state.received,
        deleted=state.deleted,
        shutdown_seconds=shutdown,
        leftover=0,
        cpu_seconds=state.finished.cpu - started.cpu,
        server_cpu_seconds=state.finished.server_cpu_since(started),
        calls=dict(calls),
    )


# ---------------------------------------------------------------------------------------------
# Contender 3: bbc's sqs-consumer (node), in a process of its own


def sqs_consumer_command(target: Target, modules: str, mode: str, messages: int) -> list[str]:
    """`node peers/sqs_consumer.js <config>` for this queue, concurrency and mode."""
    config = {
        "modules": modules,
        "endpoint": target.endpoint,
        "region": bench.REGION,
        "queueUrl": target.queue_url,
        "concurrency": target.concurrency,
        "messages": messages,
        "waitTimeSeconds": LONG_POLL,
        "mode": mode,
    }
    return ["node", str(PEER_SCRIPT), json.dumps(config)]


async def run_sqs_consumer(target: Target, opts: argparse.Namespace) -> RunResult:
    """The node process until it has deleted every distinct message; its own clock and
    `process.cpuUsage()` time the window, from its start (after loading its modules)."""
    command = sqs_consumer_command(target, opts.sqs_consumer_modules, "throughput", target.messages)
    run = await bench.run_peer(
        command, env=dict(os.environ), server_cpu=target.server_cpu, wait_limit=opts.timeout
    )
    done = run.done
    return RunResult(
        contender="sqs-consumer",
        concurrency=target.concurrency,
        round=0,
        messages=target.messages,
        seconds=float(done["seconds"]),
        received=int(done["received"]),
        deleted=int(done["deleted"]),
        shutdown_seconds=run.shutdown_seconds,
        leftover=0,
        cpu_seconds=float(done["cpu_seconds"]),
        server_cpu_seconds=run.server_cpu_seconds,
        calls={op: int(n) for op, n in done["calls"].items()},
    )


# ---------------------------------------------------------------------------------------------
# Rounds

Runner = Callable[[Target, argparse.Namespace], Awaitable[RunResult]]
RUNNERS: dict[str, Runner] = {
    "poller": run_poller,
    "raw": run_raw,
    "sqs-consumer": run_sqs_consumer,
}


@dataclass(frozen=True)
class Bench:
    """What every run of one benchmark shares: the server and the benchmark's own client."""

    server: bench.Server
    admin: Any
    account: str
    opts: argparse.Namespace


async def one_run(ctx: Bench, contender: str, concurrency: int, messages: int) -> RunResult:
    name = f"bench-{contender}-{uuid.uuid4().hex[:12]}"
    loaded = time.perf_counter()
    url = await create_loaded_queue(ctx.admin, name, messages)
    load_seconds = time.perf_counter() - loaded

    async def check() -> int:
        return await queue_depth(ctx.admin, url)

    target = Target(
        ctx.server.url, ctx.account, name, url, messages, concurrency, check, ctx.server.cpu_seconds
    )
    result = await RUNNERS[contender](target, ctx.opts)
    result.leftover = await check()
    await ctx.admin.delete_queue(QueueUrl=url)
    result.calls = dict(sorted(result.calls.items()))
    cpu = result.cpu_ms_per_1k
    server_cpu = result.server_cpu_ms_per_1k
    print(
        f"  {contender:<12} c{concurrency:<3} {messages} msgs in {result.seconds:6.2f} s"
        f" = {result.rate:7.1f} msg/s"
        f" | CPU {'-' if cpu is None else f'{cpu:.0f}'} ms/1k,"
        f" server {'-' if server_cpu is None else f'{server_cpu:.0f}'} ms/1k"
        f" | received {result.received}, deleted {result.deleted}, left {result.leftover}"
        f" | shutdown {result.shutdown_seconds:.3f} s | preload {load_seconds:.1f} s"
        f" | calls {result.calls}",
        file=sys.stderr,
    )
    return result


async def benchmark(server: bench.Server, opts: argparse.Namespace) -> list[RunResult]:
    session = aioboto3.Session(region_name=bench.REGION)
    runs: list[RunResult] = []
    async with session.client(
        "sqs", endpoint_url=server.url, config=bench.client_config(pool_size(1))
    ) as admin:
        ctx = Bench(server, admin, await bench.server_account(server.url), opts)
        if opts.warmup:
            print(f"warm-up ({WARMUP_MESSAGES} messages each, not reported)", file=sys.stderr)
            for contender in opts.contenders:
                await one_run(ctx, contender, opts.concurrency[0], WARMUP_MESSAGES)
        cases = tuple(opts.concurrency)
        for round_no, concurrency, contender in bench.alternating(
            opts.contenders, opts.rounds, cases
        ):
            result = await one_run(ctx, contender, concurrency, opts.messages)
            result.round = round_no
            runs.append(result)
    return runs


# ---------------------------------------------------------------------------------------------
# Report


def _cpu(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def concurrency_table(summaries: list[Summary]) -> list[str]:
    """Throughput, CPU and API calls of the contenders at one concurrency."""
    by = {s.contender: s for s in summaries}
    base = by.get(BASELINE)
    lines = [
        f"concurrency {summaries[0].concurrency}: msgs/s (start of consumption to last delete),"
        " CPU ms per 1,000 messages",
        f"  {'contender':<14}{'median':>9}{'min':>9}{'max':>9}{f'/{BASELINE}':>8}"
        f"{'CPU':>7}{'server CPU':>12}{'shutdown med/max (s)':>24}{'extra deliveries':>18}",
    ]
    for s in summaries:
        ratio = f"{s.median_rate / base.median_rate:.3f}" if base else "-"
        lines.append(
            f"  {s.contender:<14}{s.median_rate:>9.1f}{s.min_rate:>9.1f}{s.max_rate:>9.1f}"
            f"{ratio:>8}{_cpu(s.median_cpu_ms_per_1k):>7}"
            f"{_cpu(s.median_server_cpu_ms_per_1k):>12}"
            f"{f'{s.median_shutdown_seconds:.3f} / {s.max_shutdown_seconds:.3f}':>24}"
            f"{s.extra_deliveries:>18}"
        )
    operations = sorted({op for s in summaries for op in s.calls_per_1000})
    width = max([len(op) for op in operations] + [len("total")])
    lines += ["  SQS API calls per 1,000 messages (all rounds)"]
    lines.append(f"    {'operation':<{width}}" + "".join(f"{s.contender:>14}" for s in summaries))
    for op in [*operations, "total"]:
        cells = "".join(
            f"{(s.calls_per_1000_total if op == 'total' else s.calls_per_1000.get(op, 0.0)):>14.1f}"
            for s in summaries
        )
        lines.append(f"    {op:<{width}}{cells}")
    return lines


def report_table(
    summaries: list[Summary], rows: list[dict[str, Any]], opts: argparse.Namespace
) -> str:
    lines = [
        f"{opts.messages} messages per run, {opts.rounds} rounds (alternating order), no-op"
        " handler, batch size 10, long poll 20 s; CPU: the contender's process (poller and raw:"
        " this process) and the server's processes, over the same window",
    ]
    for concurrency in opts.concurrency:
        lines += ["", *concurrency_table([s for s in summaries if s.concurrency == concurrency])]
    lines += ["", "rows", bench.rows_table(rows)]
    return "\n".join(lines)


def rows_of(summaries: list[Summary]) -> list[dict[str, Any]]:
    """The report's `rows`: each contender's median msg/s per concurrency, against raw's."""
    base = {s.concurrency: s.median_rate for s in summaries if s.contender == BASELINE}
    return [
        bench.row(
            "e2e-sqs",
            f"concurrency {s.concurrency}",
            s.contender,
            s.median_rate,
            "msg/s",
            cpu_ms_per_1k=s.median_cpu_ms_per_1k,
            baseline_value=base.get(s.concurrency),
            server_cpu_ms_per_1k=s.median_server_cpu_ms_per_1k,
        )
        for s in summaries
    ]


def report(runs: list[RunResult], opts: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """The table and the JSON entries of the report, from every measured run."""
    summaries = [
        summarise(c, n, [r for r in runs if r.contender == c and r.concurrency == n])
        for n in opts.concurrency
        for c in opts.contenders
    ]
    rows = rows_of(summaries)
    results = {
        "rows": rows,
        # per concurrency, as before the rows existed (when both ran)
        "ratio_poller_raw": {
            f"concurrency {r['case'].split()[-1]}": r["ratio"]
            for r in rows
            if r["contender"] == "poller" and r["ratio"] is not None
        },
        "summaries": [asdict(s) for s in summaries],
        "runs": [
            {
                **asdict(r),
                "rate": r.rate,
                "cpu_ms_per_1k": r.cpu_ms_per_1k,
                "server_cpu_ms_per_1k": r.server_cpu_ms_per_1k,
            }
            for r in runs
        ],
    }
    return report_table(summaries, rows, opts), results


# ---------------------------------------------------------------------------------------------
# Entry point


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, help="rounds per contender (3; --quick: 1)")
    parser.add_argument(
        "--messages",
        type=int,
        help="messages per run (moto: 600, other servers: 5000; --quick: 100)",
    )
    parser.add_argument(
        "--concurrency",
        type=bench.int_list(1, 100),
        default=[5, 20],
        help="pollers / workers / Consumer instances, comma-separated (5,20)",
    )
    parser.add_argument(
        "--contenders",
        type=bench.name_list(CONTENDERS),
        default=CONTENDERS,
        help=f"comma-separated, in round 1's order ({','.join(CONTENDERS)})",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 100 messages, 1 round")
    fast_server.add_server_options(parser)
    bench.add_common_options(parser, timeout=300.0, shutdown_limit=60.0)
    opts = parser.parse_args(argv)
    default_messages = 600 if fast_server.server_kind(opts) == "moto" else 5000
    opts.messages = opts.messages or (QUICK_MESSAGES if opts.quick else default_messages)
    opts.rounds = opts.rounds or (1 if opts.quick else 3)
    if opts.rounds < 1 or opts.messages < 1:
        parser.error("--rounds and --messages must be at least 1")
    return opts


def prepare_peers(opts: argparse.Namespace) -> dict[str, str]:
    """Install sqs-consumer if it is a contender (dropped, saying why, if it cannot be);
    returns the versions for the report."""
    opts.sqs_consumer_modules = None
    if "sqs-consumer" not in opts.contenders:
        return {}
    try:
        opts.sqs_consumer_modules = str(fast_server.ensure_sqs_consumer())
    except fast_server.Unavailable as exc:
        print(f"skipping sqs-consumer: {exc}", file=sys.stderr)
        opts.contenders = tuple(c for c in opts.contenders if c != "sqs-consumer")
        return {}
    return {
        "node": fast_server.node_version(),
        "sqs-consumer": fast_server.SQS_CONSUMER_VERSION,
        "@aws-sdk/client-sqs": fast_server.CLIENT_SQS_VERSION,
    }


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    bench.prepare_process(opts.log_level)
    if 1 in opts.concurrency:
        print("note: poller's maximum_concurrency is at least 2; it runs with 2", file=sys.stderr)
    try:
        server = fast_server.make_server(opts)
    except fast_server.Unavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return fast_server.EXIT_UNAVAILABLE
    peers = prepare_peers(opts)
    if not opts.contenders:
        print("error: no contender left to run", file=sys.stderr)
        return fast_server.EXIT_UNAVAILABLE
    timed_out = f"a run did not delete all its messages within --timeout {opts.timeout:g} s"
    return bench.run_benchmark(
        opts,
        benchmark,
        report,
        timeout_message=timed_out,
        server=server,
        extra_environment=peers,
    )


if __name__ == "__main__":
    sys.exit(main())
