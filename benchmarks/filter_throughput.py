"""Event filtering throughput: records per second through poller's filters, in one process.

Five realistic filters (exact, numeric range, prefix, anything-but, equals-ignore-case, `$or`,
exists, metadata) are compiled once; N pre-built Lambda event records (half of them kept) go
through `kinesis_keep` (base64 + JSON decode of `data`, then matching), `sqs_keep` (JSON decode
of `body`, then matching), and `Criteria.keep` on the same payloads already parsed (matching
alone). The report gives the median, min and max records/s over the repeats and ns per record.

    python benchmarks/filter_throughput.py [--records 100000] [--repeats 5]
    python benchmarks/filter_throughput.py --quick        # smoke run: 10,000 records, 3 repeats
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from poller.events import kinesis, sqs
from poller.filtering.criteria import Criteria
from poller.filtering.pattern import compile_pattern
from poller.filtering.records import kinesis_keep, sqs_keep

STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/orders"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:orders"
ROLE_ARN = "arn:aws:iam::123456789012:role/poller"
REGION = "us-east-1"
ARRIVED = datetime(2025, 11, 25, 15, 47, 40, tzinfo=UTC)

# `{key}` is the data key: `data` for Kinesis, `body` for SQS; `{meta}` a metadata filter.
FILTERS = (
    '{{"{key}": {{"type": ["order"], "amount": [{{"numeric": [">", 100, "<=", 10000]}}]}}}}',
    '{{"{key}": {{"region": [{{"prefix": "eu-"}}], '
    '"status": [{{"anything-but": ["cancelled", "failed"]}}]}}}}',
    '{{"{key}": {{"customer": {{"tier": [{{"equals-ignore-case": "gold"}}]}}}}}}',
    '{{"{key}": {{"$or": [{{"priority": ["high"]}}, {{"tags": ["urgent"]}}]}}}}',
    '{{{meta}, "{key}": {{"deleted": [{{"exists": false}}]}}}}',
)
KINESIS_META = '"kinesis": {"partitionKey": [{"prefix": "vip-"}]}'
SQS_META = '"messageAttributes": {"channel": {"stringValue": [{"prefix": "vip-"}]}}'


def payload(index: int) -> tuple[dict[str, Any], bool]:
    """An order event; even indexes are kept, each by one of the five filters in turn."""
    event: dict[str, Any] = {
        "id": f"evt-{index:08d}",
        "type": "refund",
        "amount": 50.25,
        "region": "us-east-1",
        "status": "failed",
        "customer": {"id": f"c-{index % 977}", "tier": "silver"},
        "priority": "low",
        "tags": ["normal", "web"],
        "deleted": True,
    }
    kept = index % 2 == 0
    if kept:
        which = (index // 2) % 5
        if which == 0:
            event.update(type="order", amount=250.5)
        elif which == 1:
            event.update(region="eu-west-1", status="shipped")
        elif which == 2:
            event["customer"]["tier"] = "GOLD"
        elif which == 3:
            event["tags"] = ["web", "urgent"]
        else:
            del event["deleted"]
    return event, kept


def channel(index: int) -> str:
    return f"vip-{index}" if index % 2 == 0 and (index // 2) % 5 == 4 else f"std-{index}"


def kinesis_records(count: int) -> list[dict[str, Any]]:
    records = []
    for index in range(count):
        api_record = {
            "SequenceNumber": str(49_000_000_000 + index),
            "ApproximateArrivalTimestamp": ARRIVED,
            "Data": json.dumps(payload(index)[0]).encode(),
            "PartitionKey": channel(index),
        }
        records.append(
            kinesis.build_record(api_record, "shardId-000000000000", STREAM_ARN, REGION, ROLE_ARN)
        )
    return records


def sqs_records(count: int) -> list[dict[str, Any]]:
    records = []
    for index in range(count):
        message = {
            "MessageId": f"m-{index}",
            "ReceiptHandle": f"rh-{index}",
            "Body": json.dumps(payload(index)[0]),
            "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1764085660000"},
            "MessageAttributes": {"channel": {"StringValue": channel(index), "DataType": "String"}},
            "MD5OfBody": "0" * 32,
        }
        records.append(sqs.build_record(message, QUEUE_ARN, REGION))
    return records


def criteria_for(key: str, meta: str) -> Criteria:
    return Criteria(compile_pattern(text.format(key=key, meta=meta)) for text in FILTERS)


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    records: int
    kept: int
    rates: list[float]  # records/s, one per repeat

    @property
    def median(self) -> float:
        return statistics.median(self.rates)


def measure(
    name: str, keep: Callable[[Any], bool], documents: Sequence[Any], repeats: int
) -> Result:
    """Run `keep` over every document `repeats` times (GC off while timed)."""
    rates: list[float] = []
    kept = 0
    for _ in range(repeats):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            kept = sum(1 for document in documents if keep(document))
            elapsed = time.perf_counter() - start
        finally:
            gc.enable()
        rates.append(len(documents) / elapsed)
    return Result(name, len(documents), kept, rates)


def table(results: Sequence[Result]) -> str:
    header = f"{'path':<34}{'kept':>9}{'median rec/s':>14}{'min':>11}{'max':>11}{'ns/rec':>9}"
    rows = [
        f"{r.name:<34}{r.kept:>9,}{r.median:>14,.0f}{min(r.rates):>11,.0f}"
        f"{max(r.rates):>11,.0f}{1e9 / r.median:>9,.0f}"
        for r in results
    ]
    return "\n".join([header, *rows])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, help="records per run (100,000; --quick 10,000)")
    parser.add_argument("--repeats", type=int, help="timed runs per path (5; --quick 3)")
    parser.add_argument("--quick", action="store_true", help="smoke run: fewer records, repeats")
    opts = parser.parse_args(argv)
    count = opts.records or (10_000 if opts.quick else 100_000)
    repeats = opts.repeats or (3 if opts.quick else 5)

    kinesis_criteria = criteria_for("data", KINESIS_META)
    sqs_criteria = criteria_for("body", SQS_META)
    streams, queue = kinesis_records(count), sqs_records(count)
    parsed = [{**record, "body": json.loads(record["body"])} for record in queue]
    paths: list[tuple[str, Callable[[Any], bool], Sequence[Any]]] = [
        ("kinesis_keep (decode + match)", lambda r: kinesis_keep(kinesis_criteria, r), streams),
        ("sqs_keep (decode + match)", lambda r: sqs_keep(sqs_criteria, r), queue),
        ("Criteria.keep (parsed, match only)", sqs_criteria.keep, parsed),
    ]
    for _, keep, documents in paths:  # warm-up, unreported
        measure("warm-up", keep, documents[: min(len(documents), 2_000)], 1)
    results = [measure(name, keep, documents, repeats) for name, keep, documents in paths]

    print(f"command: {shlex.join(['python', *sys.argv])}")
    print(f"Python {platform.python_version()} on {platform.platform()}")
    print(f"{count:,} records per run, {repeats} repeats, 5 filters, half of the records kept\n")
    print(table(results))
    expected = sum(payload(index)[1] for index in range(count))
    wrong = [r.name for r in results if r.kept != expected]
    if wrong:
        print(f"\n!! kept counts differ from the {expected:,} expected: {', '.join(wrong)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
