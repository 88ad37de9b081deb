"""Stream mapping behaviour: a failing batch blocks only its lane and is retried until it
succeeds; metrics (IteratorAge, polled/invoked counts, shards owned, lag); readiness."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import itest_handlers
import pytest
from sqs_support import http_get, metric, running, unique, wait_for
from stream_support import kinesis_data as _data
from stream_support import make_stream, put, stream_config

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


async def test_failing_batch_is_retried_in_order_and_nothing_is_skipped(
    endpoint: str, kinesis: Any, tmp_path: Path
) -> None:
    name = unique("s")
    arn = make_stream(kinesis, name)
    put(kinesis, name, [("k", f"r-{i}") for i in range(30)])
    failures: list[int] = []

    def behave(event: dict[str, Any], index: int) -> None:
        if any(_data(r) == "r-12" for r in event["Records"]) and len(failures) < 2:
            failures.append(index)
            raise RuntimeError("poison, twice")

    itest_handlers.behaviour = behave
    config = stream_config(endpoint, arn, tmp_path / "s.db", "batch_size: 5\n")
    async with running(config) as daemon:
        await wait_for(lambda: len(itest_handlers.records()) >= 40, timeout=30)
        labels = {"mapping": f"fn-{name}", "function": "fn"}
        assert metric(daemon, "poller_errors_total", **labels) == 2
        assert metric(daemon, "poller_batch_retries_total", **labels) == 2

    seen = [_data(r) for r in itest_handlers.records()]
    # The failing batch (r-10..r-14) came three times in a row; nothing after it meanwhile.
    assert seen == [f"r-{i}" for i in range(10)] + [f"r-{i}" for i in range(10, 15)] * 3 + [
        f"r-{i}" for i in range(15, 30)
    ]


async def test_stream_metrics_move(endpoint: str, kinesis: Any, tmp_path: Path) -> None:
    name = unique("s")
    arn = make_stream(kinesis, name, shards=2)
    put(kinesis, name, [(f"k{i}", f"r-{i}") for i in range(50)])
    async with running(stream_config(endpoint, arn, tmp_path / "s.db")) as daemon:
        await wait_for(lambda: len(itest_handlers.records()) >= 50)
        labels = {"mapping": f"fn-{name}", "function": "fn"}
        await wait_for(lambda: metric(daemon, "poller_checkpoints_total", **labels) >= 2)
        assert metric(daemon, "poller_polled_events_total", **labels) == 50
        assert metric(daemon, "poller_invoked_events_total", **labels) == 50
        assert metric(daemon, "poller_shards_owned", **labels) == 2
        ages = [
            metric(daemon, "poller_iterator_age_seconds", **labels, shard=shard)
            for shard in ("shardId-000000000000", "shardId-000000000001")
        ]
        assert all(0 < age < 60 for age in ages), ages  # seconds since the records arrived
        assert (
            metric(daemon, "poller_shard_lag_seconds", **labels, shard="shardId-000000000000")
            == 0.0
        )  # caught up
        status, body = await http_get(daemon.http_port, "/readyz")
        assert status == 200, body
        _, text = await http_get(daemon.http_port, "/metrics")
        assert "poller_iterator_age_seconds{" in text
