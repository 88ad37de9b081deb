"""An ARN's region is its resource's region: two regions on one server, and errors that say
where poller looked for a source that is not there."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import boto3
import itest_handlers
import pytest
from sqs_support import ACCOUNT, REGION, config_yaml, make_queue, metric, running, send, unique
from sqs_support import wait_for as wait_until
from stream_support import delivered_data, make_stream, make_table, put, stream_config

from poller.config.loader import parse_config
from poller.daemon import Daemon
from poller.errors import StartupError
from poller.telemetry.metrics import Metrics

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
OTHER = "eu-west-1"  # the sources' region; the daemon's aws.region stays REGION (us-east-1)


def _client(service: str, endpoint: str, region: str = OTHER) -> Any:
    return boto3.client(service, region_name=region, endpoint_url=endpoint)


async def test_sqs_reads_the_queue_in_its_arns_region(endpoint: str, sqs: Any) -> None:
    # Two queues of one name: the ARN says eu-west-1, aws.region says us-east-1.
    name = unique("twin")
    make_queue(sqs, name)
    send(sqs, sqs.get_queue_url(QueueName=name)["QueueUrl"], ["from us-east-1"])
    other = _client("sqs", endpoint)
    url = make_queue(other, name)
    send(other, url, ["from eu-west-1"])
    arn = f"arn:aws:sqs:{OTHER}:{ACCOUNT}:{name}"
    text = config_yaml(endpoint, name).replace(f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}", arn)
    async with running(text) as daemon:
        await wait_until(lambda: len(itest_handlers.records()) >= 1)
        labels = {"mapping": f"fn-{name}", "function": "fn"}
        await wait_until(lambda: metric(daemon, "poller_deleted_events_total", **labels) >= 1)
    [record] = itest_handlers.records()
    assert record["body"] == "from eu-west-1"
    assert (record["eventSourceARN"], record["awsRegion"]) == (arn, OTHER)
    assert (
        other.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"
        ]["ApproximateNumberOfMessages"]
        == "0"
    )


async def test_kinesis_reads_the_stream_in_its_arns_region(endpoint: str, tmp_path: Path) -> None:
    name = unique("far")
    kinesis = _client("kinesis", endpoint)
    arn = make_stream(kinesis, name).replace(f":{REGION}:", f":{OTHER}:")
    put(kinesis, name, [("k", "hello from eu-west-1")])
    async with running(stream_config(endpoint, arn, tmp_path / "s.db")):
        await wait_until(lambda: len(itest_handlers.records()) >= 1)
    [record] = itest_handlers.records()
    assert delivered_data() == ["hello from eu-west-1"]
    assert (record["eventSourceARN"], record["awsRegion"]) == (arn, OTHER)


async def test_dynamodb_reads_the_table_in_its_arns_region(endpoint: str, tmp_path: Path) -> None:
    name = unique("far-table")
    dynamodb = _client("dynamodb", endpoint)
    stream = make_table(dynamodb, name)
    assert f":{OTHER}:" in stream
    table_arn = f"arn:aws:dynamodb:{OTHER}:{ACCOUNT}:table/{name}"
    config = stream_config(endpoint, table_arn, tmp_path / "s.db")
    async with running(config):
        await anyio.to_thread.run_sync(
            lambda: dynamodb.put_item(TableName=name, Item={"pk": {"S": "a"}, "sk": {"N": "1"}})
        )
        await wait_until(lambda: len(itest_handlers.records()) >= 1)
    [record] = itest_handlers.records()
    # The eu-west-1 table's stream. (Its awsRegion is the record's own, as AWS sends it: the
    # table's region on AWS, while moto says us-east-1 for every region; see docs/testing.md.)
    assert record["eventSourceARN"] == stream


@pytest.mark.parametrize(
    ("service", "arn", "message"),
    [
        pytest.param(
            "sqs",
            f"arn:aws:sqs:{OTHER}:{ACCOUNT}:nowhere",
            "The specified queue does not exist.",
            id="queue",
        ),
        pytest.param(
            "kinesis",
            f"arn:aws:kinesis:{OTHER}:{ACCOUNT}:stream/nowhere",
            f"Stream not found: arn:aws:kinesis:{OTHER}:{ACCOUNT}:stream/nowhere",
            id="stream",
        ),
        pytest.param(
            "dynamodb",
            f"arn:aws:dynamodb:{OTHER}:{ACCOUNT}:table/nowhere",
            f"Table not found: arn:aws:dynamodb:{OTHER}:{ACCOUNT}:table/nowhere",
            id="table",
        ),
    ],
)
async def test_a_missing_source_names_where_it_was_looked_for(
    endpoint: str, tmp_path: Path, service: str, arn: str, message: str
) -> None:
    """A queue, stream or table that exists only in another region (or account) is missing,
    and the error says which account, region and endpoint were searched."""
    name = arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    if service == "sqs":  # the same name in the configured region does not stand in for it
        make_queue(_client("sqs", endpoint, REGION), name)
        text = config_yaml(endpoint, name).replace(f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}", arn)
    else:
        text = stream_config(endpoint, arn, tmp_path / "s.db")
    daemon = Daemon(parse_config(text, os.environ), tmp_path, metrics=Metrics())
    with pytest.raises(ExceptionGroup) as caught:
        async with anyio.create_task_group() as tg:
            await tg.start(daemon.run)
    [error] = [e for e in _leaves(caught.value) if isinstance(e, StartupError)]
    text = str(error)
    assert text.startswith("mappings[0].event_source_arn: ")
    assert message in text
    assert f"looked up in account {ACCOUNT}, region {OTHER}, at {endpoint}" in text


def _leaves(group: BaseExceptionGroup[Any]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out
