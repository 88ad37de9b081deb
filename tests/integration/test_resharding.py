"""Resharding: a child shard starts only after every parent is finished (splits and merges).

moto's resharding is not AWS's (docs/testing.md and below): after a split, moto keeps routing new
records to the closed parent, and a merge copies both parents' records into the child. So the
moto test reshards mid-stream with a backlog in the parents and no later puts; the copies moto
puts in the merged child make the check sharp: had the child started before its parents
finished, the copies would interleave with the originals. Against an AWS-faithful server
(LocalStack's kinesis-mock, with POLLER_TEST_ENDPOINT) the same lineage is checked AWS's way:
records put after the reshard land in the children, and per key they come after the parents'.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from pathlib import Path
from typing import Any

import itest_handlers
import pytest
from sqs_support import EXTERNAL, running, unique, wait_for
from stream_support import ancestors, make_stream, put, split_then_merge, stream_config

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


def _slow(event: dict[str, Any], index: int) -> None:
    import time

    time.sleep(0.03)


@pytest.mark.skipif(bool(EXTERNAL), reason="relies on moto copying parents' records into a merge")
async def test_split_and_merge_mid_stream_keep_parents_before_children(
    endpoint: str, kinesis: Any, tmp_path: Path
) -> None:
    name, config = _stream_with_backlog(endpoint, kinesis, tmp_path, items := _items(0, 1200))
    async with running(config):
        await wait_for(lambda: len(itest_handlers.records()) >= 100, timeout=30)
        lineage, merged = split_then_merge(kinesis, name)
        # The merged child holds moto's copies of shard 1's records: wait for them too.
        await wait_for(
            lambda: any(r["eventID"].startswith(merged) for r in itest_handlers.records()),
            timeout=90,
        )
        await wait_for(lambda: _copies_done(merged), timeout=90)

    _check(lineage, {data for _, data in items})


@pytest.mark.skipif(not EXTERNAL, reason="moto routes records put after a split to the parent")
async def test_records_put_after_a_reshard_follow_their_parents_per_key(
    endpoint: str, kinesis: Any, tmp_path: Path
) -> None:
    name, config = _stream_with_backlog(endpoint, kinesis, tmp_path, before := _items(0, 400))
    async with running(config):
        await wait_for(lambda: len(itest_handlers.records()) >= 50, timeout=60)
        lineage, _ = split_then_merge(kinesis, name)
        after = _items(400, 800)
        put(kinesis, name, after)
        everything = {data for _, data in before + after}
        await wait_for(lambda: _delivered() >= everything, timeout=120)
    _check(lineage, everything)


def _items(start: int, stop: int) -> list[tuple[str, str]]:
    """(partition key, data) pairs over 40 keys; data is "key:sequence within the key"."""
    return [(f"key-{i % 40}", f"{i % 40}:{i // 40}") for i in range(start, stop)]


def _stream_with_backlog(
    endpoint: str, kinesis: Any, tmp_path: Path, items: list[tuple[str, str]]
) -> tuple[str, str]:
    """A 2-shard stream holding `items`, and a config reading it slowly in batches of 10 over
    two lanes (so the reshard comes mid-stream); returns the stream's name and the config."""
    name = unique("s")
    arn = make_stream(kinesis, name, shards=2)
    put(kinesis, name, items)
    itest_handlers.behaviour = _slow
    config = stream_config(
        endpoint, arn, tmp_path / "s.db", "batch_size: 10\nparallelization_factor: 2\n"
    )
    return name, config


def _delivered() -> set[str]:
    return {base64.b64decode(r["kinesis"]["data"]).decode() for r in itest_handlers.records()}


def _check(lineage: dict[str, list[str]], expected: set[str]) -> None:
    """Nothing lost, and per key every record from a parent before any from its children."""
    assert _delivered() == expected
    shards_per_key: dict[str, list[str]] = defaultdict(list)
    for record in itest_handlers.records():
        shards_per_key[record["kinesis"]["partitionKey"]].append(record["eventID"].split(":")[0])
    parents_of = ancestors(lineage)
    for key, order in shards_per_key.items():
        for position, shard in enumerate(order):
            later = order[position + 1 :]
            assert not set(later) & parents_of[shard], (key, order)


def _copies_done(merged: str) -> bool:
    copies = [r for r in itest_handlers.records() if r["eventID"].startswith(merged)]
    originals = [
        r for r in itest_handlers.records() if r["eventID"].startswith("shardId-000000000001")
    ]
    return len(copies) >= len(originals) > 0
