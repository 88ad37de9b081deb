"""Kinesis end to end: every record delivered, order per partition key, batches per shard."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import itest_handlers
import pytest
from sqs_support import running, unique, wait_for
from stream_support import make_stream, put, stream_config

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
