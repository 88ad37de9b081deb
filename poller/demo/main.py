"""`poller demo`: the daemon on an embedded AWS endpoint, fed sample traffic and watched live.

`run_demo()` starts a Daemon with the configuration in poller/demo/demo.yaml (the embedded endpoint
makes the daemon keep stream checkpoints in a temporary directory, so nothing is left behind)
and, over SEND_SECONDS, sends MESSAGES sample orders to an SQS queue (every POISON_EVERY-th is
poison), puts CLICKS click records on a Kinesis stream and makes len(INVENTORY_WRITES) changes
to a DynamoDB table (poller.demo.traffic). It prints a status line every second and, once
everything settled, a summary (poller.demo.report). Settled: every order sent was either
deleted after the handler succeeded with it or moved to the dead-letter queue, and every click
record and every inventory change reached its handler in a successful invocation.
It then stops the daemon gracefully. Exit codes: 0 when everything settled, 1 when it had not
after DEADLINE_SECONDS, 2 when the daemon could not start (moto missing: the `local` extra),
130 on Ctrl-C.
"""

from __future__ import annotations

import socket
import sys
import textwrap
import time
from contextlib import AsyncExitStack
from importlib import resources
from pathlib import Path

import aioboto3
import anyio

from poller.config.loader import parse_config
from poller.config.models import PollerConfig
from poller.config.settings import HttpConfig
from poller.daemon import Daemon
from poller.demo.report import (
    CLICKS_FN,
    DEADLINE_SECONDS,
    INVENTORY,
    ORDERS,
    Probe,
    Tallies,
    Totals,
    mapping_of,
    summary,
    watch,
)
from poller.demo.traffic import (
    CLICK_USERS,
    CLICKS,
    INVENTORY_WRITES,
    MESSAGES,
    POISON_EVERY,
    SEND_SECONDS,
    Traffic,
    put_clicks,
    send_orders,
    write_inventory,
)
from poller.errors import StartupError, leaves
from poller.local import LOCAL_CREDENTIALS
from poller.telemetry.logging import configure

FALLBACK_LISTEN = "127.0.0.1:0"


def demo_config() -> PollerConfig:
    """The demo's configuration (poller/demo/demo.yaml, shipped in the package), parsed and
    validated like any config file, without ${VAR} expansion."""
    text = resources.files("poller.demo").joinpath("demo.yaml").read_text(encoding="utf-8")
    return parse_config(text, {}, source="poller/demo/demo.yaml")


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
        probe = Probe(daemon.metrics, config, sqs, queue_url, dlq_url)
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
    return run_to_end(config)
