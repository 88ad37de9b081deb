"""`poller demo`: the daemon on an embedded AWS endpoint, fed sample traffic and watched live.

`run_demo()` starts a Daemon with the configuration in poller/demo.yaml (stream checkpoints in a
temporary directory) and, over SEND_SECONDS, sends MESSAGES sample orders to an SQS queue (every
POISON_EVERY-th is poison), puts CLICKS click records on a Kinesis stream and makes
len(INVENTORY_WRITES) changes to a DynamoDB table. It prints a status line every second and,
once everything settled, a summary. Settled: every order sent was either deleted after the
handler succeeded with it or moved to the dead-letter queue, and every click record and every
inventory change reached its handler in a successful invocation.
It then stops the daemon gracefully. Exit codes: 0 when everything settled, 1 when it had not
after DEADLINE_SECONDS, 2 when the daemon could not start (moto missing: the `local` extra),
130 on Ctrl-C.
"""

from __future__ import annotations

import json
import socket
import sys
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import aioboto3
import anyio

from poller import demo_stream_handlers
from poller.config import (
    HttpConfig,
    MappingConfig,
    PollerConfig,
    StateConfig,
    StreamMappingConfig,
)
from poller.daemon import Daemon
from poller.errors import StartupError, leaves
from poller.loader import parse_config
from poller.local import LOCAL_CREDENTIALS
from poller.telemetry.logging import configure
from poller.telemetry.metrics import Metrics

MESSAGES = 60
SEND_SECONDS = 8.0
POISON_EVERY = 10
CLICKS = 200
CLICK_USERS = 20
CLICKS_PER_PUT = 10  # records per PutRecords call
PAGES = ("/", "/search", "/product", "/cart", "/checkout")
SKUS = 12
DEADLINE_SECONDS = 50.0
STATUS_SECONDS = 1.0
FALLBACK_LISTEN = "127.0.0.1:0"
# The functions of poller/demo.yaml, one per mapping.
ORDERS, CLICKS_FN, INVENTORY = "orders", "clicks", "inventory"
EVENT_NAMES = {"put": "INSERT", "update": "MODIFY", "delete": "REMOVE"}


def demo_config() -> PollerConfig:
    """The demo's configuration (poller/demo.yaml, shipped in the package), parsed and
    validated like any config file, without ${VAR} expansion."""
    text = resources.files("poller").joinpath("demo.yaml").read_text(encoding="utf-8")
    return parse_config(text, {}, source="poller/demo.yaml")


def port_available(host: str, port: int) -> bool:
    """Whether a TCP listener could bind host:port right now (SO_REUSEADDR, as aiohttp binds)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def with_free_http_port(config: PollerConfig) -> PollerConfig:
    """`config` unchanged if its HTTP port can be bound, else listening on FALLBACK_LISTEN."""
    http = config.http
    if not http.enabled or http.port == 0 or port_available(http.host, http.port):
        return config
    return config.model_copy(update={"http": HttpConfig(listen=FALLBACK_LISTEN)})


def with_state_in(config: PollerConfig, directory: Path) -> PollerConfig:
    """`config` with its checkpoint store in `directory` (the demo's temporary directory)."""
    return config.model_copy(update={"state": StateConfig(path=str(directory / "state.db"))})


def mapping_of(config: PollerConfig, function: str) -> MappingConfig:
    """The (first) mapping that invokes `function`."""
    return next(m for m in config.mappings if m.function == function)


def stream_mapping_of(config: PollerConfig, function: str) -> StreamMappingConfig:
    """The (first) mapping that invokes `function`, which reads a stream."""
    mapping = mapping_of(config, function)
    assert isinstance(mapping, StreamMappingConfig)
    return mapping


# -- the traffic -------------------------------------------------------------------------------


def is_poison(index: int) -> bool:
    """Whether the index-th sample message (0-based) is poison: one in POISON_EVERY."""
    return index % POISON_EVERY == POISON_EVERY - 1


def order_body(index: int) -> str:
    """The index-th sample message body: a valid order, or (is_poison) a negative amount or
    a body that is not JSON, alternately."""
    if is_poison(index) and (index // POISON_EVERY) % 2 == 0:
        return json.dumps({"order_id": index, "amount": -1})
    if is_poison(index):
        return f"order #{index}, but not JSON"
    return json.dumps({"order_id": index, "amount": round(5 + index * 7.31 % 90, 2)})


def click_record(index: int) -> dict[str, Any]:
    """The index-th click as a PutRecords entry: partition key = user (all CLICK_USERS of them,
    some far busier than others), data = a JSON object."""
    user = f"user-{int(CLICK_USERS * (index * 0.618034 % 1) ** 1.5):02d}"
    click = {"click": index, "user": user, "page": PAGES[index * 7 % len(PAGES)]}
    return {"PartitionKey": user, "Data": json.dumps(click).encode()}


def click_puts() -> list[list[dict[str, Any]]]:
    """The CLICKS click records in PutRecords calls of CLICKS_PER_PUT."""
    records = [click_record(index) for index in range(CLICKS)]
    return [records[i : i + CLICKS_PER_PUT] for i in range(0, CLICKS, CLICKS_PER_PUT)]


@dataclass(frozen=True, slots=True)
class InventoryWrite:
    """One write to the demo's table: an item put, its stock updated, or the item deleted."""

    action: Literal["put", "update", "delete"]
    sku: str
    stock: int = 0

    @property
    def event_name(self) -> str:
        """The eventName of the stream record the write produces."""
        return EVENT_NAMES[self.action]

    def request(self, table: str) -> tuple[str, dict[str, Any]]:
        """The DynamoDB client method and its arguments."""
        key = {"sku": {"S": self.sku}}
        if self.action == "put":
            return "put_item", {"TableName": table, "Item": {**key, "stock": self.stock_value}}
        if self.action == "update":
            return "update_item", {
                "TableName": table,
                "Key": key,
                "UpdateExpression": "SET stock = :stock",
                "ExpressionAttributeValues": {":stock": self.stock_value},
            }
        return "delete_item", {"TableName": table, "Key": key}

    @property
    def stock_value(self) -> dict[str, str]:
        return {"N": str(self.stock)}


def inventory_writes() -> list[InventoryWrite]:
    """SKUS items put, then each one's stock changed, then every third item deleted."""
    skus = [f"sku-{i:02d}" for i in range(SKUS)]
    return (
        [InventoryWrite("put", sku, 20 + 5 * i) for i, sku in enumerate(skus)]
        + [InventoryWrite("update", sku, 19 + 4 * i) for i, sku in enumerate(skus)]
        + [InventoryWrite("delete", sku) for sku in skus[2::3]]
    )


INVENTORY_WRITES = inventory_writes()


def event_counts(writes: Sequence[InventoryWrite]) -> Counter[str]:
    """Stream records per eventName that `writes` produce."""
    return Counter(write.event_name for write in writes)


def count_text(counts: Counter[str]) -> str:
    """`12 INSERT, 12 MODIFY, 4 REMOVE` (every event name, in that order)."""
    return ", ".join(f"{counts[name]} {name}" for name in EVENT_NAMES.values())


@dataclass(slots=True)
class Traffic:
    """What the senders have sent so far; updated as they go."""

    sent: int = 0
    poison: int = 0
    clicks: int = 0
    changes: int = 0


async def paced(count: int, send: Callable[[int], Awaitable[None]]) -> None:
    """Call `send(0)` ... `send(count - 1)` spread evenly over SEND_SECONDS."""
    started = time.monotonic()
    for index in range(count):
        await send(index)
        due = started + (index + 1) * SEND_SECONDS / count
        await anyio.sleep(max(0.0, due - time.monotonic()))


async def send_orders(client: Any, queue_url: str, traffic: Traffic) -> None:
    """Send the MESSAGES sample bodies, counting them in `traffic`."""

    async def send(index: int) -> None:
        await client.send_message(QueueUrl=queue_url, MessageBody=order_body(index))
        traffic.sent += 1
        traffic.poison += int(is_poison(index))

    await paced(MESSAGES, send)


async def put_clicks(client: Any, stream: str, traffic: Traffic) -> None:
    """Put the CLICKS click records, one PutRecords call at a time (moto's PutRecords is not
    thread-safe), counting those accepted in `traffic`."""
    puts = click_puts()

    async def send(index: int) -> None:
        response = await client.put_records(StreamName=stream, Records=puts[index])
        traffic.clicks += len(puts[index]) - response.get("FailedRecordCount", 0)

    await paced(len(puts), send)


async def write_inventory(client: Any, table: str, traffic: Traffic) -> None:
    """Make the INVENTORY_WRITES, counting them in `traffic`."""

    async def send(index: int) -> None:
        method, arguments = INVENTORY_WRITES[index].request(table)
        await getattr(client, method)(**arguments)
        traffic.changes += 1

    await paced(len(INVENTORY_WRITES), send)


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
    in_dlq: int  # messages in the dead-letter queue, visible or not
    clicks: StreamFigures
    inventory: StreamFigures
    elapsed: float

    def orders_settled(self, total: int) -> bool:
        """True once all `total` messages were sent and each is deleted or in the DLQ."""
        return self.sent >= total and self.handled + self.in_dlq >= total

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
    """Reads the daemon's counters for the demo's three mappings and the DLQ's depth."""

    def __init__(self, metrics: Metrics, config: PollerConfig, client: Any, dlq_url: str) -> None:
        self._metrics = metrics
        self._orders = labels_of(mapping_of(config, ORDERS))
        self._clicks = labels_of(mapping_of(config, CLICKS_FN))
        self._inventory = labels_of(mapping_of(config, INVENTORY))
        self._client = client
        self._dlq_url = dlq_url

    def counter(self, name: str, labels: dict[str, str]) -> int:
        """The current value of counter `name` (without `_total`) for a mapping; 0 if unset."""
        value = self._metrics.registry.get_sample_value(f"{name}_total", labels)
        return int(value or 0)

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
        shards = self._metrics.registry.get_sample_value("poller_shards_owned", labels)
        return StreamFigures(
            sent=sent,
            delivered=self.counter("poller_invoked_events", labels)
            - self.counter("poller_failed_invoke_events", labels),
            shards=int(shards or 0),
            iterator_age=self.largest_iterator_age(labels),
            checkpoints=self.counter("poller_checkpoints", labels),
        )

    async def dlq_depth(self) -> int:
        """ApproximateNumberOfMessages + ApproximateNumberOfMessagesNotVisible of the DLQ."""
        response = await self._client.get_queue_attributes(
            QueueUrl=self._dlq_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
            ],
        )
        return sum(int(value) for value in response["Attributes"].values())

    async def snapshot(self, traffic: Traffic, elapsed: float) -> Snapshot:
        """The counters now, with the senders' `traffic` and the caller's `elapsed` seconds."""
        return Snapshot(
            sent=traffic.sent,
            received=self.counter("poller_polled_events", self._orders),
            handled=self.counter("poller_deleted_events", self._orders),
            failed=self.counter("poller_failed_invoke_events", self._orders),
            in_dlq=await self.dlq_depth(),
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


def banner(config: PollerConfig, endpoint_url: str | None, http_port: int | None) -> str:
    """What runs and where: the three mappings, the embedded endpoint, the operations server,
    the traffic and how to read the status line."""
    sources = (("SQS queue", ORDERS), ("Kinesis stream", CLICKS_FN), ("DynamoDB table", INVENTORY))
    mappings = "".join(
        f"  {kind + ' ' + mapping_of(config, function).arn.resource_name:<30} -> function "
        f"{function:<10} ({config.functions[function].handler})\n"
        for kind, function in sources
    )
    return (
        f"poller demo: three event source mappings\n{mappings}"
        f"  embedded AWS endpoint  {endpoint_url}  (region {config.aws.region}, "
        "any credentials)\n"
        f"  Prometheus metrics     http://{config.http.host}:{http_port}/metrics  "
        "(also /healthz, /readyz)\n"
        + textwrap.fill(
            f"Sending over {SEND_SECONDS:.0f} s: {MESSAGES} orders (one in {POISON_EVERY} is "
            f"poison: a negative amount, or not JSON), {CLICKS} clicks from {CLICK_USERS} users "
            f"and {len(INVENTORY_WRITES)} inventory changes. In the status line, clicks and "
            "inventory are records delivered/sent, and age is the largest iterator age.",
            width=88,
        )
        + "\n"
    )


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
        (totals.orders - snap.handled - snap.in_dlq, "orders are neither deleted nor in the DLQ"),
        (totals.clicks - snap.clicks.delivered, "clicks were not delivered"),
        (totals.changes - snap.inventory.delivered, "inventory changes were not delivered"),
    ]
    return "; ".join(f"{count} {what}" for count, what in missing if count > 0)


def orders_story(config: PollerConfig) -> str:
    """What happened to the orders, for the summary of a demo that settled."""
    queue = config.embedded.queues[0]
    assert queue.dead_letter is not None
    dlq = queue.dead_letter
    return (
        "What happened: valid orders were handled once and deleted. The handler listed each "
        "poison message in batchItemFailures, so poller deleted the rest of its batch and left "
        f"the poison message in {queue.name}. It reappeared after the "
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
    paragraphs = (orders_story(config), streams_story(snap, config))
    return counts + "\n" + "\n\n".join(textwrap.fill(p, width=88) for p in paragraphs)


# -- running -----------------------------------------------------------------------------------


async def drive(daemon: Daemon, config: PollerConfig) -> bool:
    """Send the traffic and watch it settle; True when it did before DEADLINE_SECONDS."""
    print(banner(config, daemon.endpoint_url, daemon.http_port), flush=True)
    queue = config.embedded.queues[0]
    assert queue.dead_letter is not None
    stream = config.embedded.streams[0].name
    table = config.embedded.tables[0].name
    session = aioboto3.Session(region_name=config.aws.region, **LOCAL_CREDENTIALS)
    async with AsyncExitStack() as stack:
        sqs, kinesis, dynamodb = [
            await stack.enter_async_context(session.client(name, endpoint_url=daemon.endpoint_url))
            for name in ("sqs", "kinesis", "dynamodb")
        ]
        queue_url = (await sqs.get_queue_url(QueueName=queue.name))["QueueUrl"]
        dlq_url = (await sqs.get_queue_url(QueueName=queue.dead_letter.name))["QueueUrl"]
        probe = Probe(daemon.metrics, config, sqs, dlq_url)
        traffic = Traffic()
        async with anyio.create_task_group() as tg:
            tg.start_soon(send_orders, sqs, queue_url, traffic)
            tg.start_soon(put_clicks, kinesis, stream, traffic)
            tg.start_soon(write_inventory, dynamodb, table, traffic)
            snap = await watch(probe, traffic, time.monotonic(), DEADLINE_SECONDS)
            tg.cancel_scope.cancel()
    print(summary(snap, traffic, config, Tallies.read()), flush=True)
    return snap.settled(Totals())


async def run_daemon_with_traffic(config: PollerConfig) -> bool:
    """Start the daemon, drive the demo, then stop the daemon gracefully; True if settled."""
    daemon = Daemon(config, Path.cwd())
    async with anyio.create_task_group() as tg:
        await tg.start(daemon.run)
        try:
            settled = await drive(daemon, config)
        finally:
            daemon.stop()
    return settled


def run_to_end(config: PollerConfig) -> int:
    """Run the daemon with the demo traffic; returns the process exit code."""
    failures: list[BaseException] = []
    settled = False
    try:
        try:
            settled = anyio.run(run_daemon_with_traffic, config, backend="asyncio")
        except* StartupError as group:
            failures.extend(leaves(group))
    except KeyboardInterrupt:
        print("\npoller demo: interrupted", file=sys.stderr)
        return 130
    for exc in failures:
        print(f"poller demo: cannot start: {exc}", file=sys.stderr)
    if failures:
        return 2
    return 0 if settled else 1


def run_demo() -> int:
    """Run the demo to the end (well under a minute); returns the process exit code."""
    configure("warning", "console")
    planned = demo_config()
    config = with_free_http_port(planned)
    if config is not planned:
        print(f"poller demo: {planned.http.listen} is in use; serving metrics on a free port")
    with tempfile.TemporaryDirectory(prefix="poller-demo-") as state_dir:
        return run_to_end(with_state_in(config, Path(state_dir)))
