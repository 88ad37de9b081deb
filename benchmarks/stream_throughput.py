"""Kinesis stream throughput: poller against a minimal aioboto3 GetRecords loop and async-kinesis.

Four variants drain the same shape of pre-filled stream (N records over each shard count in
`--shards`) with a no-op handler, in alternating order, in one run against one server
(ministack by default, moto, or any endpoint): poller with SQLite checkpoints (`poller`), the
same poller with the DynamoDB lease table (`leased`: every checkpoint a conditional UpdateItem,
plus lease renewals and scans), a hand-written loop (`raw`) and async-kinesis's Consumer
(`async-kinesis`, in a process of its own). poller and leased run at each batch size of
`--batch-size`; raw and async-kinesis do not batch for a handler, and run once per batch size
too, as that case's baseline. The report gives records per second (median, min, max over the
repeats), CPU per 1,000 records of the variant's process and of the server's, the poller/raw,
leased/poller and async-kinesis/raw ratios, and the leased variant's DynamoDB calls (UpdateItem
and Scan per 1,000 records).

    python benchmarks/stream_throughput.py [--server ministack|moto] [--endpoint URL]
        [--records N] [--repeats 5] [--shards 1,4,8] [--batch-size 100,1000] [--json]
    python benchmarks/stream_throughput.py --variants poller,leased   # a subset, in this order
    python benchmarks/stream_throughput.py --quick       # smoke run: 1,000 records, 1 repeat

moto serves Kinesis GetRecords at roughly 10-20k records/s on a 2-core machine (see
docs/testing.md), ministack about as fast: the absolute figures are the server's ceiling, the
ratios are the variants'.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aioboto3
import anyio
import bench_support as bench
import fast_server
import noop_handler

from poller.config.loader import parse_config
from poller.daemon import Daemon
from poller.telemetry.metrics import Metrics

VARIANTS = ("poller", "raw", "leased", "async-kinesis")
# numerator/denominator, when both run
RATIO_PAIRS = (("poller", "raw"), ("leased", "poller"), ("async-kinesis", "raw"))
BASELINE = "raw"
FAILOVER_SECONDS = 10.0  # state.failover_seconds of the leased variant (poller's default)
RAW_LIMIT = 10000  # GetRecords Limit of the raw loop (Kinesis' maximum)
PUT_CHUNK = 500  # PutRecords maximum
RECORD_PAD = 100  # bytes of filler per record: a small JSON document of ~130 bytes
WARMUP_RECORDS = 200
QUICK_RECORDS = 1000
POOL_SIZE = 50  # the client pool poller uses for Kinesis (poller.streams.mapping)
PEER_SCRIPT = bench.BENCH_DIR / "peers" / "async_kinesis_consumer.py"
# async-kinesis: GetRecords at most 5 times a second per shard (Kinesis' limit and poller's pace;
# its default is 1), and 0.2 s after an empty read instead of its default 2 s (its fetch loop
# waits that long for every shard, which would stall the shards still draining).
ASYNC_KINESIS_FETCH_RATE = 5
ASYNC_KINESIS_EMPTY_SLEEP = 0.2


# ---------------------------------------------------------------------------------------------
# Results


@dataclass
class RunResult:
    variant: str
    shards: int
    batch_size: int  # poller's and leased's; raw and async-kinesis run without one
    round: int
    records: int
    seconds: float  # start of the variant (client creation / Daemon()) to the N-th record seen
    cpu_seconds: float  # the variant's process over the same window (this one but async-kinesis)
    seen: int  # records the handler counted (poller: = poller_invoked_events_total)
    read: int  # records returned by GetRecords (poller: poller_polled_events_total)
    get_records_calls: int
    shutdown_seconds: float  # stop requested -> variant fully stopped (not in `seconds`)
    fill_seconds: float = 0.0  # PutRecords before the run (not timed)
    checkpoints: int = 0  # poller_checkpoints_total (poller and leased)
    # leased: poller's DynamoDB calls by operation over the whole run, start-up (DescribeTable,
    # CreateTable, lease creation and takes) and shutdown (lease releases) included
    dynamodb_calls: dict[str, int] = field(default_factory=dict)
    server_cpu_seconds: float | None = None  # the server's processes over the same window

    @property
    def rate(self) -> float:
        return self.records / self.seconds

    @property
    def cpu_per_1000(self) -> float:
        return 1000 * self.cpu_seconds / self.records

    @property
    def server_cpu_per_1000(self) -> float | None:
        if self.server_cpu_seconds is None:
            return None
        return 1000 * self.server_cpu_seconds / self.records

    def dynamodb_per_1000(self, operation: str) -> float:
        return 1000 * self.dynamodb_calls.get(operation, 0) / self.records


@dataclass(frozen=True)
class Target:
    """What a variant drains: a fresh stream holding `records` records over `shards` shards."""

    endpoint: str
    stream_name: str
    stream_arn: str
    shards: int
    batch_size: int
    records: int
    server_cpu: Callable[[], float | None]


@dataclass
class Summary:
    variant: str
    shards: int
    batch_size: int
    repeats: int
    median_rate: float
    min_rate: float
    max_rate: float
    median_cpu_per_1000: float
    median_server_cpu_per_1000: float | None
    median_seconds: float
    median_shutdown_seconds: float
    get_records_calls_per_run: float
    checkpoints_per_run: float
    # DynamoDB calls by operation, mean per run (empty but for `leased`), and per 1,000 records
    dynamodb_calls_per_run: dict[str, float]
    update_item_per_1000: float
    scan_per_1000: float


def summarise(variant: str, shards: int, batch_size: int, runs: list[RunResult]) -> Summary:
    rates = [r.rate for r in runs]
    operations = sorted({op for r in runs for op in r.dynamodb_calls})
    server_cpu = [v for r in runs if (v := r.server_cpu_per_1000) is not None]
    return Summary(
        variant=variant,
        shards=shards,
        batch_size=batch_size,
        repeats=len(runs),
        median_rate=statistics.median(rates),
        min_rate=min(rates),
        max_rate=max(rates),
        median_cpu_per_1000=statistics.median(r.cpu_per_1000 for r in runs),
        median_server_cpu_per_1000=statistics.median(server_cpu) if server_cpu else None,
        median_seconds=statistics.median(r.seconds for r in runs),
        median_shutdown_seconds=statistics.median(r.shutdown_seconds for r in runs),
        get_records_calls_per_run=statistics.mean(r.get_records_calls for r in runs),
        checkpoints_per_run=statistics.mean(r.checkpoints for r in runs),
        dynamodb_calls_per_run={
            op: statistics.mean(r.dynamodb_calls.get(op, 0) for r in runs) for op in operations
        },
        update_item_per_1000=statistics.mean(r.dynamodb_per_1000("UpdateItem") for r in runs),
        scan_per_1000=statistics.mean(r.dynamodb_per_1000("Scan") for r in runs),
    )


# ---------------------------------------------------------------------------------------------
# The stream each run drains


def stream_arn(account: str, name: str) -> str:
    return f"arn:aws:kinesis:{bench.REGION}:{account}:stream/{name}"


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
    """When the handler saw the N-th record: wall clock, this process's CPU and the server's
    CPU at that moment."""

    done: anyio.Event = field(default_factory=anyio.Event)
    at: float = 0.0
    cpu: float = 0.0
    server_cpu: float | None = None

    def server_cpu_since(self, start: bench.Mark) -> float | None:
        if self.server_cpu is None or start.server_cpu is None:
            return None
        return self.server_cpu - start.server_cpu


def arm_counter(records: int, server_cpu: Callable[[], float | None]) -> Finish:
    """Reset the handler's record counter; `Finish` is filled in by the thread that handles
    the N-th record (a poller worker thread, or the event loop for the raw loop)."""
    finish = Finish()
    loop = asyncio.get_running_loop()

    def reached() -> None:
        finish.at = time.perf_counter()
        finish.cpu = time.process_time()
        finish.server_cpu = server_cpu()
        loop.call_soon_threadsafe(finish.done.set)

    noop_handler.COUNTER.arm(records, reached)
    return finish


# ---------------------------------------------------------------------------------------------
# Variants 1 and 3: poller's Daemon, with SQLite checkpoints (poller) or the lease table (leased)


def poller_config_text(target: Target, state: dict[str, Any], opts: argparse.Namespace) -> str:
    config = {
        "aws": {"region": bench.REGION, "endpoint_url": target.endpoint},
        "http": {"enabled": False},
        "logging": {"level": opts.log_level},
        "state": state,
        "functions": {
            "noop": {"handler": "noop_handler:counting_handler", "code_uri": "benchmarks"}
        },
        "mappings": [
            {
                "function": "noop",
                "name": "bench",
                "event_source_arn": target.stream_arn,
                "starting_position": "TRIM_HORIZON",
                "batch_size": target.batch_size,
                "maximum_batching_window_in_seconds": 0,
                "parallelization_factor": opts.parallelization_factor,
            }
        ],
    }
    return json.dumps(config)  # JSON is YAML


def lease_table_name(target: Target) -> str:
    """The leased variant's table: new on every run (poller creates it at start; moto's reset
    after the run removes it)."""
    return f"{target.stream_name}-leases"


async def run_poller(target: Target, opts: argparse.Namespace) -> RunResult:
    return await run_daemon(target, opts, leased=False)


async def run_leased(target: Target, opts: argparse.Namespace) -> RunResult:
    return await run_daemon(target, opts, leased=True)


async def run_daemon(target: Target, opts: argparse.Namespace, *, leased: bool) -> RunResult:
    """poller's Daemon on one mapping until the handler has seen N records, then stopped."""
    labels = {"mapping": "bench", "function": "noop"}
    with tempfile.TemporaryDirectory(prefix="poller-bench-") as state_dir:
        state: dict[str, Any] = (
            {
                "backend": "dynamodb",
                "table": lease_table_name(target),
                "failover_seconds": opts.failover_seconds,
            }
            if leased
            else {"path": str(Path(state_dir) / "state.db")}
        )
        config = parse_config(poller_config_text(target, state, opts), os.environ)
        metrics = Metrics()
        finish = arm_counter(target.records, target.server_cpu)
        started = bench.Mark.now(target.server_cpu)
        daemon = Daemon(config, bench.REPO_ROOT, metrics=metrics)
        _, shutdown = await bench.run_daemon_until(
            daemon, finish.done.wait, wait_limit=opts.timeout, shutdown_limit=opts.shutdown_limit
        )
    invoked = int(bench.sample(metrics, "poller_invoked_events_total", labels))
    if invoked != noop_handler.COUNTER.count:
        print(
            f"  !! poller_invoked_events_total {invoked} != handler count"
            f" {noop_handler.COUNTER.count}",
            file=sys.stderr,
        )
    dynamodb = bench.api_calls(metrics, "dynamodb")
    if leased:
        check_leases(metrics, labels, target.shards)
    elif dynamodb:
        print(f"  !! the SQLite variant called DynamoDB: {dynamodb}", file=sys.stderr)
    return RunResult(
        variant="leased" if leased else "poller",
        shards=target.shards,
        batch_size=target.batch_size,
        round=0,
        records=target.records,
        seconds=finish.at - started.at,
        cpu_seconds=finish.cpu - started.cpu,
        server_cpu_seconds=finish.server_cpu_since(started),
        seen=noop_handler.COUNTER.count,
        read=int(bench.sample(metrics, "poller_polled_events_total", labels)),
        get_records_calls=bench.api_calls(metrics, "kinesis").get("GetRecords", 0),
        shutdown_seconds=shutdown,
        checkpoints=int(bench.sample(metrics, "poller_checkpoints_total", labels)),
        dynamodb_calls=dynamodb,
    )


def check_leases(metrics: Metrics, labels: dict[str, str], shards: int) -> None:
    """One take per shard and nothing lost, stolen or failed: else the run is not the
    single-replica steady state it is meant to measure (flagged with `!!`)."""
    figures = {
        name: int(bench.sample(metrics, f"poller_{name}_total", labels))
        for name in ("lease_takes", "lease_steals", "lease_losses", "lease_renewal_failures")
    }
    expected = dict.fromkeys(figures, 0) | {"lease_takes": shards}
    if figures != expected:
        print(f"  !! leases: {figures}, expected {expected}", file=sys.stderr)


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
    state = RawState(arm_counter(target.records, target.server_cpu))
    started = bench.Mark.now(target.server_cpu)
    session = aioboto3.Session(region_name=bench.REGION)
    config = bench.client_config(POOL_SIZE)
    async with session.client("kinesis", endpoint_url=target.endpoint, config=config) as c:
        shards = (await c.list_shards(StreamARN=target.stream_arn))["Shards"]
        readers = [
            functools.partial(raw_shard, c, target.stream_arn, shard["ShardId"], state)
            for shard in shards
        ]
        stop_requested = await bench.run_tasks_until(
            readers, state.finish.done, wait_limit=opts.timeout
        )
    shutdown = time.perf_counter() - stop_requested
    return RunResult(
        variant="raw",
        shards=target.shards,
        batch_size=target.batch_size,
        round=0,
        records=target.records,
        seconds=state.finish.at - started.at,
        cpu_seconds=state.finish.cpu - started.cpu,
        seen=noop_handler.COUNTER.count,
        read=state.read,
        get_records_calls=state.calls,
        shutdown_seconds=shutdown,
        server_cpu_seconds=state.finish.server_cpu_since(started),
    )


# ---------------------------------------------------------------------------------------------
# Variant 4: async-kinesis's Consumer, in a process of its own


async def run_async_kinesis(target: Target, opts: argparse.Namespace) -> RunResult:
    """peers/async_kinesis_consumer.py with poller's interpreter and async-kinesis on
    PYTHONPATH, until it has counted N records; its own clock and `time.process_time()` time
    the window, from its start (after its imports)."""
    config = {
        "endpoint": target.endpoint,
        "region": bench.REGION,
        "stream": target.stream_name,
        "records": target.records,
        "shard_fetch_rate": ASYNC_KINESIS_FETCH_RATE,
        "sleep_time_no_records": ASYNC_KINESIS_EMPTY_SLEEP,
    }
    env = {**os.environ, "PYTHONPATH": opts.async_kinesis_path}
    run = await bench.run_peer(
        [sys.executable, str(PEER_SCRIPT), json.dumps(config)],
        env=env,
        server_cpu=target.server_cpu,
        wait_limit=opts.timeout,
    )
    done = run.done
    records = int(done["records"])
    return RunResult(
        variant="async-kinesis",
        shards=target.shards,
        batch_size=target.batch_size,
        round=0,
        records=target.records,
        seconds=float(done["seconds"]),
        cpu_seconds=float(done["cpu_seconds"]),
        seen=records,
        read=records,
        get_records_calls=int(done["calls"].get("GetRecords", 0)),
        shutdown_seconds=run.shutdown_seconds,
        server_cpu_seconds=run.server_cpu_seconds,
    )


# ---------------------------------------------------------------------------------------------
# Rounds

Runner = Callable[[Target, argparse.Namespace], Awaitable[RunResult]]
RUNNERS: dict[str, Runner] = {
    "poller": run_poller,
    "raw": run_raw,
    "leased": run_leased,
    "async-kinesis": run_async_kinesis,
}


@dataclass(frozen=True)
class Bench:
    """What every run of one benchmark shares: the server and the benchmark's own clients."""

    server: bench.Server
    admin: Any  # Kinesis
    dynamodb: Any  # for the leased variant's table, where the server cannot be reset
    account: str
    opts: argparse.Namespace


async def clean_up(ctx: Bench, target: Target, variant: str) -> None:
    """Leave an empty server for the next run: reset it (moto, ministack), else delete the run's
    stream and, for `leased`, its lease table."""
    if await anyio.to_thread.run_sync(ctx.server.reset):
        return
    await ctx.admin.delete_stream(StreamName=target.stream_name, EnforceConsumerDeletion=True)
    if variant == "leased":
        with contextlib.suppress(Exception):  # poller may not have created it (a failed run)
            await ctx.dynamodb.delete_table(TableName=lease_table_name(target))


async def one_run(
    ctx: Bench, variant: str, shards: int, batch_size: int, records: int
) -> RunResult:
    name = f"bench-{variant}-{shards}-{uuid.uuid4().hex[:12]}"
    filling = time.perf_counter()
    await create_filled_stream(ctx.admin, name, shards, records)
    fill_seconds = time.perf_counter() - filling
    stored = await count_stored(ctx.admin, name)
    if sum(stored.values()) != records:
        raise RuntimeError(f"the server holds {sum(stored.values())} records, not {records}")
    target = Target(
        ctx.server.url,
        name,
        stream_arn(ctx.account, name),
        shards,
        batch_size,
        records,
        ctx.server.cpu_seconds,
    )
    gc.collect()
    try:
        result = await RUNNERS[variant](target, ctx.opts)
    finally:
        await clean_up(ctx, target, variant)  # the next run starts from an empty server
    result.fill_seconds = fill_seconds
    report_run(result, stored)
    return result


def report_run(result: RunResult, stored: dict[str, int]) -> None:
    """The run's progress line on stderr, flagged if it did not see exactly N records."""
    spread = f"{min(stored.values())}-{max(stored.values())}/shard" if result.shards > 1 else ""
    dynamodb = (
        f" | UpdateItem {result.dynamodb_calls.get('UpdateItem', 0)},"
        f" Scan {result.dynamodb_calls.get('Scan', 0)}"
        if result.variant == "leased"
        else ""
    )
    server = result.server_cpu_per_1000
    print(
        f"  {result.variant:<13} {result.shards} shard(s) b{result.batch_size}"
        f" {result.records} rec in {result.seconds:6.3f} s = {result.rate:8.0f} rec/s"
        f" | CPU {result.cpu_per_1000 * 1000:6.1f} ms/1k,"
        f" server {'-' if server is None else f'{server * 1000:.1f}'} ms/1k"
        f" | seen {result.seen}, read {result.read}, GetRecords {result.get_records_calls}"
        f"{dynamodb} | shutdown {result.shutdown_seconds:.3f} s"
        f" | fill {result.fill_seconds:.1f} s {spread}",
        file=sys.stderr,
    )
    if result.seen != result.records or result.read != result.records:
        print(f"  !! expected exactly {result.records} records seen and read", file=sys.stderr)


async def benchmark(server: bench.Server, opts: argparse.Namespace) -> list[RunResult]:
    session = aioboto3.Session(region_name=bench.REGION)
    runs: list[RunResult] = []
    config = bench.client_config(POOL_SIZE)
    async with (
        session.client("kinesis", endpoint_url=server.url, config=config) as admin,
        session.client("dynamodb", endpoint_url=server.url, config=config) as dynamodb,
    ):
        ctx = Bench(server, admin, dynamodb, await bench.server_account(server.url), opts)
        if opts.warmup:
            print(f"warm-up ({WARMUP_RECORDS} records each, not reported)", file=sys.stderr)
            for variant in opts.variants:
                await one_run(ctx, variant, max(opts.shards), opts.batch_size[0], WARMUP_RECORDS)
        cases = [(shards, batch) for shards in opts.shards for batch in opts.batch_size]
        for round_no in range(1, opts.repeats + 1):
            print(f"round {round_no}/{opts.repeats}", file=sys.stderr)
            for index, (shards, batch) in enumerate(cases):
                # Alternate the order (A B C / C B A) per round and per case: over two rounds
                # every variant's mean position is the same, so drift hits all alike.
                variants = opts.variants
                order = variants if (round_no + index) % 2 else variants[::-1]
                for variant in order:
                    result = await one_run(ctx, variant, shards, batch, opts.records)
                    result.round = round_no
                    runs.append(result)
    return runs


# ---------------------------------------------------------------------------------------------
# Report


def summarise_all(runs: list[RunResult], opts: argparse.Namespace) -> list[Summary]:
    return [
        summarise(
            v, s, b, [r for r in runs if r.variant == v and r.shards == s and r.batch_size == b]
        )
        for s in opts.shards
        for b in opts.batch_size
        for v in opts.variants
    ]


def case_name(shards: int, batch_size: int) -> str:
    return f"{shards} shard{'s' if shards > 1 else ''}, batch {batch_size}"


def ratios(summaries: list[Summary], top: str, bottom: str) -> dict[str, dict[str, float]]:
    """Per case (shard count and batch size): `top`/`bottom` of median rec/s and of median
    CPU per 1,000 records (empty unless both variants ran)."""
    by = {(s.variant, s.shards, s.batch_size): s for s in summaries}
    out: dict[str, dict[str, float]] = {}
    for shards, batch in dict.fromkeys((s.shards, s.batch_size) for s in summaries):
        if (top, shards, batch) not in by or (bottom, shards, batch) not in by:
            continue
        a, b = by[top, shards, batch], by[bottom, shards, batch]
        out[case_name(shards, batch)] = {
            "throughput": a.median_rate / b.median_rate,
            "cpu_per_record": a.median_cpu_per_1000 / b.median_cpu_per_1000,
        }
    return out


def dynamodb_table(summaries: list[Summary]) -> list[str]:
    """The leased variant's DynamoDB calls per run and per 1,000 records (none if not run)."""
    leased = [s for s in summaries if s.variant == "leased"]
    if not leased:
        return []
    lines = [
        "",
        "DynamoDB calls of leased (mean per run, start-up and lease releases at shutdown included)",
        f"  {'shards':>6}{'batch':>7}{'UpdateItem':>12}{'per 1k rec':>12}{'Scan':>7}"
        f"{'per 1k rec':>12}{'checkpoints':>13}  other",
    ]
    for s in leased:
        calls = s.dynamodb_calls_per_run
        other = ", ".join(
            f"{op} {n:g}" for op, n in calls.items() if op not in ("UpdateItem", "Scan")
        )
        lines.append(
            f"  {s.shards:>6}{s.batch_size:>7}{calls.get('UpdateItem', 0):>12.1f}"
            f"{s.update_item_per_1000:>12.2f}{calls.get('Scan', 0):>7.1f}{s.scan_per_1000:>12.2f}"
            f"{s.checkpoints_per_run:>13.1f}  {other or '-'}"
        )
    lines.append(
        "  UpdateItem = a lease creation, take and release per shard + one per checkpoint (a"
        " checkpoint renews its lease too: a renewal is written only for a shard without a"
        " checkpoint for failover/3 s); Scan = the start-up passes + one per failover/3 s"
    )
    return lines


def settings_line(opts: argparse.Namespace) -> str:
    """What was run: records, repeats and each variant's settings (only variants that ran)."""
    parts = [
        f"{opts.records} records per run, {opts.repeats} repeats (alternating order), no-op handler"
    ]
    daemons = [v for v in opts.variants if v in ("poller", "leased")]
    if daemons:
        parts.append(
            f"{' and '.join(daemons)}: batch size {','.join(map(str, opts.batch_size))},"
            f" parallelization factor {opts.parallelization_factor}"
        )
    if "leased" in opts.variants:
        parts.append(f"leased: DynamoDB lease table, failover {opts.failover_seconds:g} s")
    if "raw" in opts.variants:
        parts.append(f"raw: GetRecords Limit {RAW_LIMIT}, one task per shard")
    if "async-kinesis" in opts.variants:
        parts.append(
            f"async-kinesis: its own process, GetRecords Limit {RAW_LIMIT}, at most"
            f" {ASYNC_KINESIS_FETCH_RATE}/s per shard, in-memory checkpoints"
        )
    return "; ".join(parts)


def _optional(value: float | None, scale: float = 1.0) -> str:
    return "-" if value is None else f"{value * scale:.4f}"


def report_table(
    summaries: list[Summary], rows: list[dict[str, Any]], opts: argparse.Namespace
) -> str:
    lines = [
        settings_line(opts),
        "",
        "throughput (records/s, start of the variant to the N-th record handled); CPU of the"
        " variant's process (poller, leased, raw: this one) and of the server's, same window",
        f"  {'variant':<14}{'shards':>7}{'batch':>7}{'median rec/s':>14}{'min':>9}{'max':>9}"
        f"{'CPU s/1k rec':>14}{'server s/1k':>13}{'GetRecords/run':>16}{'shutdown (s)':>14}",
    ]
    lines.extend(
        f"  {s.variant:<14}{s.shards:>7}{s.batch_size:>7}{s.median_rate:>14,.0f}"
        f"{s.min_rate:>9,.0f}{s.max_rate:>9,.0f}{s.median_cpu_per_1000:>14.4f}"
        f"{_optional(s.median_server_cpu_per_1000):>13}"
        f"{s.get_records_calls_per_run:>16.1f}{s.median_shutdown_seconds:>14.3f}"
        for s in summaries
    )
    for top, bottom in RATIO_PAIRS:
        pair = ratios(summaries, top, bottom)
        if not pair:
            continue
        lines += ["", f"ratio {top}/{bottom} (of medians)"]
        lines.append(f"  {'case':<22}{'rec/s':>10}{'CPU per record':>16}")
        lines.extend(
            f"  {case:<22}{r['throughput']:>10.3f}{r['cpu_per_record']:>16.3f}"
            for case, r in pair.items()
        )
    lines += dynamodb_table(summaries)
    lines += ["", "rows", bench.rows_table(rows)]
    return "\n".join(lines)


def rows_of(summaries: list[Summary]) -> list[dict[str, Any]]:
    """The report's `rows`: each variant's median rec/s per case, against raw's."""
    base = {(s.shards, s.batch_size): s.median_rate for s in summaries if s.variant == BASELINE}
    return [
        bench.row(
            "e2e-kinesis",
            case_name(s.shards, s.batch_size),
            s.variant,
            s.median_rate,
            "rec/s",
            cpu_ms_per_1k=1000 * s.median_cpu_per_1000,
            baseline_value=base.get((s.shards, s.batch_size)),
            server_cpu_ms_per_1k=(
                None
                if s.median_server_cpu_per_1000 is None
                else 1000 * s.median_server_cpu_per_1000
            ),
        )
        for s in summaries
    ]


# ---------------------------------------------------------------------------------------------
# Entry point


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--records",
        type=int,
        help="records per run (moto: 5000, other servers: 20000; --quick: 1000)",
    )
    parser.add_argument("--repeats", type=int, help="runs per variant and case (5; --quick: 1)")
    parser.add_argument(
        "--shards",
        type=bench.int_list(1, 100),
        default=[1, 4, 8],
        help="shard counts, comma-separated (1,4,8)",
    )
    parser.add_argument(
        "--variants",
        type=bench.name_list(VARIANTS),
        default=VARIANTS,
        help=f"variants to run, comma-separated, in round 1's order ({','.join(VARIANTS)})",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {QUICK_RECORDS} records and 1 repeat (unless given)",
    )
    parser.add_argument(
        "--batch-size",
        type=bench.int_list(1, 10000),
        default=[100, 1000],
        help="poller's and leased's batch sizes, comma-separated (100,1000)",
    )
    parser.add_argument(
        "--parallelization-factor",
        type=int,
        default=1,
        choices=range(1, 11),
        metavar="{1..10}",
        help="poller's ParallelizationFactor (1)",
    )
    parser.add_argument(
        "--failover-seconds",
        type=float,
        default=FAILOVER_SECONDS,
        help=f"leased: state.failover_seconds, renewals and scans every third of it"
        f" ({FAILOVER_SECONDS:g})",
    )
    fast_server.add_server_options(parser)
    bench.add_common_options(parser, timeout=120.0, shutdown_limit=30.0)
    opts = parser.parse_args(argv)
    default_records = 5000 if fast_server.server_kind(opts) == "moto" else 20000
    opts.records = opts.records or (QUICK_RECORDS if opts.quick else default_records)
    opts.repeats = opts.repeats or (1 if opts.quick else 5)
    if opts.records < 1 or opts.repeats < 1:
        parser.error("--records and --repeats must be at least 1")
    if not 1 <= opts.failover_seconds <= 600:
        parser.error("--failover-seconds must be 1..600 (poller's state.failover_seconds)")
    return opts


def report(runs: list[RunResult], opts: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """The table and the JSON entries of the report, from every measured run."""
    summaries = summarise_all(runs, opts)
    rows = rows_of(summaries)
    ratio_entries = {
        f"ratios_{top.replace('-', '_')}_{bottom}": ratios(summaries, top, bottom)
        for top, bottom in RATIO_PAIRS
    }
    results = {
        "rows": rows,
        "summaries": [asdict(s) for s in summaries],
        **ratio_entries,
        "runs": [
            {
                **asdict(r),
                "rate": r.rate,
                "cpu_per_1000": r.cpu_per_1000,
                "server_cpu_per_1000": r.server_cpu_per_1000,
            }
            for r in runs
        ],
    }
    return report_table(summaries, rows, opts), results


def prepare_peers(opts: argparse.Namespace) -> dict[str, str]:
    """Install async-kinesis if it is a variant (dropped, saying why, if it cannot be);
    returns its version for the report."""
    opts.async_kinesis_path = None
    if "async-kinesis" not in opts.variants:
        return {}
    try:
        opts.async_kinesis_path = str(fast_server.ensure_async_kinesis())
    except fast_server.Unavailable as exc:
        print(f"skipping async-kinesis: {exc}", file=sys.stderr)
        opts.variants = tuple(v for v in opts.variants if v != "async-kinesis")
        return {}
    return {"async-kinesis": fast_server.ASYNC_KINESIS_VERSION}


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    bench.prepare_process(opts.log_level)
    try:
        server = fast_server.make_server(opts)
    except fast_server.Unavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return fast_server.EXIT_UNAVAILABLE
    peers = prepare_peers(opts)
    if not opts.variants:
        print("error: no variant left to run", file=sys.stderr)
        return fast_server.EXIT_UNAVAILABLE
    timed_out = f"a run did not handle all its records within --timeout {opts.timeout:g} s"
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
