"""Kinesis stream throughput: poller against a minimal aioboto3 GetRecords loop, on moto's server.

Three variants drain the same shape of pre-filled stream (N records over 1 shard, then over 8)
with a no-op handler, in alternating order, in one run: poller with SQLite checkpoints
(`poller`), the same poller with the DynamoDB lease table (`leased`: every checkpoint a
conditional UpdateItem, plus lease renewals and scans) and a hand-written loop (`raw`). The
report gives records per second (median, min, max over the repeats), CPU seconds of this process
per 1,000 records, the poller/raw and leased/poller ratios, and the leased variant's DynamoDB
calls (UpdateItem and Scan per 1,000 records).

    python benchmarks/stream_throughput.py [--records 5000] [--repeats 5] [--shards 1,8] [--json]
    python benchmarks/stream_throughput.py --variants poller,leased   # a subset, in this order
    python benchmarks/stream_throughput.py --quick       # smoke run: 1,000 records, 1 repeat

moto serves Kinesis GetRecords at roughly 10-20k records/s on a 2-core machine (see
docs/testing.md): the absolute figures are the server's ceiling, the ratios are poller's.
"""

from __future__ import annotations

import argparse
import asyncio
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
import noop_handler

from poller.config.loader import parse_config
from poller.daemon import Daemon
from poller.telemetry.metrics import Metrics

VARIANTS = ("poller", "raw", "leased")
RATIO_PAIRS = (("poller", "raw"), ("leased", "poller"))  # numerator/denominator, when both run
FAILOVER_SECONDS = 10.0  # state.failover_seconds of the leased variant (poller's default)
RAW_LIMIT = 10000  # GetRecords Limit of the raw loop (Kinesis' maximum)
PUT_CHUNK = 500  # PutRecords maximum
RECORD_PAD = 100  # bytes of filler per record: a small JSON document of ~130 bytes
WARMUP_RECORDS = 200
QUICK_RECORDS = 1000
POOL_SIZE = 50  # the client pool poller uses for Kinesis (poller.streams.mapping)


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
    checkpoints: int = 0  # poller_checkpoints_total (poller and leased)
    # leased: poller's DynamoDB calls by operation over the whole run, start-up (DescribeTable,
    # CreateTable, lease creation and takes) and shutdown (lease releases) included
    dynamodb_calls: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.records / self.seconds

    @property
    def cpu_per_1000(self) -> float:
        return 1000 * self.cpu_seconds / self.records

    def dynamodb_per_1000(self, operation: str) -> float:
        return 1000 * self.dynamodb_calls.get(operation, 0) / self.records


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
    checkpoints_per_run: float
    # DynamoDB calls by operation, mean per run (empty but for `leased`), and per 1,000 records
    dynamodb_calls_per_run: dict[str, float]
    update_item_per_1000: float
    scan_per_1000: float


def summarise(variant: str, shards: int, runs: list[RunResult]) -> Summary:
    rates = [r.rate for r in runs]
    operations = sorted({op for r in runs for op in r.dynamodb_calls})
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
        checkpoints_per_run=statistics.mean(r.checkpoints for r in runs),
        dynamodb_calls_per_run={
            op: statistics.mean(r.dynamodb_calls.get(op, 0) for r in runs) for op in operations
        },
        update_item_per_1000=statistics.mean(r.dynamodb_per_1000("UpdateItem") for r in runs),
        scan_per_1000=statistics.mean(r.dynamodb_per_1000("Scan") for r in runs),
    )


# ---------------------------------------------------------------------------------------------
# The stream each run drains


def stream_arn(name: str) -> str:
    return f"arn:aws:kinesis:{bench.REGION}:{bench.ACCOUNT}:stream/{name}"


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
                "batch_size": opts.batch_size,
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
        finish = arm_counter(target.records)
        started = time.perf_counter()
        cpu_started = time.process_time()
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
        round=0,
        records=target.records,
        seconds=finish.at - started,
        cpu_seconds=finish.cpu - cpu_started,
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
    state = RawState(arm_counter(target.records))
    started = time.perf_counter()
    cpu_started = time.process_time()
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
RUNNERS: dict[str, Runner] = {"poller": run_poller, "raw": run_raw, "leased": run_leased}


async def one_run(
    admin: Any,
    moto: bench.MotoServer,
    variant: str,
    shards: int,
    records: int,
    opts: argparse.Namespace,
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
    dynamodb = (
        f" | UpdateItem {result.dynamodb_calls.get('UpdateItem', 0)},"
        f" Scan {result.dynamodb_calls.get('Scan', 0)}"
        if variant == "leased"
        else ""
    )
    print(
        f"  {variant:<6} {shards} shard(s) {records} rec in {result.seconds:6.3f} s"
        f" = {result.rate:8.0f} rec/s | CPU {result.cpu_per_1000 * 1000:6.1f} ms/1k"
        f" | seen {result.seen}, read {result.read}, GetRecords {result.get_records_calls}"
        f"{dynamodb} | shutdown {result.shutdown_seconds:.3f} s"
        f" | fill {fill_seconds:.1f} s {spread}",
        file=sys.stderr,
    )
    if result.seen != records or result.read != records:
        print(f"  !! expected exactly {records} records seen and read", file=sys.stderr)
    return result


async def benchmark(moto: bench.MotoServer, opts: argparse.Namespace) -> list[RunResult]:
    session = aioboto3.Session(region_name=bench.REGION)
    runs: list[RunResult] = []
    async with session.client(
        "kinesis", endpoint_url=moto.url, config=bench.client_config(POOL_SIZE)
    ) as admin:
        if opts.warmup:
            print(f"warm-up ({WARMUP_RECORDS} records each, not reported)", file=sys.stderr)
            for variant in opts.variants:
                await one_run(admin, moto, variant, max(opts.shards), WARMUP_RECORDS, opts)
        for round_no in range(1, opts.repeats + 1):
            print(f"round {round_no}/{opts.repeats}", file=sys.stderr)
            for index, shards in enumerate(opts.shards):
                # Alternate the order (A B C / C B A) per round and per shard count: over two
                # rounds every variant's mean position is the same, so drift hits all alike.
                variants = opts.variants
                order = variants if (round_no + index) % 2 else variants[::-1]
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
        for v in opts.variants
    ]


def ratios(summaries: list[Summary], top: str, bottom: str) -> dict[int, dict[str, float]]:
    """Per shard count: `top`/`bottom` of median rec/s and of median CPU per 1,000 records
    (empty unless both variants ran)."""
    by = {(s.variant, s.shards): s for s in summaries}
    out: dict[int, dict[str, float]] = {}
    for shards in sorted({s.shards for s in summaries}):
        if (top, shards) not in by or (bottom, shards) not in by:
            continue
        a, b = by[top, shards], by[bottom, shards]
        out[shards] = {
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
        f"  {'shards':>6}{'UpdateItem':>12}{'per 1k rec':>12}{'Scan':>7}{'per 1k rec':>12}"
        f"{'checkpoints':>13}  other",
    ]
    for s in leased:
        calls = s.dynamodb_calls_per_run
        other = ", ".join(
            f"{op} {n:g}" for op, n in calls.items() if op not in ("UpdateItem", "Scan")
        )
        lines.append(
            f"  {s.shards:>6}{calls.get('UpdateItem', 0):>12.1f}{s.update_item_per_1000:>12.2f}"
            f"{calls.get('Scan', 0):>7.1f}{s.scan_per_1000:>12.2f}"
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
    daemons = [v for v in opts.variants if v != "raw"]
    if daemons:
        parts.append(
            f"{' and '.join(daemons)}: batch size {opts.batch_size}, parallelization factor"
            f" {opts.parallelization_factor}"
        )
    if "leased" in opts.variants:
        parts.append(f"leased: DynamoDB lease table, failover {opts.failover_seconds:g} s")
    if "raw" in opts.variants:
        parts.append(f"raw: GetRecords Limit {RAW_LIMIT}, one task per shard")
    return "; ".join(parts)


def report_table(summaries: list[Summary], opts: argparse.Namespace) -> str:
    lines = [
        settings_line(opts),
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
    for top, bottom in RATIO_PAIRS:
        pair = ratios(summaries, top, bottom)
        if not pair:
            continue
        lines += ["", f"ratio {top}/{bottom} (of medians)"]
        lines.append(f"  {'shards':>6}{'rec/s':>10}{'CPU per record':>16}")
        lines.extend(
            f"  {shards:>6}{r['throughput']:>10.3f}{r['cpu_per_record']:>16.3f}"
            for shards, r in pair.items()
        )
    lines += dynamodb_table(summaries)
    return "\n".join(lines)


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


def _variant_list(text: str) -> tuple[str, ...]:
    values = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [v for v in values if v not in VARIANTS]
    if not values or unknown:
        raise argparse.ArgumentTypeError(
            f"variants are a comma-separated subset of {','.join(VARIANTS)}, not {text!r}"
        )
    return values


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, help="records per run (5000; --quick: 1000)")
    parser.add_argument("--repeats", type=int, help="runs per variant and shard count (5)")
    parser.add_argument(
        "--shards", type=_shard_list, default=[1, 8], help="shard counts, comma-separated (1,8)"
    )
    parser.add_argument(
        "--variants",
        type=_variant_list,
        default=VARIANTS,
        help=f"variants to run, comma-separated, in round 1's order ({','.join(VARIANTS)})",
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
    parser.add_argument(
        "--failover-seconds",
        type=float,
        default=FAILOVER_SECONDS,
        help=f"leased: state.failover_seconds, renewals and scans every third of it"
        f" ({FAILOVER_SECONDS:g})",
    )
    bench.add_common_options(parser, timeout=120.0, shutdown_limit=30.0)
    opts = parser.parse_args(argv)
    if opts.quick:
        opts.records = opts.records or QUICK_RECORDS
        opts.repeats = opts.repeats or 1
    opts.records = opts.records if opts.records is not None else 5000
    opts.repeats = opts.repeats if opts.repeats is not None else 5
    if opts.records < 1 or opts.repeats < 1 or not 1 <= opts.batch_size <= 10000:
        parser.error("--records and --repeats must be at least 1, --batch-size 1..10000")
    if not 1 <= opts.failover_seconds <= 600:
        parser.error("--failover-seconds must be 1..600 (poller's state.failover_seconds)")
    return opts


def report(runs: list[RunResult], opts: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """The table and the JSON entries of the report, from every measured run."""
    summaries = summarise_all(runs, opts)
    ratio_entries = {
        f"ratios_{top}_{bottom}": {str(k): v for k, v in ratios(summaries, top, bottom).items()}
        for top, bottom in RATIO_PAIRS
    }
    results = {
        "summaries": [asdict(s) for s in summaries],
        **ratio_entries,
        "runs": [{**asdict(r), "rate": r.rate, "cpu_per_1000": r.cpu_per_1000} for r in runs],
    }
    return report_table(summaries, opts), results


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    bench.prepare_process(opts.log_level)
    timed_out = f"a run did not handle all its records within --timeout {opts.timeout:g} s"
    return bench.run_benchmark(opts, benchmark, report, timeout_message=timed_out)


if __name__ == "__main__":
    sys.exit(main())
