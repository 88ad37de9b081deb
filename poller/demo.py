"""`poller demo`: the daemon on an embedded AWS endpoint, fed sample orders and watched live.

`run_demo()` starts a Daemon with the configuration in poller/demo.yaml, sends MESSAGES sample
orders over SEND_SECONDS (every POISON_EVERY-th is poison), prints a status line every second
and, once every message sent was either deleted after the handler succeeded with it or moved to
the dead-letter queue, a summary.
It then stops the daemon gracefully. Exit codes: 0 when everything settled, 1 when it had not
after DEADLINE_SECONDS, 2 when the daemon could not start (moto missing: the `local` extra),
130 on Ctrl-C.
"""

from __future__ import annotations

import json
import socket
import sys
import textwrap
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import aioboto3
import anyio

from poller.config import HttpConfig, PollerConfig
from poller.daemon import Daemon
from poller.errors import StartupError, leaves
from poller.loader import parse_config
from poller.local import LOCAL_CREDENTIALS
from poller.telemetry.logging import configure
from poller.telemetry.metrics import Metrics

MESSAGES = 60
SEND_SECONDS = 8.0
POISON_EVERY = 10
DEADLINE_SECONDS = 50.0
STATUS_SECONDS = 1.0
FALLBACK_LISTEN = "127.0.0.1:0"


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


@dataclass(slots=True)
class Traffic:
    """What the sender has sent so far; updated as it goes."""

    sent: int = 0
    poison: int = 0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The demo's counters at one moment; `elapsed` counts from the first message sent."""

    sent: int
    received: int  # deliveries polled, retries included (poller_polled_events)
    handled: int  # deleted after the handler succeeded (poller_deleted_events)
    failed: int  # records in failed invocations or batchItemFailures (failed_invoke_events)
    in_dlq: int  # messages in the dead-letter queue, visible or not
    elapsed: float

    def settled(self, total: int) -> bool:
        """True once all `total` messages were sent and each is deleted or in the DLQ."""
        return self.sent >= total and self.handled + self.in_dlq >= total


class Probe:
    """Reads the daemon's counters for one mapping and the DLQ's depth."""

    def __init__(
        self, metrics: Metrics, mapping: str, function: str, client: Any, dlq_url: str
    ) -> None:
        self._metrics = metrics
        self._labels = {"mapping": mapping, "function": function}
        self._client = client
        self._dlq_url = dlq_url

    def counter(self, name: str) -> int:
        """The current value of counter `name` (without `_total`) for the mapping; 0 if unset."""
        value = self._metrics.registry.get_sample_value(f"{name}_total", self._labels)
        return int(value or 0)

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

    async def snapshot(self, sent: int, elapsed: float) -> Snapshot:
        """The counters now, with the sender's `sent` and the caller's `elapsed` seconds."""
        return Snapshot(
            sent=sent,
            received=self.counter("poller_polled_events"),
            handled=self.counter("poller_deleted_events"),
            failed=self.counter("poller_failed_invoke_events"),
            in_dlq=await self.dlq_depth(),
            elapsed=elapsed,
        )


def status_line(snap: Snapshot) -> str:
    """One line of the live view."""
    return (
        f"[{snap.elapsed:5.1f}s] sent {snap.sent:>2}/{MESSAGES} | received {snap.received:>3} | "
        f"handled OK {snap.handled:>2} | failed {snap.failed:>2} | in DLQ {snap.in_dlq:>2}"
    )


async def send_orders(client: Any, queue_url: str, traffic: Traffic) -> None:
    """Send the MESSAGES sample bodies evenly over SEND_SECONDS, counting them in `traffic`."""
    started = time.monotonic()
    for index in range(MESSAGES):
        await client.send_message(QueueUrl=queue_url, MessageBody=order_body(index))
        traffic.sent += 1
        traffic.poison += int(is_poison(index))
        due = started + (index + 1) * SEND_SECONDS / MESSAGES
        await anyio.sleep(max(0.0, due - time.monotonic()))


async def watch(probe: Probe, traffic: Traffic, started: float, deadline: float) -> Snapshot:
    """Print a status line every STATUS_SECONDS; return the snapshot that settled or, failing
    that, the first one taken at or after `deadline` seconds past `started` (monotonic)."""
    while True:
        await anyio.sleep(STATUS_SECONDS)
        snap = await probe.snapshot(traffic.sent, time.monotonic() - started)
        print(status_line(snap), flush=True)
        if snap.settled(MESSAGES) or snap.elapsed >= deadline:
            return snap


def print_banner(daemon: Daemon, config: PollerConfig) -> None:
    """Say what runs and where: the embedded endpoint and the operations server."""
    mapping = config.mappings[0]
    function = config.functions[mapping.function]
    print(
        f"poller demo: SQS queue {mapping.arn.resource_name} -> function {mapping.function} "
        f"({function.handler})\n"
        f"  embedded AWS endpoint  {daemon.endpoint_url}  (region {config.aws.region}, "
        "any credentials)\n"
        f"  Prometheus metrics     http://{config.http.host}:{daemon.http_port}/metrics  "
        "(also /healthz, /readyz)\n"
        f"Sending {MESSAGES} orders over {SEND_SECONDS:.0f} s; one in {POISON_EVERY} is poison "
        "(a negative amount, or not JSON).\n",
        flush=True,
    )


def summary(snap: Snapshot, traffic: Traffic, config: PollerConfig) -> str:
    """The closing report: the counts, then what happened to the poison messages and why."""
    queue = config.embedded.queues[0]
    assert queue.dead_letter is not None
    dlq = queue.dead_letter
    counts = (
        f"\nSummary after {snap.elapsed:.1f} s:\n"
        f"  sent        {snap.sent} orders ({traffic.poison} poison)\n"
        f"  received    {snap.received} (every delivery polled, retries included)\n"
        f"  handled OK  {snap.handled} (the handler succeeded; deleted from {queue.name})\n"
        f"  failed      {snap.failed} (records listed in batchItemFailures or in a failed "
        "invocation)\n"
        f"  in DLQ      {snap.in_dlq} (moved to {dlq.name})\n"
    )
    if not snap.settled(MESSAGES):
        return counts + (
            f"\nNot settled after {DEADLINE_SECONDS:.0f} s: "
            f"{max(0, MESSAGES - snap.handled - snap.in_dlq)} messages are neither deleted "
            "nor in the DLQ."
        )
    story = (
        "What happened: valid orders were handled once and deleted. The handler listed each "
        "poison message in batchItemFailures, so poller deleted the rest of its batch and left "
        f"the poison message in {queue.name}. It reappeared after the "
        f"{queue.visibility_timeout} s visibility timeout and failed again; after "
        f"{dlq.max_receive_count} failed receives the queue's redrive policy (maxReceiveCount "
        f"{dlq.max_receive_count}) moved it to {dlq.name}, where it waits to be inspected or "
        "redriven. Every message is accounted for."
    )
    return counts + "\n" + textwrap.fill(story, width=88)


async def drive(daemon: Daemon, config: PollerConfig) -> bool:
    """Send the traffic and watch it settle; True when it did before DEADLINE_SECONDS."""
    print_banner(daemon, config)
    queue = config.embedded.queues[0]
    assert queue.dead_letter is not None
    mapping = config.mappings[0]
    session = aioboto3.Session(region_name=config.aws.region, **LOCAL_CREDENTIALS)
    async with session.client("sqs", endpoint_url=daemon.endpoint_url) as client:
        queue_url = (await client.get_queue_url(QueueName=queue.name))["QueueUrl"]
        dlq_url = (await client.get_queue_url(QueueName=queue.dead_letter.name))["QueueUrl"]
        probe = Probe(daemon.metrics, mapping.display_name, mapping.function, client, dlq_url)
        traffic = Traffic()
        async with anyio.create_task_group() as tg:
            tg.start_soon(send_orders, client, queue_url, traffic)
            snap = await watch(probe, traffic, time.monotonic(), DEADLINE_SECONDS)
            tg.cancel_scope.cancel()
    print(summary(snap, traffic, config), flush=True)
    return snap.settled(MESSAGES)


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


def run_demo() -> int:
    """Run the demo to the end (well under a minute); returns the process exit code."""
    configure("warning", "console")
    planned = demo_config()
    config = with_free_http_port(planned)
    if config is not planned:
        print(f"poller demo: {planned.http.listen} is in use; serving metrics on a free port")
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
