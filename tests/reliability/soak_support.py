"""The soak's parts: a `poller run` child's resource samples, their slopes, its configs and its
traffic (see test_soak.py)."""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from fault_proxy import FaultPlan, plan
from sqs_support import REGION, queue_arn, scrape, send
from stream_support import put, stream_arn

HERE = Path(__file__).parent


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading of the daemon's resources, `at` seconds into the soak."""

    at: float
    rss_mb: float
    threads: float
    fds: float
    sockets: float
    tasks: float


SERIES = tuple(f.name for f in fields(Sample) if f.name != "at")


def sample(pid: int, port: int, at: float) -> Sample:
    """Read /proc/<pid> (VmRSS, Threads, fd/ and its sockets) and the daemon's
    poller_asyncio_tasks gauge."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    values = dict(line.split(":", 1) for line in status if ":" in line)
    rss_kb = int(values["VmRSS"].split()[0])
    links = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            links.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except FileNotFoundError:  # closed since the listing
            continue
    tasks = scrape(port, "poller_asyncio_tasks")
    return Sample(
        at=at,
        rss_mb=rss_kb / 1024,
        threads=float(values["Threads"]),
        fds=float(len(links)),
        sockets=float(sum(link.startswith("socket:") for link in links)),
        tasks=tasks,
    )


def slope_per_minute(samples: list[Sample], series: str) -> float:
    """The least-squares slope of `series` over time, per minute."""
    xs = [s.at / 60 for s in samples]
    ys = [float(getattr(s, series)) for s in samples]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    assert spread > 0, "a slope needs samples at two times at least"
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread


def summary(samples: list[Sample], slopes: dict[str, float]) -> str:
    """One line: each series' first, last and slope per minute."""
    first, last = samples[0], samples[-1]
    parts = [
        f"{name} {getattr(first, name):.1f}->{getattr(last, name):.1f} ({slopes[name]:+.2f}/min)"
        for name in SERIES
    ]
    return "; ".join(parts)


# The fault proxy's plans, in turn: none, a mix of every kind, a full outage.
def phases(rate: float) -> list[tuple[str, FaultPlan, float]]:
    """(name, plan, share of one cycle). The outage resets or refuses every call, as an
    unreachable or failing endpoint does; it is short, as outages that the soak survives are."""
    return [
        ("none", FaultPlan(), 0.4),
        ("mix", plan(rate), 0.45),
        ("outage", plan(1.0, ["reset_before", "http_503"]), 0.15),
    ]


@dataclass(frozen=True, slots=True)
class Sources:
    """The soak's event sources (names on the server, ARNs for the config)."""

    standard: str
    fifo: str
    spare: str
    stream: str
    table: str
    table_stream_arn: str

    def mappings(self, reload: int) -> str:
        """The mappings of the `reload`-th configuration (0 at start). Each reload restarts the
        standard queue's mapping (its batch size changes) and adds or removes the spare queue's;
        every other one also restarts the Kinesis mapping (from its checkpoint). The FIFO and
        DynamoDB mappings never change: they run through every reload untouched."""
        standard_batch = (10, 5)[reload % 2]
        kinesis_batch = (100, 50)[(reload // 2) % 2]
        text = textwrap.dedent(f"""\
            - function: fn
              event_source_arn: "{queue_arn(self.standard)}"
              batch_size: {standard_batch}
              function_response_types: [ReportBatchItemFailures]
            - function: fn
              event_source_arn: "{queue_arn(self.fifo)}"
              function_response_types: [ReportBatchItemFailures]
            - function: fn
              event_source_arn: "{stream_arn(self.stream)}"
              starting_position: TRIM_HORIZON
              batch_size: {kinesis_batch}
              shard_refresh_seconds: 2
              maximum_retry_attempts: 5
              function_response_types: [ReportBatchItemFailures]
            - function: fn
              event_source_arn: "{self.table_stream_arn}"
              starting_position: TRIM_HORIZON
              shard_refresh_seconds: 2
              maximum_retry_attempts: 5
              function_response_types: [ReportBatchItemFailures]
            """)
        if reload % 2 == 0:
            text += f'- function: fn\n  event_source_arn: "{queue_arn(self.spare)}"\n'
        return text


def soak_config(proxy_url: str, state: Path, sources: Sources, reload: int) -> str:
    """The whole config: every AWS call through the fault proxy, with a 2 s read timeout so
    that `slow` faults end soon (an SQS long poll waits 20 s + 2 s)."""
    head = textwrap.dedent(f"""\
        aws: {{region: {REGION}, endpoint_url: "{proxy_url}", read_timeout: 2}}
        http: {{listen: "127.0.0.1:0"}}
        logging: {{format: json}}
        state: {{path: "{state}"}}
        shutdown_timeout: 10
        shutdown_receives: cancel
        functions:
          fn:
            handler: "soak_handlers:handler"
            timeout: 5
            code_uri: "{HERE}"
        mappings:
        """)
    return head + textwrap.indent(sources.mappings(reload), "  ")


class Producer:
    """Writes a few records to every source per tick, straight to the server (not through the
    proxy: the faults are poller's to meet). Ids are "<source>-<n>"; `final` ones "final-..."."""

    def __init__(self, sqs: Any, kinesis: Any, dynamodb: Any, sources: Sources) -> None:
        self.sqs, self.kinesis, self.dynamodb = sqs, kinesis, dynamodb
        self.sources = sources
        self.urls = {
            name: sqs.get_queue_url(QueueName=name)["QueueUrl"]
            for name in (sources.standard, sources.fifo, sources.spare)
        }
        self.sent = 0

    def tick(self, n: int, prefix: str = "") -> list[str]:
        """Send one round: 3 standard, 2 FIFO (3 groups), 1 spare, 5 Kinesis records (one
        PutRecords: moto's put is not thread-safe, so one caller) and 2 DynamoDB items.
        Returns the ids sent to the four mappings that never go away."""
        s = self.sources
        standard = [f"{prefix}std-{n}-{i}" for i in range(3)]
        fifo = [f"{prefix}fifo-{n}-{i}" for i in range(2)]
        records = [f"{prefix}kin-{n}-{i}" for i in range(5)]
        items = [f"{prefix}ddb-{n}-{i}" for i in range(2)]
        send(self.sqs, self.urls[s.standard], standard)
        for body in fifo:
            self.sqs.send_message(
                QueueUrl=self.urls[s.fifo],
                MessageBody=body,
                MessageGroupId=f"g{n % 3}",
                MessageDeduplicationId=body,
            )
        send(self.sqs, self.urls[s.spare], [f"{prefix}spare-{n}"])
        put(self.kinesis, s.stream, [(f"k{i}", data) for i, data in enumerate(records)])
        for item in items:
            self.dynamodb.put_item(TableName=s.table, Item={"pk": {"S": item}, "sk": {"N": str(n)}})
        sent = standard + fifo + records + items
        self.sent += len(sent) + 1
        return sent
