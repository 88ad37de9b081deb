"""End-to-end SQS throughput: poller against a minimal aioboto3 loop, on moto's server.

Both contenders consume the same pre-loaded queue shape with a no-op handler at the same
concurrency, in alternating order, in one run; the report gives messages per second (median,
min, max over rounds), SQS API calls per 1,000 messages, and the poller/raw ratio of medians.

    python benchmarks/sqs_throughput.py [--rounds 3] [--messages 600] [--concurrency 5] [--json]

moto caps SQS at roughly 90 msg/s end to end on a 2-core machine (see docs/testing.md): the absolute
figures are the server's, the ratio is poller's.
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
import noop_handler

from poller.config.loader import parse_config
from poller.daemon import Daemon
from poller.sources.sqs import queue_depth
from poller.telemetry.metrics import Metrics

LONG_POLL = 20  # poller's long poll (batching.SQS_LONG_POLL_SECONDS); the raw loop uses it too
WARMUP_MESSAGES = 20
CONTENDERS = ("poller", "raw")
# What poller asks for on every receive; the raw loop asks for the same so moto does equal work.
RECEIVE_ATTRIBUTES: dict[str, Any] = {
    "MessageSystemAttributeNames": ["All"],
    "MessageAttributeNames": ["All"],
}


# ---------------------------------------------------------------------------------------------
# Results


@dataclass
class RunResult:
    contender: str
    round: int
    messages: int
    seconds: float  # start of consumption to the last delete
    received: int  # messages handed out by ReceiveMessage (> messages: some came twice)
    deleted: int  # successful DeleteMessageBatch entries (a message received twice may count 2)
    shutdown_seconds: float  # stop requested -> contender fully stopped
    leftover: int  # messages still in the queue afterwards (visible + in flight)
    calls: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


@dataclass(frozen=True)
class Target:
    """What a contender consumes: a fresh queue holding `messages` messages."""

    endpoint: str
    queue_name: str
    queue_url: str
    messages: int
    concurrency: int
    # Visible + in-flight messages left in the queue, asked through a client of the benchmark's
    # own (not counted against either contender).
    leftover: Callable[[], Awaitable[int]]


@dataclass
class Summary:
    contender: str
    rounds: int
    median_rate: float
    min_rate: float
    max_rate: float
    median_shutdown_seconds: float
    max_shutdown_seconds: float
    extra_deliveries: int
    calls_per_1000: dict[str, float]
    calls_per_1000_total: float


def summarise(contender: str, runs: list[RunResult]) -> Summary:
    rates = [r.rate for r in runs]
    messages = sum(r.messages for r in runs)
    calls: Counter[str] = Counter()
    for run in runs:
        calls.update(run.calls)
    per_1000 = {op: 1000 * n / messages for op, n in sorted(calls.items())}
    shutdowns = [r.shutdown_seconds for r in runs]
    return Summary(
        contender=contender,
        rounds=len(runs),
        median_rate=statistics.median(rates),
        min_rate=min(rates),
        max_rate=max(rates),
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


def poller_config_text(endpoint: str, queue_name: str, concurrency: int, log_level: str) -> str:
    config = {
        "aws": {"region": bench.REGION, "endpoint_url": endpoint},
        "http": {"enabled": False},
        "logging": {"level": log_level},
        # The raw loop abandons its long polls when cancelled; `finish` (the default) would wait
        # for poller's idle polls to end (up to 20 s), timing the server's wait, not poller.
        "shutdown_receives": "cancel",
        "functions": {"noop": {"handler": "noop_handler:handler", "code_uri": "benchmarks"}},
        "mappings": [
            {
                "function": "noop",
                "name": "bench",
                "event_source_arn": f"arn:aws:sqs:{bench.REGION}:{bench.ACCOUNT}:{queue_name}",
                "batch_size": 10,
                "maximum_batching_window_in_seconds": 0,
                "scaling_config": {"maximum_concurrency": max(2, concurrency)},
            }
        ],
    }
    return json.dumps(config)  # JSON is YAML


async def wait_all_deleted(
    deleted: Callable[[], float], messages: int, check: Callable[[], Awaitable[int]]
) -> float:
    """The time the deleted-messages counter was first seen at a value where the queue is empty.

    The counter counts successful delete entries; a message moto handed out twice can be deleted
    twice, so reaching `messages` is confirmed by asking the queue (outside the contender's
    client, so the check is not counted as poller's API call).
    """
    checked = 0.0
    while True:
        # A Prometheus counter wakes no one: poll it (5 ms granularity on a multi-second run).
        while (value := deleted()) < messages or value <= checked:  # noqa: ASYNC110
            await anyio.sleep(0.005)
        seen = time.perf_counter()
        if await check() == 0:
            return seen
        checked = value


async def run_poller(target: Target, opts: argparse.Namespace) -> RunResult:
    text = poller_config_text(
        target.endpoint, target.queue_name, target.concurrency, opts.log_level
    )
    config = parse_config(text, os.environ)
    labels = {"mapping": "bench", "function": "noop"}
    metrics = Metrics()

    async def all_deleted() -> float:
        return await wait_all_deleted(
            lambda: bench.sample(metrics, "poller_deleted_events_total", labels),
            target.messages,
            target.leftover,
        )

    started = time.perf_counter()
    daemon = Daemon(config, bench.REPO_ROOT, metrics=metrics)
    finished, shutdown = await bench.run_daemon_until(
        daemon, all_deleted, wait_limit=opts.timeout, shutdown_limit=opts.shutdown_limit
    )
    return RunResult(
        contender="poller",
        round=0,
        messages=target.messages,
        seconds=finished - started,
        received=int(bench.sample(metrics, "poller_polled_events_total", labels)),
        deleted=int(bench.sample(metrics, "poller_deleted_events_total", labels)),
        shutdown_seconds=shutdown,
        leftover=0,
        calls=bench.api_calls(metrics, "sqs"),
    )


# ---------------------------------------------------------------------------------------------
# Contender 2: a minimal hand-written loop


@dataclass
class RawState:
    target: int
    received: int = 0
    deleted: int = 0
    deleted_ids: set[str] = field(default_factory=set)
    finished: float = 0.0
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
            state.finished = time.perf_counter()
            state.done.set()


async def run_raw(target: Target, opts: argparse.Namespace) -> RunResult:
    """`concurrency` workers on one client; done when every distinct message is deleted."""
    calls: Counter[str] = Counter()
    state = RawState(target.messages)

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    started = time.perf_counter()
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
    return RunResult(
        contender="raw",
        round=0,
        messages=target.messages,
        seconds=state.finished - started,
        received=state.received,
        deleted=state.deleted,
        shutdown_seconds=shutdown,
        leftover=0,
        calls=dict(calls),
    )


# ---------------------------------------------------------------------------------------------
# Rounds

Runner = Callable[[Target, argparse.Namespace], Awaitable[RunResult]]
RUNNERS: dict[str, Runner] = {"poller": run_poller, "raw": run_raw}


async def one_run(
    admin: Any, endpoint: str, contender: str, messages: int, opts: argparse.Namespace
) -> RunResult:
    name = f"bench-{contender}-{uuid.uuid4().hex[:12]}"
    loaded = time.perf_counter()
    url = await create_loaded_queue(admin, name, messages)
    load_seconds = time.perf_counter() - loaded

    async def check() -> int:
        return await queue_depth(admin, url)

    target = Target(endpoint, name, url, messages, opts.concurrency, check)
    result = await RUNNERS[contender](target, opts)
    result.leftover = await check()
    await admin.delete_queue(QueueUrl=url)
    result.calls = dict(sorted(result.calls.items()))
    print(
        f"  {contender:<6} {messages} msgs in {result.seconds:6.2f} s = {result.rate:6.1f} msg/s"
        f" | received {result.received}, deleted {result.deleted}, left {result.leftover}"
        f" | shutdown {result.shutdown_seconds:.3f} s | preload {load_seconds:.1f} s"
        f" | calls {result.calls}",
        file=sys.stderr,
    )
    return result


async def benchmark(moto: bench.MotoServer, opts: argparse.Namespace) -> list[RunResult]:
    session = aioboto3.Session(region_name=bench.REGION)
    runs: list[RunResult] = []
    async with session.client(
        "sqs", endpoint_url=moto.url, config=bench.client_config(pool_size(1))
    ) as admin:
        if opts.warmup:
            print(f"warm-up ({WARMUP_MESSAGES} messages each, not reported)", file=sys.stderr)
            for contender in CONTENDERS:
                await one_run(admin, moto.url, contender, WARMUP_MESSAGES, opts)
        for round_no in range(1, opts.rounds + 1):
            print(f"round {round_no}/{opts.rounds}", file=sys.stderr)
            order = CONTENDERS if round_no % 2 else CONTENDERS[::-1]
            for contender in order:
                result = await one_run(admin, moto.url, contender, opts.messages, opts)
                result.round = round_no
                runs.append(result)
    return runs


# ---------------------------------------------------------------------------------------------
# Report


def report_table(summaries: dict[str, Summary], opts: argparse.Namespace) -> str:
    operations = sorted({op for s in summaries.values() for op in s.calls_per_1000})
    lines = [
        f"{opts.messages} messages per run, concurrency {opts.concurrency}, {opts.rounds} rounds"
        " (alternating order), no-op handler, batch size 10, long poll 20 s",
        "",
        "throughput (msgs/s, start of consumption to last delete)",
        f"  {'contender':<10}{'median':>9}{'min':>9}{'max':>9}"
        f"{'shutdown med/max (s)':>24}{'extra deliveries':>18}",
    ]
    lines.extend(
        f"  {s.contender:<10}{s.median_rate:>9.1f}{s.min_rate:>9.1f}{s.max_rate:>9.1f}"
        f"{f'{s.median_shutdown_seconds:.3f} / {s.max_shutdown_seconds:.3f}':>24}"
        f"{s.extra_deliveries:>18}"
        for s in summaries.values()
    )
    width = max([len(op) for op in operations] + [len("total")])
    lines += ["", "SQS API calls per 1,000 messages (all rounds)"]
    lines.append(f"  {'operation':<{width}}" + "".join(f"{c:>10}" for c in summaries))
    for op in [*operations, "total"]:
        cells = "".join(
            f"{(s.calls_per_1000_total if op == 'total' else s.calls_per_1000.get(op, 0.0)):>10.1f}"
            for s in summaries.values()
        )
        lines.append(f"  {op:<{width}}{cells}")
    ratio = summaries["poller"].median_rate / summaries["raw"].median_rate
    lines += ["", f"ratio poller/raw of median msgs/s: {ratio:.3f}"]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Entry point


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per contender (3)")
    parser.add_argument("--messages", type=int, default=600, help="messages per run (600)")
    parser.add_argument("--concurrency", type=int, default=5, help="pollers / raw workers (5)")
    bench.add_common_options(parser, timeout=300.0, shutdown_limit=60.0)
    opts = parser.parse_args(argv)
    if opts.rounds < 1 or opts.messages < 1 or opts.concurrency < 1:
        parser.error("--rounds, --messages and --concurrency must be at least 1")
    return opts


def report(runs: list[RunResult], opts: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """The table and the JSON entries of the report, from every measured run."""
    summaries = {c: summarise(c, [r for r in runs if r.contender == c]) for c in CONTENDERS}
    results = {
        "summaries": {c: asdict(s) for c, s in summaries.items()},
        "ratio_poller_raw": summaries["poller"].median_rate / summaries["raw"].median_rate,
        "runs": [{**asdict(r), "rate": r.rate} for r in runs],
    }
    return report_table(summaries, opts), results


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    bench.prepare_process(opts.log_level)
    if opts.concurrency < 2:
        print("note: poller's maximum_concurrency is at least 2; it runs with 2", file=sys.stderr)
    timed_out = f"a run did not delete all its messages within --timeout {opts.timeout:g} s"
    return bench.run_benchmark(opts, benchmark, report, timeout_message=timed_out)


if __name__ == "__main__":
    sys.exit(main())
