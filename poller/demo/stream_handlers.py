"""The demo's stream handlers: a Kinesis-triggered and a DynamoDB Streams-triggered Lambda function.

Standard library only and no poller imports, so the file deploys to AWS Lambda unchanged
(handlers `demo_stream_handlers.clicks` and `demo_stream_handlers.inventory`, Python 3.11+, on
event source mappings from a Kinesis stream and from a DynamoDB table's stream). Under poller they
are `poller.demo.stream_handlers:clicks` and `poller.demo.stream_handlers:inventory`.

Each keeps running totals in module globals, as a warm Lambda execution environment does across
invocations: `clicks_by_key` (records per partition key) and `changes_by_event` (records per
eventName: INSERT, MODIFY, REMOVE). A lock guards them, since poller may run several batches of a
function at once in threads (one per shard and lane).

Neither raises for data it cannot read: a stream mapping retries a failed batch until it
succeeds, holding back the records behind it, so unreadable click data is counted under page "?".
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections import Counter
from typing import Any

clicks_by_key: Counter[str] = Counter()
changes_by_event: Counter[str] = Counter()
_lock = threading.Lock()


def log(line: str) -> None:
    """Print one line in a single write, so lines of concurrent batches don't interleave."""
    print(line + "\n", end="", flush=True)


def click_page(data: str) -> str:
    """The page of a click record's `data` (base64 of a JSON object with a "page"); "?" if
    the data is not one."""
    try:
        click = json.loads(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError):
        return "?"
    page = click.get("page") if isinstance(click, dict) else None
    return page if isinstance(page, str) else "?"


def clicks(event: dict[str, Any], context: Any) -> None:
    """Count a Kinesis batch's records per partition key; log one line per batch."""
    records = event.get("Records", [])
    keys: Counter[str] = Counter()
    pages: Counter[str] = Counter()
    for record in records:
        keys[record["kinesis"]["partitionKey"]] += 1
        pages[click_page(record["kinesis"]["data"])] += 1
    with _lock:
        clicks_by_key.update(keys)
    if records:
        shard = records[0]["eventID"].split(":", 1)[0]
        page, views = pages.most_common(1)[0]
        users = "1 user" if len(keys) == 1 else f"{len(keys)} users"
        log(f"clicks: {len(records)} from {users} on {shard} (top page {page}: {views})")


def describe_change(record: dict[str, Any]) -> str:
    """One line for a DynamoDB stream record: event, item key, stock before and after."""
    change = record["dynamodb"]
    key = ",".join(value for attr in change.get("Keys", {}).values() for value in attr.values())
    before = change.get("OldImage", {}).get("stock", {}).get("N")
    after = change.get("NewImage", {}).get("stock", {}).get("N")
    name = record["eventName"]
    if name == "MODIFY":
        return f"{name} {key}: stock {before} -> {after}"
    if name == "INSERT":
        return f"{name} {key}: stock {after}"
    return f"{name} {key} (had stock {before})"


def inventory(event: dict[str, Any], context: Any) -> None:
    """Count a DynamoDB stream batch's records per eventName; log one line per record."""
    names: Counter[str] = Counter()
    for record in event.get("Records", []):
        names[record["eventName"]] += 1
        log(f"inventory: {describe_change(record)}")
    with _lock:
        changes_by_event.update(names)
