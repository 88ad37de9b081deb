"""`poller demo`'s pure parts: its traffic, its status text, its summary, and its handlers."""

from __future__ import annotations

import base64
import json
from collections import Counter
from dataclasses import replace

import pytest

from poller.config.models import StreamMappingConfig
from poller.demo import stream_handlers as demo_stream_handlers
from poller.demo.main import demo_config
from poller.demo.report import (
    Probe,
    Snapshot,
    StreamFigures,
    Tallies,
    Totals,
    labels_of,
    mapping_of,
    status_line,
    summary,
)
from poller.demo.traffic import (
    CLICK_USERS,
    CLICKS,
    CLICKS_PER_PUT,
    INVENTORY_WRITES,
    MESSAGES,
    Traffic,
    click_puts,
    event_counts,
)
from poller.telemetry.metrics import Metrics

TOTALS = Totals()
CHANGES = len(INVENTORY_WRITES)


def figures(sent: int, delivered: int, shards: int = 1, age: float = 0.0) -> StreamFigures:
    return StreamFigures(sent, delivered, shards, age, checkpoints=delivered // 10)


def settled_snapshot() -> Snapshot:
    return Snapshot(
        sent=MESSAGES,
        received=66,
        handled=54,
        failed=12,
        in_queue=0,
        in_dlq=6,
        clicks=figures(CLICKS, CLICKS, shards=2, age=0.6),
        inventory=figures(CHANGES, CHANGES, age=0.2),
        elapsed=14.2,
    )


# --- the configuration ---------------------------------------------------------------------------


def test_demo_config_maps_a_stream_and_a_table_from_trim_horizon() -> None:
    config = demo_config()
    clicks, inventory = mapping_of(config, "clicks"), mapping_of(config, "inventory")
    assert isinstance(clicks, StreamMappingConfig)
    assert isinstance(inventory, StreamMappingConfig)
    assert clicks.arn.service == "kinesis"
    assert (clicks.starting_position, clicks.parallelization_factor) == ("TRIM_HORIZON", 2)
    assert inventory.event_source_arn.endswith(":table/demo-inventory")  # the table, not a stream
    assert inventory.starting_position == "TRIM_HORIZON"
    assert [(s.name, s.shards) for s in config.embedded.streams] == [("demo-clicks", 2)]
    assert config.embedded.tables[0].stream_view_type == "NEW_AND_OLD_IMAGES"


# --- the traffic ---------------------------------------------------------------------------------


def test_click_puts_carry_every_click_for_every_user() -> None:
    puts = click_puts()
    assert {len(put) for put in puts} == {CLICKS_PER_PUT}
    records = [record for put in puts for record in put]
    assert len(records) == CLICKS
    per_user = Counter(record["PartitionKey"] for record in records)
    assert len(per_user) == CLICK_USERS
    assert max(per_user.values()) > 2 * min(per_user.values())  # some users are busier
    first = json.loads(records[0]["Data"])
    assert first["user"] == records[0]["PartitionKey"]


def test_inventory_writes_put_update_and_delete_items() -> None:
    counts = event_counts(INVENTORY_WRITES)
    assert counts["INSERT"] == counts["MODIFY"] > counts["REMOVE"] > 0
    stocks = {w.sku: w.stock for w in INVENTORY_WRITES if w.action == "put"}
    for write in INVENTORY_WRITES:
        if write.action == "update":
            assert write.stock != stocks[write.sku]  # an unchanged item makes no stream record
    order = [(w.sku, w.action) for w in INVENTORY_WRITES]
    for sku, action in order:
        if action == "delete":
            assert order.index((sku, "update")) < order.index((sku, "delete"))


def test_inventory_write_requests() -> None:
    put, update, delete = (
        next(w for w in INVENTORY_WRITES if w.action == action)
        for action in ("put", "update", "delete")
    )
    method, arguments = put.request("t")
    assert method == "put_item"
    assert arguments["Item"] == {"sku": {"S": put.sku}, "stock": {"N": str(put.stock)}}
    method, arguments = update.request("t")
    assert method == "update_item"
    assert arguments["ExpressionAttributeValues"] == {":stock": {"N": str(update.stock)}}
    assert delete.request("t") == (
        "delete_item",
        {"TableName": "t", "Key": {"sku": {"S": delete.sku}}},
    )


# --- settling and the status text ----------------------------------------------------------------


def test_settled_needs_orders_clicks_and_inventory_changes() -> None:
    snap = settled_snapshot()
    assert snap.settled(TOTALS)
    assert not replace(snap, in_queue=1, in_dlq=5).settled(TOTALS)  # a poison message waits
    assert not replace(snap, sent=MESSAGES - 1).settled(TOTALS)
    assert not replace(snap, clicks=figures(CLICKS, CLICKS - 1)).settled(TOTALS)
    assert not replace(snap, inventory=figures(CHANGES - 1, CHANGES - 1)).settled(TOTALS)


def test_status_line_shows_each_source() -> None:
    line = status_line(replace(settled_snapshot(), clicks=figures(150, 120, age=1.25)))
    assert line.startswith("[ 14.2s] orders sent 60/60, received 66, OK 54, failed 12, DLQ 6")
    assert "clicks 120/150" in line
    assert f"inventory {CHANGES}/{CHANGES}" in line
    assert line.endswith("age 1.2s")  # the largest over both streams


def test_summary_of_a_settled_demo_reports_the_stream_and_the_table() -> None:
    tallies = Tallies(
        Counter({f"user-{i:02d}": 10 for i in range(CLICK_USERS)}),
        event_counts(INVENTORY_WRITES),
    )
    text = summary(
        settled_snapshot(), Traffic(MESSAGES, 6, CLICKS, CHANGES), demo_config(), tallies
    )
    assert "handled OK  54" in text
    assert "Kinesis stream demo-clicks -> clicks (2 shards, 2 lanes each)" in text
    assert f"delivered   {CLICKS} (the handler counted {CLICKS} clicks from 20 users)" in text
    assert "DynamoDB table demo-inventory -> inventory (1 shard)" in text
    assert f"delivered   {CHANGES} (the handler counted 12 INSERT, 12 MODIFY, 4 REMOVE)" in text
    assert "max age     0.6 s" in text
    prose = " ".join(text.split())
    assert "Every message is accounted for." in prose
    assert "read in order, from TRIM_HORIZON" in prose
    assert "Every click and every inventory change was delivered." in prose
    assert "Not settled" not in text


@pytest.mark.parametrize(
    ("handled", "says"),
    [
        (54, "handled and deleted. The handler listed"),
        (55, "1 of them was delivered, handled and deleted twice: a standard queue delivers"),
        (57, "3 of them were delivered, handled and deleted twice"),
    ],
)
def test_a_settled_summary_names_orders_delivered_twice(handled: int, says: str) -> None:
    # A standard queue may deliver a message twice; both deletes count in DeletedEventCount.
    snap = replace(settled_snapshot(), handled=handled)
    assert snap.settled(TOTALS)
    tallies = Tallies(Counter(), Counter())
    text = summary(snap, Traffic(MESSAGES, 6, CLICKS, CHANGES), demo_config(), tallies)
    assert f"handled OK  {handled}" in text
    assert says in " ".join(text.split())


def test_summary_of_an_unsettled_demo_says_what_is_missing() -> None:
    snap = replace(settled_snapshot(), in_queue=2, in_dlq=4, clicks=figures(CLICKS, 190))
    tallies = Tallies(Counter(), Counter())
    text = summary(snap, Traffic(MESSAGES, 6, CLICKS, CHANGES), demo_config(), tallies)
    prose = " ".join(text.split())
    assert "2 orders are neither deleted nor in the DLQ; 10 clicks were not delivered." in prose


# --- the probe -----------------------------------------------------------------------------------


def test_probe_reads_a_stream_mappings_figures() -> None:
    config = demo_config()
    metrics = Metrics()
    labels = labels_of(mapping_of(config, "clicks"))
    mapping, function = labels["mapping"], labels["function"]
    own = (mapping, function, "kinesis")
    metrics.register_mapping(*own)
    metrics.invoked_events.labels(*own).inc(30)
    metrics.failed_invoke_events.labels(*own).inc(5)  # retried: not delivered yet
    metrics.shards_owned.labels(*own).set(2)
    metrics.iterator_age.labels(*own, "shardId-0").set(0.4)
    metrics.iterator_age.labels(*own, "shardId-1").set(1.5)
    metrics.iterator_age.labels("other", function, "kinesis", "shardId-0").set(9.0)
    metrics.checkpoints.labels(*own).inc(3)
    probe = Probe(metrics, config, client=None, queue_url="", dlq_url="")
    assert probe.stream(labels, sent=40) == StreamFigures(40, 25, 2, 1.5, 3)


class _Attributes:
    """A queue client whose get_queue_attributes answers each call from a script."""

    def __init__(self, script: dict[str, list[tuple[int, int]]]) -> None:
        self.script = script

    async def get_queue_attributes(self, QueueUrl: str, AttributeNames: list[str]) -> object:
        visible, hidden = self.script[QueueUrl].pop(0)
        return {
            "Attributes": {
                "ApproximateNumberOfMessages": str(visible),
                "ApproximateNumberOfMessagesNotVisible": str(hidden),
            }
        }


@pytest.mark.anyio
async def test_probe_reads_each_queue_twice_and_keeps_the_larger_depth() -> None:
    # The first reading of the queue missed a message passing from hidden to visible.
    client = _Attributes({"q": [(0, 0), (1, 0)], "dlq": [(5, 0), (5, 0)]})
    probe = Probe(Metrics(), demo_config(), client, queue_url="q", dlq_url="dlq")
    snap = await probe.snapshot(Traffic(MESSAGES, 6, CLICKS, CHANGES), elapsed=3.0)
    assert (snap.in_queue, snap.in_dlq) == (1, 5)
    assert not snap.orders_settled(MESSAGES)
    assert client.script == {"q": [], "dlq": []}


# --- the stream handlers -------------------------------------------------------------------------


@pytest.fixture
def fresh_tallies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo_stream_handlers, "clicks_by_key", Counter())
    monkeypatch.setattr(demo_stream_handlers, "changes_by_event", Counter())


def kinesis_record(key: str, data: bytes) -> dict[str, object]:
    return {
        "eventID": "shardId-000000000001:4959",
        "kinesis": {"partitionKey": key, "data": base64.b64encode(data).decode()},
    }


@pytest.mark.usefixtures("fresh_tallies")
def test_clicks_handler_counts_per_partition_key(capsys: pytest.CaptureFixture[str]) -> None:
    records = [
        kinesis_record("user-01", b'{"page": "/cart"}'),
        kinesis_record("user-02", b'{"page": "/cart"}'),
        kinesis_record("user-01", b"not json"),
    ]
    demo_stream_handlers.clicks({"Records": records}, None)
    assert demo_stream_handlers.clicks_by_key == Counter({"user-01": 2, "user-02": 1})
    out = capsys.readouterr().out
    assert out == "clicks: 3 from 2 users on shardId-000000000001 (top page /cart: 2)\n"


@pytest.mark.usefixtures("fresh_tallies")
def test_inventory_handler_counts_event_names(capsys: pytest.CaptureFixture[str]) -> None:
    key = {"sku": {"S": "sku-01"}}
    records = [
        {"eventName": "INSERT", "dynamodb": {"Keys": key, "NewImage": {"stock": {"N": "5"}}}},
        {
            "eventName": "MODIFY",
            "dynamodb": {
                "Keys": key,
                "OldImage": {"stock": {"N": "5"}},
                "NewImage": {"stock": {"N": "3"}},
            },
        },
        {"eventName": "REMOVE", "dynamodb": {"Keys": key, "OldImage": {"stock": {"N": "3"}}}},
    ]
    demo_stream_handlers.inventory({"Records": records}, None)
    assert demo_stream_handlers.changes_by_event == Counter(INSERT=1, MODIFY=1, REMOVE=1)
    assert capsys.readouterr().out.splitlines() == [
        "inventory: INSERT sku-01: stock 5",
        "inventory: MODIFY sku-01: stock 5 -> 3",
        "inventory: REMOVE sku-01 (had stock 3)",
    ]
