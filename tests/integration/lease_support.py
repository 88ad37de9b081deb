"""Replicas of `poller run` as separate OS processes sharing a DynamoDB lease table.

Each replica logs its handler's batches (file_handlers.timed: shard, ids, data, worker, start and
end times) to its own JSON-lines file and its structlog events to another; `Fleet` starts them
and, whatever happens in the test, stops every process it started by its PID.
"""

from __future__ import annotations

import signal
import subprocess
import textwrap
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from bench_support import MotoServer
from sqs_support import EXTERNAL, HERE, REGION, json_lines, start_poller, stop_poller

FAILOVER = 3.0  # seconds; renew interval 1 s
RENEW = FAILOVER / 3


def replica_config(
    endpoint: str, arn: str, table: str, worker: str, dynamodb_endpoint: str | None = None
) -> str:
    endpoints = f', endpoints: {{dynamodb: "{dynamodb_endpoint}"}}' if dynamodb_endpoint else ""
    return textwrap.dedent(f"""\
        aws: {{region: {REGION}, endpoint_url: "{endpoint}"{endpoints}}}
        http: {{listen: "127.0.0.1:0"}}
        logging: {{format: json}}
        state: {{backend: dynamodb, table: {table}, failover_seconds: {FAILOVER}, worker_id: {worker}}}
        shutdown_timeout: 10
        functions:
          fn:
            handler: "file_handlers:timed"
            timeout: 10
            code_uri: "{HERE}"
        mappings:
          - function: fn
            event_source_arn: "{arn}"
            starting_position: TRIM_HORIZON
            batch_size: 10
            shard_refresh_seconds: 1
        """)


@dataclass
class Replica:
    worker: str
    proc: subprocess.Popen[bytes]
    batches_file: Path
    events_file: Path

    def batches(self) -> list[dict[str, Any]]:
        return json_lines(self.batches_file)

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        return [e for e in json_lines(self.events_file) if name is None or e.get("event") == name]

    def stop(self, timeout: float = 30) -> int:
        return stop_poller(self.proc, timeout)

    def kill(self) -> None:
        stop_poller(self.proc, 10, sig=signal.SIGKILL)


@dataclass
class Fleet:
    """Replicas of one mapping; a context manager that kills whatever is still running."""

    endpoint: str
    arn: str
    table: str
    directory: Path
    replicas: dict[str, Replica] = field(default_factory=dict)

    def start(self, worker: str, dynamodb_endpoint: str | None = None) -> Replica:
        config = self.directory / f"{worker}.yaml"
        config.write_text(
            replica_config(self.endpoint, self.arn, self.table, worker, dynamodb_endpoint)
        )
        batches, events = self.directory / f"{worker}.jsonl", self.directory / f"{worker}.log"
        proc = start_poller(
            config,
            stderr=events,
            POLLER_TEST_LOG=str(batches),
            POLLER_TEST_WORKER=worker,
            POLLER_TEST_SLEEP="0.03",
        )
        replica = Replica(worker, proc, batches, events)
        self.replicas[worker] = replica
        return replica

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        for replica in self.replicas.values():
            replica.kill()

    def batches(self) -> list[dict[str, Any]]:
        return [b for r in self.replicas.values() for b in r.batches()]

    def delivered(self) -> Counter[str]:
        """How many times each record (by data) reached a handler, across replicas."""
        return Counter(d for b in self.batches() for d in b["data"])


def leases(endpoint: str, table: str, client: Any = None) -> list[dict[str, Any]]:
    """Every lease of the table; none while the first replica has not created it.

    moto creates an item in two steps (its key, then the UpdateItem's SETs), so a scan can
    catch a lease half-made, with no shardId yet. DynamoDB writes it at once; such an item is
    left out here and read whole by the next scan.
    """
    client = client or boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        try:
            page = client.scan(**kwargs)
        except client.exceptions.ResourceNotFoundException:
            return []
        items.extend(item for item in page["Items"] if "shardId" in item)
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def owners(endpoint: str, table: str) -> dict[str, str | None]:
    """Each shard's lease owner (None: unowned)."""
    return {
        item["shardId"]["S"]: item["leaseOwner"]["S"] if "leaseOwner" in item else None
        for item in leases(endpoint, table)
    }


def loads(endpoint: str, table: str) -> Counter[str | None]:
    return Counter(owners(endpoint, table).values())


def moto_in_its_own_process() -> Iterator[str]:
    """The endpoint for replica tests: POLLER_TEST_ENDPOINT if set, else moto's server in its
    own OS process (stopped by its PID at the end), so that the replicas' lease traffic and the
    test's own polling do not share one GIL with the server."""
    if EXTERNAL:
        yield EXTERNAL
        return
    server = MotoServer()
    try:
        server.start()
        yield server.url
    finally:
        server.stop()


def wait_until(predicate: Any, timeout: float, interval: float = 0.05) -> float:
    """Poll until predicate() holds; returns the wall-clock time it first did."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not within {timeout} s: {predicate}"
        time.sleep(interval)
    return time.time()


class TableWatch:
    """Polls the lease table in a thread: each shard's owners and checkpoints over time."""

    def __init__(self, endpoint: str, table: str, interval: float = 0.1) -> None:
        self._endpoint, self._table, self._interval = endpoint, table, interval
        self.history: dict[str, list[tuple[float, str | None, str | None]]] = defaultdict(list)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TableWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        client = boto3.client("dynamodb", region_name=REGION, endpoint_url=self._endpoint)
        while not self._stop.wait(self._interval):
            at = time.time()
            for item in leases(self._endpoint, self._table, client):
                owner = item["leaseOwner"]["S"] if "leaseOwner" in item else None
                checkpoint = item["checkpoint"]["S"] if "checkpoint" in item else None
                self.history[item["shardId"]["S"]].append((at, owner, checkpoint))

    def checkpoints_never_move_backwards(self) -> None:
        for shard, seen in self.history.items():
            numbers = [int(c) for _, _, c in seen if c is not None and c.isdigit()]
            assert numbers == sorted(numbers), f"{shard}: checkpoint moved backwards"
            ends = [i for i, (_, _, c) in enumerate(seen) if c == "SHARD_END"]
            assert not ends or all(c == "SHARD_END" for _, _, c in seen[ends[0] :]), shard


class Producer:
    """Puts records into a stream from one thread (moto loses concurrent puts) until stopped."""

    def __init__(self, endpoint: str, stream: str, per_second: float = 100) -> None:
        self._client = boto3.client("kinesis", region_name=REGION, endpoint_url=endpoint)
        self._stream, self._pause = stream, 10 / per_second
        self.sent: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Producer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        n = 0
        while not self._stop.wait(self._pause):
            data = [f"p-{n + i}" for i in range(10)]
            self._client.put_records(
                StreamName=self._stream,
                Records=[
                    {"Data": d.encode(), "PartitionKey": f"k{n + i}"} for i, d in enumerate(data)
                ],
            )
            self.sent.extend(data)
            n += 10


def shard_windows(batches: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for batch in sorted(batches, key=lambda b: b["start"]):
        out[batch["shard"]].append(batch)
    return out


def iter_overlaps(batches: list[dict[str, Any]]) -> Iterator[tuple[str, float]]:
    """(shard, seconds) for every two batches of one shard that ran at once on two replicas."""
    for shard, runs in shard_windows(batches).items():
        for i, first in enumerate(runs):
            for second in runs[i + 1 :]:
                if second["start"] >= first["end"]:
                    break
                if second["worker"] != first["worker"]:
                    yield shard, min(first["end"], second["end"]) - second["start"]
