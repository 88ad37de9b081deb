"""Tumbling windows end to end: state carried between invocations, one final invocation per
window, sums per key over three windows equal to what was put."""

from __future__ import annotations

import base64
import math
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import itest_handlers
import pytest
from sqs_support import running, unique, wait_for
from stream_support import make_stream, put, stream_config

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
WINDOW = 2


async def _next_window() -> None:
    now = time.time()
    await anyio.sleep(math.ceil(now / WINDOW) * WINDOW - now + 0.2)


async def test_sums_per_key_over_three_windows(endpoint: str, kinesis: Any, tmp_path: Path) -> None:
    name = unique("s")
    arn = make_stream(kinesis, name)
    finals: list[dict[str, Any]] = []

    def aggregate(event: dict[str, Any], index: int) -> dict[str, Any]:
        if event["isFinalInvokeForWindow"]:
            finals.append(event)
            return {"state": {}}
        state = dict(event["state"])
        for record in event["Records"]:
            key, amount = base64.b64decode(record["kinesis"]["data"]).decode().split(":")
            state[key] = state.get(key, 0) + int(amount)
        return {"state": state}

    itest_handlers.behaviour = aggregate
    config = stream_config(
        endpoint, arn, tmp_path / "s.db", f"tumbling_window_in_seconds: {WINDOW}\nbatch_size: 4\n"
    )
    sent: Counter[str] = Counter()
    async with running(config):
        await _next_window()
        for window in range(3):
            items = [(f"k{i % 3}", f"k{i % 3}:{window * 10 + i}") for i in range(10)]
            put(kinesis, name, items)
            for _, data in items:
                key, amount = data.split(":")
                sent[key] += int(amount)
            await _next_window()
        await wait_for(lambda: len(finals) >= 3, timeout=30)

    totals: Counter[str] = Counter()
    for final in finals:
        assert final["Records"] == []
        assert final["isWindowTerminatedEarly"] is False
        totals.update(final["state"])
    assert totals == sent
    starts = [f["window"]["start"] for f in finals]
    assert len(set(starts)) == 3  # one final invocation per window
    for call in itest_handlers.calls:
        event = call["event"]
        assert set(event) == {
            "Records",
            "window",
            "state",
            "shardId",
            "eventSourceARN",
            "isFinalInvokeForWindow",
            "isWindowTerminatedEarly",
        }
        assert event["shardId"] == "shardId-000000000000"
        assert event["eventSourceARN"] == arn


async def test_a_response_without_state_is_a_failure(
    endpoint: str, kinesis: Any, tmp_path: Path
) -> None:
    name = unique("s")
    arn = make_stream(kinesis, name)
    put(kinesis, name, [("k", "1")])

    def forgetful(event: dict[str, Any], index: int) -> Any:
        return None if index == 0 else {"state": event["state"]}

    itest_handlers.behaviour = forgetful
    config = stream_config(endpoint, arn, tmp_path / "s.db", "tumbling_window_in_seconds: 60\n")
    async with running(config):
        await wait_for(lambda: len(itest_handlers.calls) >= 2)
    first, second = itest_handlers.calls[:2]
    assert first["event"]["Records"] == second["event"]["Records"]  # retried: same records
