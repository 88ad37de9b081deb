"""FilterCriteria on every source: filtered records never reach the handler; SQS deletes them,
streams checkpoint past them; the delivered record is byte for byte what came."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import itest_handlers
import pytest
from sqs_support import config_yaml, depth, make_queue, metric, running, send, unique, wait_for
from stream_support import make_stream, make_table, put, stream_config

from poller.state.sqlite import SqliteCheckpointStore

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


def _filters(*patterns: dict[str, Any]) -> str:
    items = ", ".join(f"{{pattern: '{json.dumps(p)}'}}" for p in patterns)
    return f"filter_criteria: {{filters: [{items}]}}\n"


async def test_sqs_delivers_matches_and_deletes_the_rest(endpoint: str, sqs: Any) -> None:
    queue = unique("orders")
    url = make_queue(sqs, queue)
    bodies = [
        json.dumps({"type": "order", "n": 1}),
        json.dumps({"type": "refund", "n": 2}),
        "plain text, not JSON",
        json.dumps({"type": "order", "n": 3, "padding": " spaced  out "}),
        json.dumps({"type": "ORDER", "n": 4}),
    ]
    send(sqs, url, bodies)
    config = config_yaml(endpoint, queue, extra_mapping=_filters({"body": {"type": ["order"]}}))
    async with running(config) as daemon:
        await wait_for(lambda: len(itest_handlers.records()) >= 2)
        await wait_for(lambda: depth(sqs, url) == 0, timeout=30)
        labels = {"mapping": f"fn-{queue}", "function": "fn"}
        # The count follows the server's answer to the delete.
        await wait_for(lambda: metric(daemon, "poller_deleted_events_total", **labels) >= 5)
        assert metric(daemon, "poller_filtered_out_events_total", **labels) == 3
        assert metric(daemon, "poller_deleted_events_total", **labels) == 5
    delivered = [r["body"] for r in itest_handlers.records()]
    assert sorted(delivered) == sorted([bodies[0], bodies[3]])  # the original strings


async def test_kinesis_checkpoints_past_filtered_records(
    endpoint: str, kinesis: Any, tmp_path: Path
) -> None:
    name = unique("s")
    arn = make_stream(kinesis, name)
    records = [
        ("k", json.dumps({"level": "error", "n": 1})),
        ("k", json.dumps({"level": "info", "n": 2})),
        ("k", "not json"),
        ("k", json.dumps({"level": "error", "n": 4})),
        ("k", json.dumps({"level": "debug", "n": 5})),
    ]
    put(kinesis, name, records)
    state = tmp_path / "s.db"
    config = stream_config(endpoint, arn, state, _filters({"data": {"level": ["error"]}}))
    async with running(config) as daemon:
        labels = {"mapping": f"fn-{name}", "function": "fn"}
        await wait_for(lambda: metric(daemon, "poller_filtered_out_events_total", **labels) == 3)
        await wait_for(lambda: len(itest_handlers.records()) >= 2)
    data = [base64.b64decode(r["kinesis"]["data"]).decode() for r in itest_handlers.records()]
    assert data == [records[0][1], records[3][1]]
    shard = kinesis.list_shards(StreamName=name)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(
        StreamName=name, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    last = kinesis.get_records(ShardIterator=iterator)["Records"][-1]["SequenceNumber"]
    store = await SqliteCheckpointStore.open(state)
    try:
        from poller.config.loader import parse_config

        uuid = parse_config(config, {}).mappings[0].mapping_uuid
        assert (await store.load(uuid))[shard] == last  # past the filtered last record
    finally:
        await store.close()


async def test_dynamodb_filters_on_event_name_and_images(
    endpoint: str, dynamodb: Any, tmp_path: Path
) -> None:
    table = unique("t")
    stream = make_table(dynamodb, table)
    key = {"pk": {"S": "a"}, "sk": {"N": "1"}}
    dynamodb.put_item(TableName=table, Item={**key, "status": {"S": "new"}})
    dynamodb.put_item(TableName=table, Item={**key, "status": {"S": "paid"}})
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "b"}, "sk": {"N": "2"}})
    dynamodb.delete_item(TableName=table, Key=key)
    config = stream_config(
        endpoint,
        stream,
        tmp_path / "d.db",
        _filters(
            {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"status": {"S": ["new"]}}}},
            {"eventName": ["REMOVE"]},
        ),
    )
    async with running(config) as daemon:
        labels = {"mapping": f"fn-{table}", "function": "fn"}
        await wait_for(lambda: metric(daemon, "poller_filtered_out_events_total", **labels) == 2)
        await wait_for(lambda: len(itest_handlers.records()) >= 2)
    assert [r["eventName"] for r in itest_handlers.records()] == ["INSERT", "REMOVE"]
