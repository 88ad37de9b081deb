"""The whole benchmark suite, one table: every benchmark run in turn, its rows gathered.

Each benchmark runs as its own process with `--json` (one at a time: the machine has two
cores), and every figure in the table is that benchmark's median over alternating rounds, with
its ratio to the baseline it was measured beside in the same run. With `--write FILE` the
table, the machine and the command go to FILE (BENCHMARKS.md) as well.

    python benchmarks/run.py                        # everything, full size (~25 min)
    python benchmarks/run.py --quick                # smoke sizes (~3 min)
    python benchmarks/run.py --only pipeline,startup
    python benchmarks/run.py --write BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Benchmark:
    name: str
    script: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    what: str


SUITE = (
    Benchmark(
        "pipeline",
        "pipeline.py",
        ("--rounds", "3", "--idle-shards", "100,1000", "--idle-seconds", "20"),
        ("--quick", "--idle-shards", "100", "--idle-seconds", "3"),
        "in-process pipeline on a fake AWS vs json.dumps; idle shards at scale",
    ),
    Benchmark(
        "sqs",
        "sqs_throughput.py",
        ("--rounds", "3"),
        ("--quick",),
        "SQS end to end on ministack: poller, raw loop, sqs-consumer; concurrency 5 and 20",
    ),
    Benchmark(
        "kinesis",
        "stream_throughput.py",
        ("--repeats", "3"),
        ("--quick", "--shards", "4", "--batch-size", "100"),
        "Kinesis end to end on ministack: poller, leased, raw loop, async-kinesis",
    ),
    Benchmark(
        "latency",
        "latency.py",
        (),
        ("--quick",),
        "trigger latency on moto: send -> handler start, p50 / p99",
    ),
    Benchmark(
        "startup",
        "startup_idle.py",
        (),
        ("--quick",),
        "exec -> first handler with a backlog; CLI wall time; idle API calls and CPU",
    ),
)


def run_one(bench: Benchmark, quick: bool, timeout: float) -> dict[str, Any]:
    """Run one benchmark; its JSON document, or {"error": ...} if it failed."""
    command = [sys.executable, str(BENCH_DIR / bench.script), "--json"]
    command += bench.quick if quick else bench.full
    print(f"== {bench.name}: {shlex.join(command)}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command, stdout=subprocess.PIPE, timeout=timeout, check=False, cwd=BENCH_DIR.parent
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s", "command": shlex.join(command)}
    seconds = time.perf_counter() - started
    print(f"   {bench.name}: exit {done.returncode} in {seconds:.0f} s", file=sys.stderr)
    if done.returncode != 0:
        return {"error": f"exit status {done.returncode}", "command": shlex.join(command)}
    try:
        document: dict[str, Any] = json.loads(done.stdout)
    except ValueError as exc:
        return {"error": f"no JSON report: {exc}", "command": shlex.join(command)}
    document["command"] = shlex.join(command)
    return document


def _number(value: Any, unit: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, (int, float)):
        return str(value)
    if abs(value) >= 100 or unit.endswith("/s") or unit.startswith("rec"):
        return f"{value:,.0f}"
    return f"{value:,.3g}" if abs(value) < 10 else f"{value:,.1f}"


def table(results: dict[str, dict[str, Any]]) -> str:
    """One Markdown table of every benchmark's rows."""
    lines = [
        "| section | case | contender | median | unit | CPU ms / 1k | vs baseline | target |",
        "|---|---|---|---:|---|---:|---|---|",
    ]
    for name, document in results.items():
        if "error" in document:
            lines.append(f"| {name} | **failed: {document['error']}** | | | | | | |")
            continue
        for row in document.get("rows", []):
            unit = str(row.get("unit", ""))
            ratio = row.get("ratio")
            baseline = row.get("baseline")
            versus = f"{ratio:.2f}x {baseline}" if ratio is not None and baseline else ""
            lines.append(
                f"| {row.get('section', name)} | {row.get('case', '')} | {row.get('contender', '')}"
                f" | {_number(row.get('value'), unit)} | {unit}"
                f" | {_number(row.get('cpu_ms_per_1k'), 'ms')} | {versus}"
                f" | {row.get('target', '')} |"
            )
    return "\n".join(lines)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = ", ".join(
        f"{pkg} {metadata.version(pkg)}" for pkg in ("aioboto3", "botocore", "anyio", "moto")
    )
    return (
        f"{os.cpu_count()} cores ({cpu}), {platform.platform()}, Python "
        f"{platform.python_version()}; {versions}"
    )


def markdown(results: dict[str, dict[str, Any]], command: str, seconds: float) -> str:
    commands = "\n".join(f"- {name}: `{doc.get('command', '')}`" for name, doc in results.items())
    return (
        "# Benchmarks\n\n"
        f"Latest run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {seconds / 60:.0f} minutes.\n\n"
        f"Machine: {machine()}.\n\n"
        f"Command: `{command}` (what each part measures: `benchmarks/README.md`).\n\n"
        "Each figure is a median over alternating rounds; `vs baseline` is its ratio to the\n"
        "baseline measured beside it in the same run (the machine is shared and noisy: compare\n"
        "ratios, not absolute figures from different runs). CPU is per 1,000 records or\n"
        "messages, of the contender's own process.\n\n"
        f"{table(results)}\n\n"
        f"The parts, as run:\n{commands}\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="every benchmark at smoke size")
    parser.add_argument(
        "--only", default="", help="comma-separated: " + ",".join(b.name for b in SUITE)
    )
    parser.add_argument("--write", type=Path, help="also write the report (Markdown) here")
    parser.add_argument("--timeout", type=float, default=3600, help="per benchmark, seconds")
    opts = parser.parse_args(argv)
    chosen = [b for b in SUITE if not opts.only or b.name in opts.only.split(",")]
    if opts.only and (unknown := set(opts.only.split(",")) - {b.name for b in SUITE}):
        parser.error(f"--only: unknown {sorted(unknown)}")
    command = shlex.join(["python", "benchmarks/run.py", *(argv or sys.argv[1:])])
    started = time.perf_counter()
    results = {b.name: run_one(b, opts.quick, opts.timeout) for b in chosen}
    report = markdown(results, command, time.perf_counter() - started)
    print(report)
    if opts.write:
        opts.write.write_text(report)
    return 1 if any("error" in doc for doc in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
