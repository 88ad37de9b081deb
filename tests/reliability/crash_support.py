"""The crash loops' machinery: a daemon killed and restarted on one config and state file, the
handler's delivery log read as it grows, the SQLite state checked after every kill, and
duplicates attributed to the kill that caused them."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqs_support import HERE as INTEGRATION
from sqs_support import start_poller, stop_poller, until

HERE = Path(__file__).parent
SHARD_END = "SHARD_END"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One record given to the handler: the daemon run that did, when, and the record's
    fields (SQS: the body; Kinesis: shard, sequence number, partition key, data)."""

    run: int
    at: float
    fields: tuple[str, ...]


class DeliveryLog:
    """The handler's file (crash_handlers.py), read incrementally: only what was appended since
    the last refresh, and only whole lines (a write in progress is left for the next one)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.deliveries: list[Delivery] = []
        self.distinct: set[tuple[str, ...]] = set()
        self._offset = 0
        self._lock = threading.Lock()

    def refresh(self) -> int:
        """Read what is new; returns how many distinct records have been delivered."""
        with self._lock:
            if self.path.exists():
                with open(self.path, "rb") as log:
                    log.seek(self._offset)
                    chunk = log.read()
                end = chunk.rfind(b"\n") + 1
                self._offset += end
                for line in chunk[:end].decode().splitlines():
                    run, at, *rest = line.split(" ")
                    delivery = Delivery(int(run), float(at), tuple(rest))
                    self.deliveries.append(delivery)
                    self.distinct.add(delivery.fields)
            return len(self.distinct)

    def count(self, run: int) -> int:
        """Deliveries made by one run (its daemon's handler calls, record by record)."""
        with self._lock:
            return sum(1 for d in self.deliveries if d.run == run)


Checkpoints = dict[tuple[str, str], str]  # (mapping, shard id) -> checkpoint


def read_state(path: Path) -> Checkpoints:
    """The state file's checkpoints, after checking the file is whole (PRAGMA integrity_check
    and quick_check say "ok"). Opened read-only, so a reading never changes the file (nor
    recovers its WAL on disk for the daemon)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        integrity = conn.execute("PRAGMA integrity_check").fetchall()
        assert integrity == [("ok",)], f"{path}: integrity_check {integrity}"
        quick = conn.execute("PRAGMA quick_check").fetchall()
        assert quick == [("ok",)], f"{path}: quick_check {quick}"
        tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        if ("checkpoints",) not in tables:  # killed before the daemon had created it
            return {}
        rows = conn.execute("SELECT mapping, shard_id, checkpoint FROM checkpoints").fetchall()
    finally:
        conn.close()
    return {(str(m), str(s)): str(c) for m, s, c in rows}


def not_behind(old: str, new: str) -> bool:
    """Checkpoint order, written here apart from the product's: a checkpoint is a decimal
    sequence number ("every record up to and including it is done", compared as integers) or
    SHARD_END (the whole closed shard is done), which only SHARD_END may follow."""
    if old == SHARD_END:
        return new == SHARD_END
    return new == SHARD_END or int(new) >= int(old)


def assert_not_rolled_back(earlier: Checkpoints, later: Checkpoints, when: str) -> None:
    """Every checkpoint of `earlier` is still there in `later`, and not behind."""
    for key, old in earlier.items():
        assert key in later, f"{when}: checkpoint of {key} vanished (was {old})"
        assert not_behind(old, later[key]), f"{when}: {key} went back from {old} to {later[key]}"


class Daemon:
    """`poller run` on one config and state file, started again after every kill: run 0 is the
    first process, run n the one started after the n-th kill. Each run's stdout (JSON logs) goes
    to out-<run>.log beside the config. `close()` stops whatever still runs."""

    def __init__(self, config: Path, log: Path, state: Path | None, **env: str) -> None:
        self.config = config
        self.state = state
        self.env = {
            "POLLER_CRASH_LOG": str(log),
            # The handlers here, and the integration suite's helpers beside them.
            "PYTHONPATH": f"{HERE}:{INTEGRATION}",
            **env,
        }
        self.run = -1
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.checkpoints: Checkpoints = {}  # the last reading after a kill
        self.after_kill: list[Checkpoints] = []  # the reading after each kill, in order

    def output(self, run: int) -> Path:
        return self.config.parent / f"out-{run}.log"

    def start(self) -> None:
        assert self.proc is None
        self.run += 1
        self.started_at = time.monotonic()
        env = {**self.env, "POLLER_CRASH_RUN": str(self.run)}
        self.proc = start_poller(self.config, self.output(self.run), stderr=None, **env)

    def kill(self) -> None:
        """SIGKILL the daemon, then check the state file against what it held just before."""
        assert self.proc is not None
        before = self._state()
        code = stop_poller(self.proc, 10, sig=signal.SIGKILL)
        self.proc = None
        assert code == -signal.SIGKILL, f"run {self.run} had exited by itself ({code})"
        after = self._state()
        # Nothing the daemon had committed is lost, nor older than the last reading.
        assert_not_rolled_back(before, after, f"after kill {self.run + 1} (committed before it)")
        assert_not_rolled_back(self.checkpoints, after, f"after kill {self.run + 1}")
        self.checkpoints = after
        self.after_kill.append(after)

    def stop(self) -> int:
        """A graceful stop (SIGTERM) of the running daemon; its exit code."""
        assert self.proc is not None
        proc, self.proc = self.proc, None
        return stop_poller(proc)

    def close(self) -> None:
        if self.proc is not None:
            proc, self.proc = self.proc, None
            stop_poller(proc, 10, sig=signal.SIGKILL)

    def _state(self) -> Checkpoints:
        if self.state is None or not self.state.exists():
            return {}
        return read_state(self.state)


def kill_points(rng: random.Random, total: int, kills: int) -> list[int]:
    """When to kill: after random numbers of distinct records delivered, spread over the run
    (2 % to 90 % of `total`), in order. Close points make a kill land during start-up."""
    return sorted(rng.randint(total // 50, total * 9 // 10) for _ in range(kills))


def crash_loop(
    daemon: Daemon,
    log: DeliveryLog,
    rng: random.Random,
    points: list[int],
    timeout: float,
) -> list[int]:
    """Run the daemon, killing it once `log` has seen each of `points` distinct records (plus
    a random 0-300 ms, so a kill lands anywhere in a batch's life), restarting it each time.
    Returns the distinct records delivered at each kill."""
    seen_at_kill = []
    daemon.start()
    for point in points:
        seen_at_kill.append(kill_after(daemon, log, rng, point, timeout))
        daemon.start()
    return seen_at_kill


def kill_after(
    daemon: Daemon, log: DeliveryLog, rng: random.Random, seen: int, timeout: float
) -> int:
    """Kill the daemon a random 0-300 ms after `log` has seen `seen` distinct records; returns
    how many it had seen at the kill."""

    def reached() -> bool:
        return log.refresh() >= seen

    until(reached, timeout)
    time.sleep(rng.uniform(0, 0.3))  # the scenario's random moment, not a wait
    daemon.kill()
    return log.refresh()


class Producer:
    """Sends `items` from a thread, `chunk` at a time through `send`, keeping at most `backlog`
    of them ahead of what the handler has seen (`seen()`): moto slows with queue depth, and a
    run fed while it is consumed is the realistic one. `join()` re-raises what the thread hit."""

    def __init__(
        self,
        items: list[str],
        send: Callable[[list[str]], object],
        seen: Callable[[], int],
        chunk: int,
        backlog: int,
    ) -> None:
        self.sent = 0
        self._items, self._send, self._seen = items, send, seen
        self._chunk, self._backlog = chunk, backlog
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="producer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while self.sent < len(self._items) and not self._stop.is_set():
                if self.sent - self._seen() >= self._backlog:
                    self._stop.wait(0.05)  # the consumer is behind (or being restarted)
                    continue
                self._send(self._items[self.sent : self.sent + self._chunk])
                self.sent = min(len(self._items), self.sent + self._chunk)
        except BaseException as exc:
            self._error = exc

    def check(self) -> bool:
        """Raise what the thread raised, if anything; else whether everything was sent."""
        if self._error is not None:
            raise AssertionError("the producer failed") from self._error
        return self.sent >= len(self._items)

    def stop(self) -> None:
        """Stop sending (at the end, or when the test fails) and wait for the thread."""
        self._stop.set()
        self._thread.join(30)
        assert not self._thread.is_alive(), "the producer did not stop"


@dataclass
class Duplicates:
    """Every delivery after a record's first, split by cause.

    A delivery made by a later run than the record's previous delivery is the kill's that ended
    that previous run (`per_kill[n]`: the n-th kill, ending run n-1). One made by the same run
    as the previous cannot come from a kill: `same_run` lists those (record, seconds since
    the previous delivery).
    """

    per_kill: Counter[int] = field(default_factory=Counter)
    same_run: list[tuple[Hashable, float]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.per_kill.values()) + len(self.same_run)


def duplicates(
    deliveries: Iterable[Delivery], identity: Callable[[Delivery], Hashable]
) -> Duplicates:
    out = Duplicates()
    last: dict[Hashable, Delivery] = {}
    for delivery in deliveries:
        key = identity(delivery)
        previous = last.get(key)
        if previous is not None:
            if previous.run == delivery.run:
                out.same_run.append((key, delivery.at - previous.at))
            else:
                out.per_kill[previous.run + 1] += 1
        last[key] = delivery
    return out


def exposure(deliveries: Iterable[Delivery], run: int, checkpoints: Checkpoints) -> dict[str, int]:
    """Per shard, the Kinesis records run `run` delivered that the state after its kill does
    not cover (sequence above the shard's checkpoint): what the next run delivers again."""
    by_shard = {shard: checkpoint for (_, shard), checkpoint in checkpoints.items()}
    out: dict[str, int] = defaultdict(int)
    for d in deliveries:
        if d.run != run:
            continue
        shard, sequence = d.fields[0], int(d.fields[1])
        checkpoint = by_shard.get(shard)
        if checkpoint == SHARD_END:
            continue
        if checkpoint is None or sequence > int(checkpoint):
            out[shard] += 1
    return dict(out)
