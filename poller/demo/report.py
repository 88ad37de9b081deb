"""What `poller demo` shows: the daemon's counters read live, the status line and the summary.

Read-only: the figures come from the daemon's Prometheus registry and the queues' attributes.
"""

from __future__ import annotations

import textwrap
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import anyio

from poller.config.models import MappingConfig, PollerConfig, StreamMappingConfig
from poller.demo import stream_handlers as demo_stream_handlers
from poller.demo.traffic import (
    CLICK_USERS,
    CLICKS,
    INVENTORY_WRITES,
    MESSAGES,
    Traffic,
    count_text,
    event_counts,
)
from poller.sources.sqs import queue_depth
from poller.telemetry.metrics import Metrics

DEADLINE_SECONDS = 50.0  # the demo gives up when not settled by then
STATUS_SECONDS = 1.0  # between status lines
# The functions of poller/demo/demo.yaml, one per mapping.
ORDERS, CLICKS_FN, INVENTORY = "orders", "clicks", "inventory"


def mapping_of(config: PollerConfig, function: str) -> MappingConfig:
    """The (first) mapping that invokes `function`."""
    return next(m for m in config.mappings if m.function == function)


def stream_mapping_of(config: PollerConfig, function: str) -> StreamMappingConfig:
    """The (first) mapping that invokes `function`, which reads a stream."""
    mapping = mapping_of(config, function)
    assert isinstance(mapping, StreamMappingConfig)
    return mapping


# -- watching ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Totals:
    """What the demo sends in all."""

    orders: int = MESSAGES
    clicks: int = CLICKS
    changes: int = len(INVENTORY_WRITES)


@dataclass(frozen=True, slots=True)
class StreamFigures:
    """One stream mapping's counters at one moment."""

    sent: int  # records put or item changes made so far
    delivered: int  # records in invocations that succeeded (invoked_events - failed_invoke_events)
    shards: int  # shards being read (poller_shards_owned)
    iterator_age: float  # the largest poller_iterator_age_seconds over its shards
    checkpoints: int  # poller_checkpoints

    def settled(self, total: int) -> bool:
        """True once all `total` records were sent and delivered."""
        return self.sent >= total and self.delivered >= total


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The demo's counters at one moment; `elapsed` counts from the first message sent."""

    sent: int
    received: int  # deliveries polled, retries included (poller_polled_events)
    handled: int  # deleted after the handler succeeded (poller_deleted_events)
    failed: int  # records in failed invocations or batchItemFailures (failed_invoke_events)
    in_queue: int  # messages still in the orders queue, visible or not (read before in_dlq)
    in_dlq: int  # messages in the dead-letter queue, visible or not
    clicks: StreamFigures
    inventory: StreamFigures
    elapsed: float

    def orders_settled(self, total: int) -> bool:
        """True once all `total` messages were sent and none is left in the queue: each was
        deleted or moved to the DLQ. (Not `handled + in_dlq`: a message delivered twice, which
        a standard queue may do, is deleted twice and would settle the count early.)"""
        return self.sent >= total and self.in_queue == 0

    @property
    def handled_twice(self) -> int:
        """Deletions beyond one per message that left the queue other than to the DLQ."""
        return max(0, self.handled - (self.sent - self.in_queue - self.in_dlq))

    def settled(self, totals: Totals) -> bool:
        """True once every order, click and inventory change is accounted for."""
        return (
            self.orders_settled(totals.orders)
            and self.clicks.settled(totals.clicks)
            and self.inventory.settled(totals.changes)
        )


def labels_of(mapping: MappingConfig) -> dict[str, str]:
    """A mapping's metric labels."""
    return {"mapping": mapping.display_name, "function": mapping.function}


class Probe:
    """Reads the daemon's counters for the demo's three mappings and the queues' depths."""

    def __init__(
        self, metrics: Metrics, config: PollerConfig, client: Any, queue_url: str, dlq_url: str
    ) -> None:
        self._metrics = metrics
        self._orders = labels_of(mapping_of(config, ORDERS))
        self._clicks = labels_of(mapping_of(config, CLICKS_FN))
        self._inventory = labels_of(mapping_of(config, INVENTORY))
        self._client = client
        self._queue_url = queue_url
        self._dlq_url = dlq_url

    def counter(self, name: str, labels: dict[str, str]) -> int:
        """The current value of counter `name` (without `_total`) for a mapping; 0 if unset."""
        return int(self._metrics.value(f"{name}_total", **labels))

    def largest_iterator_age(self, labels: dict[str, str]) -> float:
        """The largest poller_iterator_age_seconds over a mapping's shards; 0 before any."""
        ages = [
            sample.value
            for family in self._metrics.iterator_age.collect()
            for sample in family.samples
            if labels.items() <= sample.labels.items()
        ]
        return max(ages, default=0.0)

    def stream(self, labels: dict[str, str], sent: int) -> StreamFigures:
        """A stream mapping's figures now, with the sender's `sent`."""
        shards = self._metrics.value("poller_shards_owned", **labels)
        return StreamFigures(
            sent=sent,
            delivered=self.counter("poller_invoked_events", labels)
            - self.counter("poller_failed_invoke_events", labels),
            shards=int(shards or 0),
            iterator_age=self.largest_iterator_age(labels),
            checkpoints=self.counter("poller_checkpoints", labels),
        )

    async def snapshot(self, traffic: Traffic, elapsed: float) -> Snapshot:
        """The counters now, with the senders' `traffic` and the caller's `elapsed` seconds."""
        return Snapshot(
            sent=traffic.sent,
            received=self.counter("poller_polled_events", self._orders),
            handled=self.counter("poller_deleted_events", self._orders),
            failed=self.counter("poller_failed_invoke_events", self._orders),
            # The queue before the DLQ: a message on its way between them is then in one.
            in_queue=await queue_depth(self._client, self._queue_url),
            in_dlq=await queue_depth(self._client, self._dlq_url),
            clicks=self.stream(self._clicks, traffic.clicks),
            inventory=self.stream(self._inventory, traffic.changes),
            elapsed=elapsed,
        )


def status_line(snap: Snapshot, totals: Totals = Totals()) -> str:
    """One line of the live view."""
    age = max(snap.clicks.iterator_age, snap.inventory.iterator_age)
    return (
        f"[{snap.elapsed:5.1f}s] orders sent {snap.sent:>2}/{totals.orders}, received "
        f"{snap.received:>2}, OK {snap.handled:>2}, failed {snap.failed:>2}, DLQ {snap.in_dlq} | "
        f"clicks {snap.clicks.delivered:>3}/{snap.clicks.sent:>3} | "
        f"inventory {snap.inventory.delivered:>2}/{snap.inventory.sent:>2} | age {age:.1f}s"
    )


async def watch(probe: Probe, traffic: Traffic, started: float, deadline: float) -> Snapshot:
    """Print a status line every STATUS_SECONDS; return the snapshot that settled or, failing
    that, the first one taken at or after `deadline` seconds past `started` (monotonic)."""
    while True:
        await anyio.sleep(STATUS_SECONDS)
        snap = await probe.snapshot(traffic, time.monotonic() - started)
        print(status_line(snap), flush=True)
        if snap.settled(Totals()) or snap.elapsed >= deadline:
            return snap


# -- what the user reads -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tallies:
    """What the stream handlers themselves counted (their module-level totals)."""

    clicks_by_key: Counter[str]
    changes_by_event: Counter[str]

    @classmethod
    def read(cls) -> Tallies:
        return cls(
            Counter(demo_stream_handlers.clicks_by_key),
            Counter(demo_stream_handlers.changes_by_event),
        )


def shards_text(count: int) -> str:
    """`1 shard`, `2 shards`."""
    return f"{count} shard" if count == 1 else f"{count} shards"


def orders_summary(snap: Snapshot, traffic: Traffic, config: PollerConfig) -> str:
    """The summary's SQS figures."""
    queue = config.embedded.queues[0]
    assert queue.dead_letter is not None
    return (
        f"  SQS queue {queue.name} -> {ORDERS}\n"
        f"    sent        {snap.sent} orders ({traffic.poison} poison)\n"
        f"    received    {snap.received} (every delivery polled, retries included)\n"
        f"    handled OK  {snap.handled} (the handler succeeded; deleted from {queue.name})\n"
        f"    failed      {snap.failed} (records listed in batchItemFailures or in a failed "
        "invocation)\n"
        f"    in DLQ      {snap.in_dlq} (moved to {queue.dead_letter.name})\n"
    )


def streams_summary(snap: Snapshot, tallies: Tallies, config: PollerConfig) -> str:
    """The summary's Kinesis and DynamoDB figures, with what the handlers counted."""
    clicks, inventory = snap.clicks, snap.inventory
    mapping = stream_mapping_of(config, CLICKS_FN)
    handler_clicks = tallies.clicks_by_key
    return (
        f"  Kinesis stream {mapping.arn.resource_name} -> {CLICKS_FN} "
        f"({shards_text(clicks.shards)}, {mapping.parallelization_factor} lanes each)\n"
        f"    put         {clicks.sent} clicks from {CLICK_USERS} users\n"
        f"    delivered   {clicks.delivered} (the handler counted "
        f"{handler_clicks.total()} clicks from {len(handler_clicks)} users)\n"
        f"    max age     {clicks.iterator_age:.1f} s (iterator age of the latest batch)\n"
        f"  DynamoDB table {mapping_of(config, INVENTORY).arn.resource_name} -> {INVENTORY} "
        f"({shards_text(inventory.shards)})\n"
        f"    changed     {inventory.sent} times "
        f"(expecting {count_text(event_counts(INVENTORY_WRITES))})\n"
        f"    delivered   {inventory.delivered} (the handler counted "
        f"{count_text(tallies.changes_by_event)})\n"
        f"    max age     {inventory.iterator_age:.1f} s (iterator age of the latest batch)\n"
    )


def unsettled(snap: Snapshot, totals: Totals) -> str:
    """What is still missing, for the summary of a demo that did not settle."""
    missing = [
        (
            totals.orders - snap.sent + snap.in_queue,
            "orders are neither deleted nor in the DLQ",
        ),
        (totals.clicks - snap.clicks.delivered, "clicks were not delivered"),
        (totals.changes - snap.inventory.delivered, "inventory changes were not delivered"),
    ]
    return "; ".join(f"{count} {what}" for count, what in missing if count > 0)


def orders_story(snap: Snapshot, config: PollerConfig) -> str:
    """What happened to the orders, for the summary of a demo that settled."""
    queue = config.embedded.queues[0]
    assert queue.dead_letter is not None
    dlq = queue.dead_letter
    twice = snap.handled_twice
    duplicates = (
        f" {twice} of them {'was' if twice == 1 else 'were'} delivered, handled and deleted "
        "twice: a standard queue delivers at least once, so handlers must be idempotent."
        if twice
        else ""
    )
    return (
        f"What happened: valid orders were handled and deleted.{duplicates} The handler listed "
        "each poison message in batchItemFailures, so poller deleted the rest of its batch and "
        f"left the poison message in {queue.name}. It reappeared after the "
        f"{queue.visibility_timeout} s visibility timeout and failed again; after "
        f"{dlq.max_receive_count} failed receives the queue's redrive policy (maxReceiveCount "
        f"{dlq.max_receive_count}) moved it to {dlq.name}, where it waits to be inspected or "
        "redriven. Every message is accounted for."
    )


def streams_story(snap: Snapshot, config: PollerConfig) -> str:
    """What happened to the stream records, for the summary of a demo that settled."""
    clicks = stream_mapping_of(config, CLICKS_FN)
    lanes = clicks.parallelization_factor
    checkpoints = snap.clicks.checkpoints + snap.inventory.checkpoints
    return (
        "Each shard of the stream and of the table's stream was read in order, from "
        f"{clicks.starting_position}. Each Kinesis shard fed {lanes} lanes "
        f"(ParallelizationFactor {lanes}), split by partition key, so batches ran concurrently "
        "while each user's clicks stayed in order. After every successful batch poller saved "
        f"its shard's checkpoint ({checkpoints} in all, in a temporary SQLite file): a restart "
        "would resume after the last settled record. Every click and every inventory change "
        "was delivered."
    )


def summary(snap: Snapshot, traffic: Traffic, config: PollerConfig, tallies: Tallies) -> str:
    """The closing report: the counts per source, then what happened and why."""
    counts = (
        f"\nSummary after {snap.elapsed:.1f} s:\n"
        + orders_summary(snap, traffic, config)
        + streams_summary(snap, tallies, config)
    )
    totals = Totals()
    if not snap.settled(totals):
        missing = f"Not settled after {DEADLINE_SECONDS:.0f} s: {unsettled(snap, totals)}."
        return counts + "\n" + textwrap.fill(missing, width=88)
    paragraphs = (orders_story(snap, config), streams_story(snap, config))
    return counts + "\n" + "\n\n".join(textwrap.fill(p, width=88) for p in paragraphs)
