"""What the fault suites share: the fault mix, an outage-then-recovery step, a watch on the
SQLite checkpoints, and the one-line summary each suite prints for RELIABILITY.md."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from typing import Any

import anyio
from fault_proxy import FaultPlan, FaultProxy, plan
from scale import NAME, scaled
from sqs_support import wait_for

from poller.aws import MAX_WAIT
from poller.daemon import Daemon

RATE = 0.10  # the fault rate, on every call poller makes
RECORDS = scaled(600, 20_000)
READ_TIMEOUT = 2.0  # aws.read_timeout in the suites: a `slow` fault costs seconds, not 45
OUTAGE = 3.0  # seconds every call fails, once per run
# botocore's standard mode retries a call twice, waiting up to 2 and then 4 s, before poller's
# own backoff sees a failure.
BOTOCORE_WAITS = 6.0


def recovery_bound(outage: float = OUTAGE) -> float:
    """How soon a mapping handles records again once an outage of `outage` s ends.

    poller's backoff doubles from 0.5 s plus up to 1 s of jitter, so the waits it has slept
    through sum to at least half the last one: when the outage ends, the wait in progress is at
    most `outage` + 1.5 s (and never over MAX_WAIT + 1). Then one call: botocore's own retries,
    and at most one read timeout.
    """
    return min(outage + 1.5, MAX_WAIT + 1) + BOTOCORE_WAITS + READ_TIMEOUT


def faults(rate: float = RATE, only: Iterable[str] | None = None) -> FaultPlan:
    """Every kind of fault, at `rate`, on the calls named in `only` (every call if None)."""
    return plan(rate, only=only)


OUTAGE_PLAN = plan(1.0, ["reset_before", "http_503", "throttle", "http_500"])


async def outage_then_recovery(
    proxy: FaultProxy,
    daemon: Daemon,
    handled: Callable[[], int],
    total: int,
    only: Iterable[str] | None = None,
) -> float:
    """Fail every call for OUTAGE s (a scenario pause), stop all faults, and return how long
    the mapping took to handle another record, or, when every record was already handled (a
    producer can finish before the outage ends), to report itself ready again (its next call
    to the source succeeded). Faults resume at RATE afterwards."""
    proxy.plan = plan(1.0, OUTAGE_PLAN.kinds, only=only)
    await anyio.sleep(OUTAGE)  # the outage itself: scenario, not a wait for a condition
    proxy.plan = FaultPlan()
    before, healed = handled(), time.monotonic()

    def recovered() -> bool:
        if before >= total:
            return not daemon.readiness.waiting()
        return handled() > before

    await wait_for(recovered, timeout=recovery_bound() + 30)
    recovery = time.monotonic() - healed
    proxy.plan = faults(only=only)
    return recovery


async def half_way(handled: Callable[[], int], total: int) -> None:
    """Until half the records are handled (so the outage comes mid-run)."""
    await wait_for(lambda: handled() >= total // 2, timeout=scaled(120, 900))


def source_errors(daemon: Daemon) -> float:
    return daemon.metrics.value("poller_source_errors_total")


def first_delivery_order(items: Iterable[tuple[Hashable, Any]]) -> dict[Hashable, list[Any]]:
    """Per key, each value in the order it was first delivered (repeats dropped)."""
    seen: set[tuple[Hashable, Any]] = set()
    out: dict[Hashable, list[Any]] = defaultdict(list)
    for key, value in items:
        if (key, value) not in seen:
            seen.add((key, value))
            out[key].append(value)
    return out


def duplicates(delivered: Iterable[Hashable]) -> int:
    """Deliveries beyond each record's first."""
    counts = Counter(delivered)
    return sum(n - 1 for n in counts.values())


class CheckpointWatch:
    """Reads the SQLite state's checkpoints every `interval` s in a thread, as an operator's
    second connection would (WAL lets it read beside the writer); `backwards()` lists every
    shard whose checkpoint ever went down."""

    def __init__(self, path: Path, interval: float = 0.05) -> None:
        self._path, self._interval = path, interval
        self.history: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.readings = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="checkpoint-watch", daemon=True)

    def __enter__(self) -> CheckpointWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            if not self._path.exists():
                continue
            try:
                with sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, timeout=1) as db:
                    rows = db.execute("SELECT mapping, shard_id, checkpoint FROM checkpoints")
                    for mapping, shard, checkpoint in rows:
                        seen = self.history[(mapping, shard)]
                        if not seen or seen[-1] != checkpoint:
                            seen.append(checkpoint)
                self.readings += 1
            except sqlite3.OperationalError:  # the table is not created yet
                continue

    def backwards(self) -> list[str]:
        """Shards whose checkpoint went down at some reading (a sequence number that fell, or
        anything after SHARD_END)."""
        bad = []
        for (mapping, shard), seen in self.history.items():
            numbers = [int(c) for c in seen if c.isdigit()]
            ended = "SHARD_END" in seen and seen[seen.index("SHARD_END") :] != ["SHARD_END"]
            if numbers != sorted(numbers) or ended:
                bad.append(f"{mapping}/{shard}: {seen}")
        return bad


def summary(name: str, **figures: Any) -> str:
    """One line for RELIABILITY.md, printed (visible with `pytest -s`)."""
    line = f"RELIABILITY {name} scale={NAME} " + " ".join(f"{k}={v}" for k, v in figures.items())
    print(line)
    return line
