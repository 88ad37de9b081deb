"""DynamoDB Streams end to end: INSERT / MODIFY / REMOVE with images, order per item key."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import itest_handlers
import pytest
from sqs_support import ACCOUNT, REGION, running, unique, wait_for
from stream_support import make_table, stream_config

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


async def test_insert_modify_remove_with_new_and_old_images(
    endpoint: str, dynamodb: Any, tmp_path: Path
) -> None:
    table = unique("orders")
    stream = make_table(dynamodb, table)
    key = {"pk": {"S": "order-1"}, "sk": {"N": "1"}}
    dynamodb.put_item(
        TableName=table, Item={**key, "state": {"S": "new"}, "blob": {"B": b"\x00\xff"}}
    )
    dynamodb.put_item(TableName=table, Item={**key, "state": {"S": "paid"}})
    dynamodb.delete_item(TableName=table, Key=key)
    async with running(stream_config(endpoint, stream, tmp_path / "d.db")):
        await wait_for(lambda: len(itest_handlers.records()) >= 3)

    insert, modify, remove = itest_handlers.records()
    assert [r["eventName"] for r in (insert, modify, remove)] == ["INSERT", "MODIFY", "REMOVE"]
    for record in (insert, modify, remove):
        assert record["eventVersion"] == "1.1"
        assert record["eventSource"] == "aws:dynamodb"
        assert record["eventSourceARN"] == stream
        assert record["dynamodb"]["Keys"] == key
        assert record["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
        assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], float)
        assert isinstance(record["dynamodb"]["SizeBytes"], int)
    assert insert["dynamodb"]["NewImage"]["blob"] == {"B": "AP8="}  # base64, as Lambda sends
    assert "OldImage" not in insert["dynamodb"]
    assert modify["dynamodb"]["OldImage"]["state"] == {"S": "new"}
    assert modify["dynamodb"]["NewImage"]["state"] == {"S": "paid"}
    assert remove["dynamodb"]["OldImage"]["state"] == {"S": "paid"}
    assert "NewImage" not in remove["dynamodb"]

    from aws_lambda_powertools.utilities.parser.models import DynamoDBStreamModel

    for call in itest_handlers.calls:
        DynamoDBStreamModel.model_validate(call["event"])


@pytest.mark.parametrize("view", ["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE"])
async def test_images_follow_the_stream_view_type(
    endpoint: str, dynamodb: Any, tmp_path: Path, view: str
) -> None:
    table = unique("t")
    stream = make_table(dynamodb, table, view=view)
    key = {"pk": {"S": "a"}, "sk": {"N": "1"}}
    dynamodb.put_item(TableName=table, Item={**key, "v": {"N": "1"}})
    dynamodb.put_item(TableName=table, Item={**key, "v": {"N": "2"}})
    async with running(stream_config(endpoint, stream, tmp_path / "d.db")):
        await wait_for(lambda: len(itest_handlers.records()) >= 2)
    modify = itest_handlers.records()[1]["dynamodb"]
    assert ("NewImage" in modify) == (view == "NEW_IMAGE")
    assert ("OldImage" in modify) == (view == "OLD_IMAGE")


async def test_order_per_item_key_with_parallelization(
    endpoint: str, dynamodb: Any, tmp_path: Path
) -> None:
    table = unique("t")
    make_table(dynamodb, table)
    # Given as the table's ARN: poller finds the table's latest stream.
    table_arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}"
    items = 30
    versions = 10
    itest_handlers.behaviour = lambda event, index: time.sleep(0.02)
    async with running(
        stream_config(
            endpoint,
            table_arn,
            tmp_path / "d.db",
            "parallelization_factor: 5\nbatch_size: 7\n",
        )
    ):
        for version in range(versions):
            for item in range(items):
                dynamodb.put_item(
                    TableName=table,
                    Item={
                        "pk": {"S": f"item-{item % 10}"},
                        "sk": {"N": str(item // 10)},
                        "version": {"N": str(version)},
                    },
                )
        await wait_for(lambda: len(itest_handlers.records()) >= items * versions, timeout=60)

    seen: dict[tuple[str, str], list[int]] = defaultdict(list)
    for record in itest_handlers.records():
        keys = record["dynamodb"]["Keys"]
        seen[(keys["pk"]["S"], keys["sk"]["N"])].append(
            int(record["dynamodb"]["NewImage"]["version"]["N"])
        )
    assert len(seen) == items
    for versions_seen in seen.values():
        assert versions_seen == list(range(versions))
    calls = itest_handlers.calls
    overlapping = sum(
        1 for a in calls for b in calls if a is not b and a["started"] < b["started"] < a["ended"]
    )
    assert overlapping > 0  # lanes really ran batches of one shard concurrently


async def test_discarded_batch_reaches_the_destination_as_ddb_stream_batch_info(
    endpoint: str, dynamodb: Any, sqs: Any, tmp_path: Path
) -> None:
    import json

    from sqs_support import make_queue, queue_arn

    table = unique("t")
    stream = make_table(dynamodb, table)
    dlq = unique("dest")
    url = make_queue(sqs, dlq)
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "a"}, "sk": {"N": "1"}})

    def fail(event: dict[str, Any], index: int) -> None:
        raise RuntimeError("no")

    itest_handlers.behaviour = fail
    extra = f"maximum_retry_attempts: 0\ndestination_config: {{on_failure: {{destination: '{queue_arn(dlq)}'}}}}\n"
    async with running(stream_config(endpoint, stream, tmp_path / "d.db", extra)):
        await wait_for(
            lambda: "Messages" in sqs.receive_message(QueueUrl=url, VisibilityTimeout=0),
            timeout=30,
        )
    [message] = sqs.receive_message(QueueUrl=url)["Messages"]
    record = json.loads(message["Body"])
    info = record["DDBStreamBatchInfo"]
    assert "KinesisBatchInfo" not in record
    assert info["batchSize"] == 1
    assert info["streamArn"] == stream
    assert info["approximateArrivalOfFirstRecord"].endswith("Z")
    assert len(info["approximateArrivalOfFirstRecord"]) == len("2019-11-14T00:13:19Z")
    assert record["requestContext"]["approximateInvokeCount"] == 1
