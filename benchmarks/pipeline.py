"""poller's own cost per record: the whole pipeline on an in-memory AWS, against `json.dumps`.

For SQS (batch 10), Kinesis (batch 100) and DynamoDB Streams (batch 100) records, poller's
`Daemon` runs one mapping on `fake_aws.FakeAws` (no network, no server) with a no-op handler
until the handler has seen every record. The figure is records per CPU-second of this process
(every thread: poller's event loop, its handler threads, the fake's few µs per call). Beside it,
in the same round, the floor: `json.dumps` of the same Lambda events (the records poller built,
cut into batches of the same size), which any consumer that hands Lambda's event to a handler
pays at least once. Rounds alternate which goes first; the report gives medians.

`--idle-shards` adds the scale figure: one process, one Kinesis mapping over N empty shards at
Lambda's idle poll rate (once a second per shard), measured over `--idle-seconds`: RSS, CPU
cores in use, and CPU per idle GetRecords.

    python benchmarks/pipeline.py                     # 3 rounds, the three sources
    python benchmarks/pipeline.py --idle-shards 100,1000 --idle-seconds 20
    python benchmarks/pipeline.py --quick             # smoke run
    python benchmarks/pipeline.py --profile kinesis   # cProfile of one run, top 25 entries
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import bench_support as bench
import fake_aws
import noop_handler

from poller.config.loader import parse_config
from poller.events import dynamodb as dynamodb_events
from poller.events import kinesis as kinesis_events
from poller.events import sqs as sqs_events

SOURCES = ("sqs", "kinesis", "dynamodb")
BATCH = {"sqs": 10, "kinesis": 100, "dynamodb": 100}
RECORDS = {"sqs": 50_000, "kinesis": 200_000, "dynamodb": 50_000}  # start-up weighs < 5 %
SHARDS = 4  # Kinesis and DynamoDB: records spread over this many shards
TARGETS = {"sqs": 40_000, "kinesis": 100_000, "dynamodb": 40_000}  # records per CPU-second


@dataclass
class Run:
    source: str
    round: int
    records: int
    cpu: float  # seconds of this process's CPU until the handler saw the last record
    wall: float
    floor_cpu: float  # seconds of CPU for json.dumps of the same events

    @property
    def rate(self) -> float:
        return self.records / self.cpu

    @property
    def floor_rate(self) -> float:
        return self.records / self.floor_cpu


def mapping(source: str, batch: int) -> dict[str, Any]:
    arn = {
        "sqs": fake_aws.QUEUE_ARN,
        "kinesis": fake_aws.KINESIS_ARN,
        "dynamodb": fake_aws.DYNAMODB_ARN,
    }[source]
    out: dict[str, Any] = {
        "function": "noop",
        "name": "bench",
        "event_source_arn": arn,
        "batch_size": batch,
        "maximum_batching_window_in_seconds": 0,
    }
    if source == "sqs":
        out["scaling_config"] = {"maximum_concurrency": 5}
    else:
        out["starting_position"] = "TRIM_HORIZON"
    return out


def config_text(source: str, batch: int, state_dir: str, log_level: str) -> str:
    config = {
        "aws": {"region": fake_aws.REGION},
        "http": {"enabled": False},
        "logging": {"level": log_level},
        "state": {"path": str(Path(state_dir) / "state.db")},
        "functions": {
            "noop": {"handler": "noop_handler:counting_handler", "code_uri": "benchmarks"}
        },
        "mappings": [mapping(source, batch)],
    }
    return json.dumps(config)


def world_for(source: str, records: int) -> fake_aws.World:
    return fake_aws.World.build(source, records, shards=1 if source == "sqs" else SHARDS)


async def run_pipeline(
    source: str, records: int, opts: argparse.Namespace, world: fake_aws.World | None = None
) -> tuple[float, float]:
    """(CPU seconds, wall seconds) until the handler has seen `records` records (a `world`
    holding them is built unless given; building it is not measured either way)."""
    world = world or world_for(source, records)
    loop = asyncio.get_running_loop()
    done = anyio.Event()
    marks: dict[str, float] = {}

    def reached() -> None:
        marks["cpu"], marks["wall"] = time.process_time(), time.perf_counter()
        loop.call_soon_threadsafe(done.set)

    with tempfile.TemporaryDirectory(prefix="poller-pipeline-") as state_dir:
        config = parse_config(
            config_text(source, BATCH[source], state_dir, opts.log_level), os.environ
        )
        daemon = fake_aws.FakeDaemon(config, bench.REPO_ROOT)
        daemon.world = world
        noop_handler.COUNTER.arm(records, reached)
        gc.collect()
        # The fake server's records are not poller's heap: keep the collector from scanning
        # them again and again (it would charge poller for the size of the fake).
        gc.freeze()
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            await bench.run_daemon_until(
                daemon, done.wait, wait_limit=opts.timeout, shutdown_limit=opts.shutdown_limit
            )
        finally:
            gc.unfreeze()
    if noop_handler.COUNTER.count != records:
        print(f"  !! handler saw {noop_handler.COUNTER.count} of {records}", file=sys.stderr)
    return marks["cpu"] - cpu, marks["wall"] - wall


def lambda_events(source: str, records: int) -> list[dict[str, Any]]:
    """The events poller hands the handler for these records, built by poller's builders."""
    world = fake_aws.World.build(source, records, shards=1)
    if source == "sqs":
        built = [
            sqs_events.build_record(m, fake_aws.QUEUE_ARN, fake_aws.REGION) for m in world.queue
        ]
    elif source == "kinesis":
        built = [
            kinesis_events.build_record(
                r | {"Data": fake_aws._blob(r["Data"]), "ApproximateArrivalTimestamp": 1.0},
                world.shard_ids[0],
                fake_aws.KINESIS_ARN,
                fake_aws.REGION,
                "arn:aws:iam::123456789012:role/noop",
            )
            for r in world.kinesis[world.shard_ids[0]]
        ]
    else:
        built = [
            dynamodb_events.build_record(
                fake_aws._change_record(r), fake_aws.DYNAMODB_ARN, fake_aws.REGION
            )
            for r in world.dynamodb[world.shard_ids[0]]
        ]
    size = BATCH[source]
    return [{"Records": built[i : i + size]} for i in range(0, len(built), size)]


def floor_cpu(events: list[dict[str, Any]]) -> float:
    gc.collect()
    cpu = time.process_time()
    for event in events:
        json.dumps(event)
    return time.process_time() - cpu


async def benchmark(opts: argparse.Namespace) -> list[Run]:
    runs: list[Run] = []
    if opts.warmup:
        for source in opts.sources:
            await run_pipeline(source, 500, opts)
    events = {source: lambda_events(source, opts.records[source]) for source in opts.sources}
    for round_ in range(opts.rounds):
        for source in opts.sources:
            count = opts.records[source]
            if round_ % 2:
                floor = floor_cpu(events[source])
                cpu, wall = await run_pipeline(source, count, opts)
            else:
                cpu, wall = await run_pipeline(source, count, opts)
                floor = floor_cpu(events[source])
            run = Run(source, round_, count, cpu, wall, floor)
            print(
                f"  {source:8} round {round_}: {run.rate:>9,.0f} rec/CPU-s"
                f" (wall {wall:.2f} s)  json.dumps floor {run.floor_rate:>9,.0f}",
                file=sys.stderr,
            )
            runs.append(run)
    return runs


# ---------------------------------------------------------------------------------------------
# Idle shards at scale


@dataclass
class Idle:
    shards: int
    seconds: float
    cpu: float
    polls: int
    rss_mb: float
    rss_before_mb: float

    @property
    def cores(self) -> float:
        return self.cpu / self.seconds

    @property
    def cpu_per_poll_us(self) -> float:
        return self.cpu / max(self.polls, 1) * 1e6


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def run_idle(shards: int, opts: argparse.Namespace) -> Idle:
    """N empty shards polled at Lambda's idle rate: RSS and CPU over `--idle-seconds`."""
    world = fake_aws.World.build("kinesis", 0, shards=shards)
    before = rss_mb()
    with tempfile.TemporaryDirectory(prefix="poller-idle-") as state_dir:
        config = parse_config(config_text("kinesis", 100, state_dir, opts.log_level), os.environ)
        daemon = fake_aws.FakeDaemon(config, bench.REPO_ROOT)
        daemon.world = world
        measured: dict[str, float] = {}

        def polls() -> int:
            return fake_aws.call_counts(daemon.metrics).get("GetRecords", 0)

        async def measure() -> None:
            while polls() < 2 * shards:  # noqa: ASYNC110 - a counter, not an event
                await anyio.sleep(0.2)  # every shard started and past its first reads
            cpu, wall, first = time.process_time(), time.perf_counter(), polls()
            await anyio.sleep(opts.idle_seconds)
            measured.update(
                cpu=time.process_time() - cpu,
                wall=time.perf_counter() - wall,
                polls=polls() - first,
                rss=rss_mb(),
            )

        await bench.run_daemon_until(
            daemon, measure, wait_limit=opts.idle_seconds + 120, shutdown_limit=opts.shutdown_limit
        )
    idle = Idle(
        shards, measured["wall"], measured["cpu"], int(measured["polls"]), measured["rss"], before
    )
    print(
        f"  idle {shards} shards: {idle.cores:.3f} cores, {idle.cpu_per_poll_us:.0f} µs/poll,"
        f" {idle.polls / idle.seconds:.0f} polls/s, RSS {idle.rss_mb:.0f} MB",
        file=sys.stderr,
    )
    return idle


async def idle_in_own_process(shards: int, opts: argparse.Namespace) -> Idle:
    """`run_idle` in a fresh interpreter, so its RSS is that of a poller with N shards only."""
    command = [sys.executable, __file__, "--sources", "", "--idle-child", str(shards)]
    command += ["--idle-seconds", str(opts.idle_seconds), "--log-level", opts.log_level]
    done = await anyio.run_process(command, stderr=None)
    return Idle(**json.loads(done.stdout.decode().strip().splitlines()[-1]))


# ---------------------------------------------------------------------------------------------
# Report


def rows(runs: list[Run], idles: list[Idle]) -> list[dict[str, Any]]:
    """The aggregator's rows (see benchmarks/run.py)."""
    out: list[dict[str, Any]] = []
    for source in SOURCES:
        mine = [r for r in runs if r.source == source]
        if not mine:
            continue
        rate = statistics.median(r.rate for r in mine)
        floor = statistics.median(r.floor_rate for r in mine)
        case = f"{source}/{BATCH[source]}"
        out.append(
            {
                "section": "pipeline",
                "case": case,
                "contender": "poller",
                "value": rate,
                "unit": "rec/CPU-s",
                "cpu_ms_per_1k": 1e6 / rate,
                "baseline": "json.dumps",
                "ratio": rate / floor,
                "target": f">= {TARGETS[source]:,}",
            }
        )
        out.append(
            {
                "section": "pipeline",
                "case": case,
                "contender": "json.dumps",
                "value": floor,
                "unit": "rec/CPU-s",
                "cpu_ms_per_1k": 1e6 / floor,
                "baseline": None,
                "ratio": None,
            }
        )
    for idle in idles:
        case = f"{idle.shards} idle shards"
        out += [
            {"section": "scale", "case": case, "contender": "poller", "value": idle.rss_mb,
             "unit": "MB RSS", "target": "< 250 (1,000 shards)"},
            {"section": "scale", "case": case, "contender": "poller", "value": idle.cores,
             "unit": "cores", "target": "<= 1 (1,000 shards)"},
            {"section": "scale", "case": case, "contender": "poller",
             "value": idle.cpu_per_poll_us, "unit": "µs CPU/poll", "target": "<= 50"},
        ]  # fmt: skip
    return out


def table(runs: list[Run], idles: list[Idle]) -> str:
    lines = [
        "in-process pipeline (fake AWS, no-op handler): records per CPU-second, medians",
        f"  {'source/batch':14} {'poller':>10} {'json.dumps':>11} {'floor/poller':>13}"
        f" {'µs/record':>10} {'target':>9}",
    ]
    for row in rows(runs, []):
        if row["contender"] != "poller":
            continue
        floor = row["value"] / row["ratio"]
        lines.append(
            f"  {row['case']:14} {row['value']:>10,.0f} {floor:>11,.0f}"
            f" {1 / row['ratio']:>12.1f}x {1e6 / row['value']:>10.1f}"
            f" {TARGETS[row['case'].split('/')[0]]:>9,}"
        )
    if idles:
        lines.append("idle Kinesis shards in one process (Lambda's idle rate: 1 poll/s/shard)")
        lines.append(f"  {'shards':>7} {'RSS MB':>7} {'cores':>6} {'polls/s':>8} {'µs/poll':>8}")
        lines.extend(
            f"  {idle.shards:>7} {idle.rss_mb:>7.0f} {idle.cores:>6.3f}"
            f" {idle.polls / idle.seconds:>8.0f} {idle.cpu_per_poll_us:>8.0f}"
            for idle in idles
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sources", default=",".join(SOURCES))
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the record counts")
    parser.add_argument("--quick", action="store_true", help="1 round, a tenth of the records")
    parser.add_argument("--idle-shards", default="", help="e.g. 100,1000 (default: none)")
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--profile", choices=SOURCES, help="cProfile one run of this source")
    parser.add_argument("--idle-child", type=int, default=0, help=argparse.SUPPRESS)
    bench.add_common_options(parser, timeout=300, shutdown_limit=30)
    opts = parser.parse_args(argv)
    opts.sources = [s for s in opts.sources.split(",") if s]
    if unknown := set(opts.sources) - set(SOURCES):
        parser.error(f"--sources: unknown {sorted(unknown)}")
    if opts.quick:
        opts.rounds, opts.scale = 1, opts.scale / 10
    opts.records = {s: int(n * opts.scale) for s, n in RECORDS.items()}
    opts.idle = [int(n) for n in opts.idle_shards.split(",") if n]
    return opts


def profile(opts: argparse.Namespace) -> int:
    source = opts.profile
    anyio.run(run_pipeline, source, 500, opts)  # warm-up
    world = world_for(source, opts.records[source])
    profiler = cProfile.Profile()
    profiler.enable()
    anyio.run(run_pipeline, source, opts.records[source], opts, world)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    return 0


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    bench.prepare_process(opts.log_level)
    if opts.profile:
        return profile(opts)
    command = bench.command_line()
    wall = time.perf_counter()

    async def everything() -> tuple[list[Run], list[Idle]]:
        runs = await benchmark(opts) if opts.sources else []
        if opts.idle_child:
            return [], [await run_idle(opts.idle_child, opts)]
        idles = [await idle_in_own_process(n, opts) for n in opts.idle]
        return runs, idles

    runs, idles = anyio.run(everything)
    if opts.idle_child:
        print(json.dumps(vars(idles[0])))
        return 0
    results = {
        "rows": rows(runs, idles),
        "runs": [vars(r) for r in runs],
        "idle": [vars(i) for i in idles],
    }
    bench.print_report(opts, command, time.perf_counter() - wall, table(runs, idles), results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
