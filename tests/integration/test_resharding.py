"""Resharding: a child shard starts only after every parent is finished (splits and merges).

moto's resharding is not AWS's (docs/testing.md and below): after a split, moto keeps routing new
records to the closed parent, and a merge copies both parents' records into the child. So this
test reshards mid-stream with a backlog in the parents and no later puts; the copies moto puts in
the merged child make the check sharp: had the child started before its parents finished, the
copies would interleave with the originals.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from pathlib import Path
from typing import Any

import itest_handlers
import pytest
from sqs_support import running, unique, wait_for
from stream_support import ancestors, make_stream, put, split_then_merge, stream_config

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


def _slow(event: dict[str, Any], index: int) -> None:
    import time

    time.sleep(0.03)


async def test_split_and_merge_mid_stream_keep_parents_before_children(
    endpoint: str, kinesis: Any, tmp_path: Path
) -> None:
    name = unique("s")
    arn = make_stream(kinesis, name, shards=2)
    items = [(f"key-{i % 40}", f"{i % 40}:{i // 40}") for i in range(1200)]
    put(kinesis, name, items)
    itest_handlers.behaviour = _slow
    config = stream_config(
        endpoint, arn, tmp_path / "s.db", "batch_size: 10\nparallelization_factor: 2\n"
    )
    async with running(config):
        await wait_for(lambda: len(itest_handlers.records()) >= 100, timeout=30)
        lineage, merged = split_then_merge(kinesis, name)
        # The merged child holds moto's copies of shard 1's records: wait for them too.
        await wait_for(
            lambda: any(r["eventID"].startswith(merged) for r in itest_handlers.records()),
            timeout=90,
        )
        await wait_for(lambda: _copies_done(merged), timeout=90)

    # Nothing lost.
    delivered = {base64.b64decode(r["kinesis"]["data"]).decode() for r in itest_handlers.records()}
    assert delivered == {data for _, data in items}
    # Per key, every record from a parent comes before any record from its children.
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
