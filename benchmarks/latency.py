"""SQS trigger latency: how long a message sent to an idle queue takes to reach the handler.

Each contender (poller, the raw aioboto3 loop, bbc's sqs-consumer) is started on an empty queue
and left to settle into its long polls; then the benchmark sends `--messages` messages one at a
time, one every `--interval` seconds, each body holding its `seq` and `time.time_ns()` taken just
before SendMessage. The handler notes `time.time_ns()` on entry. Per message two figures:

- **send return -> handler start**: from SendMessage's return in the sender to the handler's
  first line: the approximation, from this side of the server, of "the server has the message
  -> handler start". The server stores the message before it answers, and a waiting long poll
  may be answered before (or while) the send's own response is built and sent back, so this
  undercounts that interval by the tail of the send, and can be negative on a server that is
  slow to answer the send (moto: SendMessage takes 5-10 ms here);
- **send start -> handler start**: from just before SendMessage (the timestamp in the body):
  an upper bound, the send's full round trip included.

The report gives p50 and p99 of each (median over the rounds, which alternate the order), and
each contender's ratio to the raw loop's. All clocks are this machine's wall clock
(`time.time_ns()`; node: `performance.timeOrigin + performance.now()`).

moto is the default server here: its long poll waits on a condition variable and wakes the
moment a message is stored. ministack's long poll re-checks the queue every 100 ms, so against
it every contender shows that wait (~35-50 ms p50), not its own latency.

    python benchmarks/latency.py [--server moto|ministack] [--endpoint URL] [--messages 200]
        [--interval 0.03] [--rounds 3] [--concurrency 5] [--contenders poller,raw,sqs-consumer]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import aioboto3
import anyio
import bench_support as bench
import fast_server
import sqs_throughput as sqs
from peers import latency_handler

from poller.config.loader import parse_config
from poller.daemon import Daemon
from poller.sources.sqs import queue_depth

CONTENDERS = sqs.CONTENDERS
BASELINE = "raw"
WARMUP_MESSAGES = 10
QUICK_MESSAGES = 30
HANDLER = "peers.latency_handler:handler"  # with code_uri `benchmarks`: the module imported here
MEASURES = ("send return", "send start")


# ---------------------------------------------------------------------------------------------
# Results


@dataclass
class LatencyRun:
    contender: str
    concurrency: int
    round: int
    messages: int
    # per message, milliseconds, in seq order
    from_return_ms: list[float]
    from_start_ms: list[float]
    send_ms: list[float]  # SendMessage's own duration
    shutdown_seconds: float

    def percentile(self, measure: str, pct: int) -> float:
        values = self.from_return_ms if measure == "send return" else self.from_start_ms
        return percentile(values, pct)


def percentile(values: list[float], pct: int) -> float:
    """The `pct`-th percentile, interpolated between the closest ranks."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


@dataclass
class Sent:
    """What the sender noted: seq -> (ns before SendMessage, ns after it returned)."""

    times: dict[int, tuple[int, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class Trial:
    """One contender's run: an empty queue and how to fill it once the contender is ready."""

    target: sqs.Target
    send_all: Callable[[], Awaitable[None]]
    opts: argparse.Namespace


# ---------------------------------------------------------------------------------------------
# Contenders: each starts, waits --settle s, sends, and returns seq -> handler-start ns


async def poller_latency(trial: Trial) -> tuple[dict[int, int], float]:
    target, opts = trial.target, trial.opts
    text = sqs.poller_config_text(target, opts.log_level, handler=HANDLER)
    config = parse_config(text, os.environ)
    done = anyio.Event()
    loop = asyncio.get_running_loop()

    def reached() -> None:  # in a poller worker thread
        loop.call_soon_threadsafe(done.set)

    latency_handler.RECORDER.arm(target.messages, reached)

    async def until() -> None:
        await anyio.sleep(opts.settle)
        await trial.send_all()
        await done.wait()

    daemon = Daemon(config, bench.REPO_ROOT)
    _, shutdown = await bench.run_daemon_until(
        daemon, until, wait_limit=opts.timeout, shutdown_limit=opts.shutdown_limit
    )
    return dict(latency_handler.RECORDER.handled), shutdown


async def raw_latency_worker(client: Any, url: str) -> None:
    """receive (long poll) -> handler -> delete_message_batch, until cancelled."""
    while True:
        response = await client.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=sqs.LONG_POLL,
            **sqs.RECEIVE_ATTRIBUTES,
        )
        received = response.get("Messages", [])
        if not received:
            continue
        latency_handler.raw_handler(received)
        await client.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)
            ],
        )


async def raw_latency(trial: Trial) -> tuple[dict[int, int], float]:
    target, opts = trial.target, trial.opts
    handled_all = anyio.Event()
    latency_handler.RECORDER.arm(target.messages, handled_all.set)  # called in the event loop
    done = anyio.Event()

    async def drive() -> None:
        await anyio.sleep(opts.settle)
        await trial.send_all()
        # The last message can reach the handler before its send returns: stop only once both.
        await handled_all.wait()
        done.set()

    session = aioboto3.Session(region_name=bench.REGION)
    config = bench.client_config(sqs.pool_size(target.concurrency))
    async with session.client("sqs", endpoint_url=target.endpoint, config=config) as client:
        worker = functools.partial(raw_latency_worker, client, target.queue_url)
        stop_requested = await bench.run_tasks_until(
            [*[worker] * target.concurrency, drive], done, wait_limit=opts.timeout
        )
    return dict(latency_handler.RECORDER.handled), time.perf_counter() - stop_requested


async def sqs_consumer_latency(trial: Trial) -> tuple[dict[int, int], float]:
    """The node process reports each seq's handler start as wall-clock ms
    (`performance.timeOrigin + performance.now()`, sub-millisecond)."""
    target, opts = trial.target, trial.opts
    command = sqs.sqs_consumer_command(
        target, opts.sqs_consumer_modules, "latency", target.messages
    )
    ready = anyio.Event()

    def on_event(event: dict[str, Any]) -> None:
        if event.get("event") == "ready":
            ready.set()

    runs: list[bench.PeerRun] = []

    async def peer() -> None:
        runs.append(
            await bench.run_peer(
                command,
                env=dict(os.environ),
                server_cpu=lambda: None,
                wait_limit=opts.timeout,
                on_event=on_event,
            )
        )

    async with anyio.create_task_group() as tg:
        tg.start_soon(peer)
        with anyio.fail_after(opts.timeout):
            await ready.wait()
        await anyio.sleep(opts.settle)
        await trial.send_all()
    handled = runs[0].done["handled"]
    return {int(seq): round(ms * 1e6) for seq, ms in handled.items()}, runs[0].shutdown_seconds


Runner = Callable[[Trial], Awaitable[tuple[dict[int, int], float]]]
RUNNERS: dict[str, Runner] = {
    "poller": poller_latency,
    "raw": raw_latency,
    "sqs-consumer": sqs_consumer_latency,
}


# ---------------------------------------------------------------------------------------------
# Rounds


async def send_spaced(admin: Any, url: str, messages: int, interval: float, sent: Sent) -> None:
    """One SendMessage every `interval` seconds (on a fixed schedule), from one task."""
    t0 = time.perf_counter()
    for seq in range(messages):
        delay = t0 + seq * interval - time.perf_counter()
        if delay > 0:
            await anyio.sleep(delay)
        started = time.time_ns()
        body = json.dumps({"seq": seq, "sent_ns": started})
        await admin.send_message(QueueUrl=url, MessageBody=body)
        sent.times[seq] = (started, time.time_ns())


@dataclass(frozen=True)
class Bench:
    server: bench.Server
    admin: Any
    account: str
    opts: argparse.Namespace


async def one_run(ctx: Bench, contender: str, concurrency: int, messages: int) -> LatencyRun:
    opts = ctx.opts
    name = f"latency-{contender}-{uuid.uuid4().hex[:12]}"
    url: str = (await ctx.admin.create_queue(QueueName=name))["QueueUrl"]

    async def leftover() -> int:
        return await queue_depth(ctx.admin, url)

    target = sqs.Target(
        ctx.server.url, ctx.account, name, url, messages, concurrency, leftover, lambda: None
    )
    sent = Sent()
    send_all = functools.partial(send_spaced, ctx.admin, url, messages, opts.interval, sent)
    handled, shutdown = await RUNNERS[contender](Trial(target, send_all, opts))
    await ctx.admin.delete_queue(QueueUrl=url)
    missing = sorted(set(range(messages)) - handled.keys())
    if missing:
        raise RuntimeError(f"{contender}: {len(missing)} messages never reached the handler")
    run = LatencyRun(
        contender=contender,
        concurrency=concurrency,
        round=0,
        messages=messages,
        from_return_ms=[(handled[s] - sent.times[s][1]) / 1e6 for s in range(messages)],
        from_start_ms=[(handled[s] - sent.times[s][0]) / 1e6 for s in range(messages)],
        send_ms=[(sent.times[s][1] - sent.times[s][0]) / 1e6 for s in range(messages)],
        shutdown_seconds=shutdown,
    )
    print(
        f"  {contender:<12} c{concurrency:<3} {messages} msgs"
        f" | send return -> handler p50 {run.percentile('send return', 50):7.2f} ms"
        f" p99 {run.percentile('send return', 99):7.2f} ms"
        f" | send start -> handler p50 {run.percentile('send start', 50):7.2f} ms"
        f" | SendMessage p50 {percentile(run.send_ms, 50):.2f} ms"
        f" | shutdown {shutdown:.3f} s",
        file=sys.stderr,
    )
    return run


async def benchmark(server: bench.Server, opts: argparse.Namespace) -> list[LatencyRun]:
    session = aioboto3.Session(region_name=bench.REGION)
    runs: list[LatencyRun] = []
    async with session.client(
        "sqs", endpoint_url=server.url, config=bench.client_config(2)
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
            run = await one_run(ctx, contender, concurrency, opts.messages)
            run.round = round_no
            runs.append(run)
    return runs


# ---------------------------------------------------------------------------------------------
# Report


def medians(runs: list[LatencyRun], measure: str, pct: int) -> float:
    return statistics.median(r.percentile(measure, pct) for r in runs)


def rows_of(runs: list[LatencyRun], opts: argparse.Namespace) -> list[dict[str, Any]]:
    """Per concurrency, measure and percentile: each contender's median over the rounds."""
    rows: list[dict[str, Any]] = []
    for concurrency in opts.concurrency:
        for measure in MEASURES:
            for pct in (50, 99):
                of = {
                    c: medians(
                        [r for r in runs if r.contender == c and r.concurrency == concurrency],
                        measure,
                        pct,
                    )
                    for c in opts.contenders
                }
                rows.extend(
                    bench.row(
                        "latency",
                        f"{measure} -> handler, concurrency {concurrency}",
                        contender,
                        value,
                        f"ms p{pct}",
                        cpu_ms_per_1k=None,
                        baseline_value=of.get(BASELINE),
                    )
                    for contender, value in of.items()
                )
    return rows


def report(runs: list[LatencyRun], opts: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    rows = rows_of(runs, opts)
    lines = [
        f"{opts.messages} messages per run, one every {opts.interval * 1000:g} ms to an idle"
        f" queue, {opts.rounds} rounds (alternating order), contenders settled {opts.settle:g} s"
        " into their long polls (20 s), batch size 10, no batching window",
        "figures: median over the rounds of each run's percentile, milliseconds",
        "",
        bench.rows_table(rows),
    ]
    results = {
        "rows": rows,
        "runs": [
            {
                **asdict(r),
                **{
                    f"{m.replace(' ', '_')}_p{p}_ms": r.percentile(m, p)
                    for m in MEASURES
                    for p in (50, 99)
                },
            }
            for r in runs
        ],
    }
    return "\n".join(lines), results


# ---------------------------------------------------------------------------------------------
# Entry point


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, help="messages per run (200; --quick: 30)")
    parser.add_argument("--rounds", type=int, help="rounds per contender (3; --quick: 1)")
    parser.add_argument("--interval", type=float, default=0.03, help="seconds between sends (0.03)")
    parser.add_argument(
        "--settle",
        type=float,
        default=1.0,
        help="seconds between a contender's start and the first send (1)",
    )
    parser.add_argument(
        "--concurrency",
        type=bench.int_list(1, 100),
        default=[5],
        help="pollers / workers / Consumer instances, comma-separated (5)",
    )
    parser.add_argument(
        "--contenders",
        type=bench.name_list(CONTENDERS),
        default=CONTENDERS,
        help=f"comma-separated, in round 1's order ({','.join(CONTENDERS)})",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 30 messages, 1 round")
    # moto by default: its long poll wakes on a condition variable the moment a message is
    # stored; ministack's checks the queue every 100 ms, so its figures are mostly that wait.
    fast_server.add_server_options(parser, default="moto")
    bench.add_common_options(parser, timeout=120.0, shutdown_limit=60.0)
    opts = parser.parse_args(argv)
    opts.messages = opts.messages or (QUICK_MESSAGES if opts.quick else 200)
    opts.rounds = opts.rounds or (1 if opts.quick else 3)
    if opts.messages < 1 or opts.rounds < 1 or opts.interval < 0 or opts.settle < 0:
        parser.error("--messages and --rounds must be at least 1, --interval and --settle >= 0")
    return opts


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    bench.prepare_process(opts.log_level)
    try:
        server = fast_server.make_server(opts)
    except fast_server.Unavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return fast_server.EXIT_UNAVAILABLE
    peers = sqs.prepare_peers(opts)
    if not opts.contenders:
        print("error: no contender left to run", file=sys.stderr)
        return fast_server.EXIT_UNAVAILABLE
    timed_out = f"a run did not hand every message to the handler within {opts.timeout:g} s"
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
