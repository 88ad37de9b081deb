"""Kinesis end to end: every record delivered, order per partition key, batches per shard."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import anyio
import itest_handlers
import pytest
from sqs_support import ACCOUNT, metric, running, unique, wait_for
from stream_support import make_stream, put, stream_config, wait_read_past

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


async def test_four_shards_parallelization_factor_keeps_order_per_key(
    endpoint: str, kinesis: Any, tmp_path: Path
) -> None:
    name = unique("clicks")
    arn = make_stream(kinesis, name, shards=4)
    keys = [f"user-{k}" for k in range(200)]
    items = [(keys[i % 200], f"{keys[i % 200]}:{i // 200}") for i in range(10_000)]
    put(kinesis, name, items)
    config = stream_config(
        endpoint, arn, tmp_path / "state.db", "parallelization_factor: 4\nbatch_size: 100\n"
    )
    async with running(config):
        await wait_for(lambda: len(itest_handlers.records()) >= 10_000, timeout=120, interval=0.2)

    records = itest_handlers.records()
    data = [base64.b64decode(r["kinesis"]["data"]).decode() for r in records]
    assert len(data) == 10_000  # no failures, so no redelivery either
    assert sorted(set(data)) == sorted(d for _, d in items)
    seen: dict[str, list[int]] = {}
    for text in data:
        key, n = text.split(":")
        seen.setdefault(key, []).append(int(n))
    for key in keys:
        assert seen[key] == sorted(seen[key]), key
    for call in itest_handlers.calls:
        shards = {r["eventID"].split(":")[0] for r in call["event"]["Records"]}
        assert len(shards) == 1


def _data(records: list[dict[str, Any]]) -> list[str]:
    return [base64.b64decode(r["kinesis"]["data"]).decode() for r in records]


async def _tip_reached(daemon: Any) -> None:
    # The reader has made at least one GetRecords call: its iterator exists.
    await wait_for(
        lambda: (
            metric(daemon, "poller_aws_api_calls_total", service="kinesis", operation="GetRecords")
            >= 1
        ),
        timeout=20,
    )


async def test_trim_horizon_reads_from_the_oldest_record(
    endpoint: str, kinesis: Any, tmp_path: Path
) -> None:
    name = unique("s")
    arn = make_stream(kinesis, name)
    put(kinesis, name, [("k", f"old-{i}") for i in range(5)])
    async with running(stream_config(endpoint, arn, tmp_path / "s.db")) as daemon:
        await _tip_reached(daemon)
        put(kinesis, name, [("k", f"new-{i}") for i in range(5)])
        await wait_for(lambda: len(itest_handlers.records()) >= 10)
    assert _data(itest_handlers.records()) == [f"old-{i}" for i in range(5)] + [
        f"new-{i}" for i in range(5)
    ]


async def test_latest_skips_what_was_there_before_start(
    endpoint: str, kinesis: Any, tmp_path: Path
) -> None:
    name = unique("s")
    arn = make_stream(kinesis, name)
    put(kinesis, name, [("k", f"old-{i}") for i in range(5)])
    config = stream_config(endpoint, arn, tmp_path / "s.db", starting_position="LATEST")
    async with running(config) as daemon:
        await _tip_reached(daemon)
        put(kinesis, name, [("k", f"new-{i}") for i in range(5)])
        await wait_for(lambda: len(itest_handlers.records()) >= 5)
        await wait_read_past(daemon)  # anything old, were it read, has reached the handler
    assert _data(itest_handlers.records()) == [f"new-{i}" for i in range(5)]


async def test_at_timestamp_starts_at_the_first_record_at_or_after_it(
    endpoint: str, kinesis: Any, tmp_path: Path
) -> None:
    name = unique("s")
    arn = make_stream(kinesis, name)
    put(kinesis, name, [("k", f"old-{i}") for i in range(5)])
    await anyio.sleep(1.2)
    cut = time.time()
    await anyio.sleep(0.2)
    put(kinesis, name, [("k", f"new-{i}") for i in range(5)])
    config = stream_config(
        endpoint,
        arn,
        tmp_path / "s.db",
        starting_position="AT_TIMESTAMP",
        extra_mapping=f"starting_position_timestamp: {cut}\n",
    )
    async with running(config) as daemon:
        await wait_for(lambda: len(itest_handlers.records()) >= 5)
        await wait_read_past(daemon)
    assert _data(itest_handlers.records()) == [f"new-{i}" for i in range(5)]


async def test_restart_resumes_after_the_checkpoint(
    endpoint: str, kinesis: Any, tmp_path: Path
) -> None:
    name = unique("s")
    arn = make_stream(kinesis, name, shards=2)
    put(kinesis, name, [(f"k{i % 7}", f"a-{i}") for i in range(300)])
    config = stream_config(endpoint, arn, tmp_path / "s.db", "batch_size: 10\n")
    async with running(config):
        await wait_for(lambda: len(itest_handlers.records()) >= 300)
    first = _data(itest_handlers.records())
    itest_handlers.reset()
    put(kinesis, name, [(f"k{i % 7}", f"b-{i}") for i in range(100)])
    async with running(config) as daemon:
        await wait_for(lambda: len(itest_handlers.records()) >= 100)
        await wait_read_past(daemon)  # each shard read again: nothing from before its checkpoint
    second = _data(itest_handlers.records())
    assert sorted(first) == sorted(f"a-{i}" for i in range(300))
    assert sorted(second) == sorted(f"b-{i}" for i in range(100))  # nothing again, nothing lost


async def test_events_pass_powertools_strict_model(
    endpoint: str, kinesis: Any, tmp_path: Path
) -> None:
    from aws_lambda_powertools.utilities.parser.models import KinesisDataStreamModel

    name = unique("s")
    arn = make_stream(kinesis, name)
    put(kinesis, name, [("k1", '{"n": 1}'), ("k2", "plain text")])
    async with running(stream_config(endpoint, arn, tmp_path / "s.db")):
        await wait_for(lambda: len(itest_handlers.records()) >= 2)
    event = itest_handlers.calls[0]["event"]
    parsed = KinesisDataStreamModel.model_validate(event)
    assert [r.kinesis.data for r in parsed.Records] == [b'{"n": 1}', b"plain text"]
    record = event["Records"][0]
    assert record["eventID"] == f"shardId-000000000000:{record['kinesis']['sequenceNumber']}"
    assert record["invokeIdentityArn"] == f"arn:aws:iam::{ACCOUNT}:role/fn"
    assert record["eventSourceARN"] == arn
    assert isinstance(record["kinesis"]["approximateArrivalTimestamp"], float)
