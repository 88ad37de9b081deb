"""Each Lambda metric's series moves as the reference (§6) defines it, on each source; the
exposition parses with prometheus-client's own parser."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import itest_handlers
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqs_support import (
    config_yaml,
    depth,
    http_get,
    make_queue,
    metric,
    queue_arn,
    running,
    send,
    unique,
    wait_for,
)
from stream_support import kinesis_data, make_stream, make_table, put, stream_config

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


def _values(daemon: Any, mapping: str) -> dict[str, float]:
    labels = {"mapping": mapping, "function": "fn"}
    names = [
        "poller_polled_events_total",
        "poller_filtered_out_events_total",
        "poller_invoked_events_total",
        "poller_failed_invoke_events_total",
        "poller_invocations_total",
        "poller_errors_total",
        "poller_deleted_events_total",
        "poller_dropped_events_total",
        "poller_on_failure_destination_delivered_events_total",
        "poller_destination_delivery_failures_total",
    ]
    return {
        n.removeprefix("poller_").removesuffix("_total"): metric(daemon, n, **labels) for n in names
    }


async def _exposition_parses(daemon: Any) -> set[str]:
    status, text = await http_get(daemon.http_port, "/metrics")
    assert status == 200
    return {family.name for family in text_string_to_metric_families(text)}


async def test_sqs_metrics(endpoint: str, sqs: Any) -> None:
    queue = unique("q")
    url = make_queue(sqs, queue, visibility=30)
    pattern = json.dumps({"body": {"keep": [True]}})
    extra = f"filter_criteria: {{filters: [{{pattern: '{pattern}'}}]}}\n"
    send(sqs, url, [json.dumps({"keep": True, "n": 1}), json.dumps({"keep": False, "n": 2})])

    def fail_once(event: dict[str, Any], index: int) -> None:
        if index == 0:
            raise RuntimeError("first batch fails")

    itest_handlers.behaviour = fail_once
    async with running(config_yaml(endpoint, queue, extra_mapping=extra)) as daemon:
        labels = {"mapping": f"fn-{queue}", "function": "fn"}
        # Settled: the last count each message moves (two pollers may have received them).
        await wait_for(
            lambda: (
                metric(daemon, "poller_failed_invoke_events_total", **labels) >= 1
                and metric(daemon, "poller_deleted_events_total", **labels) >= 1
            )
        )
        values = _values(daemon, f"fn-{queue}")
        families = await _exposition_parses(daemon)
    assert values["polled_events"] == 2  # read from the queue
    assert values["filtered_out_events"] == 1  # the one the filter dropped
    assert values["invoked_events"] == 1  # only the match reached the handler
    assert values["invocations"] == 1
    assert values["errors"] == 1
    assert values["failed_invoke_events"] == 1  # the failed invocation's record
    assert values["deleted_events"] == 1  # the filtered one; the failed one stays queued
    assert depth(sqs, url) == 1
    assert {"poller_invocations", "poller_iterator_age_seconds"} <= families


async def test_kinesis_metrics(endpoint: str, kinesis: Any, sqs: Any, tmp_path: Path) -> None:
    name = unique("s")
    arn = make_stream(kinesis, name)
    dlq = unique("dest")
    make_queue(sqs, dlq)
    put(kinesis, name, [("k", '{"ok": true}'), ("k", '{"ok": false}'), ("k", "not json")])

    def fail_bad(event: dict[str, Any], index: int) -> None:
        if any(json.loads(kinesis_data(r))["ok"] is False for r in event["Records"]):
            raise RuntimeError("bad")

    itest_handlers.behaviour = fail_bad
    extra = (
        "batch_size: 1\nmaximum_retry_attempts: 0\n"
        f"destination_config: {{on_failure: {{destination: '{queue_arn(dlq)}'}}}}\n"
        'filter_criteria: {filters: [{pattern: \'{"data": {"ok": [{"exists": true}]}}\'}]}\n'
    )
    async with running(stream_config(endpoint, arn, tmp_path / "s.db", extra)) as daemon:
        mapping = f"fn-{name}"
        await wait_for(
            lambda: _values(daemon, mapping)["on_failure_destination_delivered_events"] == 1
        )
        values = _values(daemon, mapping)
        labels = {"mapping": mapping, "function": "fn", "shard": "shardId-000000000000"}
        age = metric(daemon, "poller_iterator_age_seconds", **labels)
        await _exposition_parses(daemon)
    assert values["polled_events"] == 3
    assert values["filtered_out_events"] == 1  # not JSON: never matches a data pattern
    assert values["invoked_events"] == 2
    assert values["errors"] == 1
    assert values["failed_invoke_events"] == 1
    assert values["dropped_events"] == 0  # it went to the destination instead
    assert values["destination_delivery_failures"] == 0
    assert values["deleted_events"] == 0  # an SQS-only metric
    assert age > 0  # IteratorAge: the last record's age when its batch was sent


async def test_dynamodb_metrics(endpoint: str, dynamodb: Any, tmp_path: Path) -> None:
    table = unique("t")
    stream = make_table(dynamodb, table)
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "a"}, "sk": {"N": "1"}})

    def fail(event: dict[str, Any], index: int) -> None:
        raise RuntimeError("no")

    itest_handlers.behaviour = fail
    extra = "maximum_retry_attempts: 0\n"
    async with running(stream_config(endpoint, stream, tmp_path / "d.db", extra)) as daemon:
        await wait_for(lambda: _values(daemon, f"fn-{table}")["dropped_events"] == 1)
        values = _values(daemon, f"fn-{table}")
    assert values["polled_events"] == 1
    assert values["invocations"] == 1
    assert values["errors"] == 1
    assert values["dropped_events"] == 1  # no destination: dropped after its retries
    assert values["on_failure_destination_delivered_events"] == 0
