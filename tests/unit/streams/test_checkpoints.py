"""CheckpointWriter (one write in flight, newest wins) and the bound it keeps for a lane: a lane
never runs more than one finished batch ahead of its durable checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from fake_stream import FakeStream, RecordingInvoker

from poller.aws import Aws
from poller.config.models import StreamMappingConfig
from poller.config.settings import AwsConfig, FunctionConfig
from poller.lifecycle import Lifecycle
from poller.runtime import Runtime
from poller.sources.streams import ShardSource
from poller.state.sqlite import SqliteCheckpointStore
from poller.streams.checkpoints import CheckpointWriter
from poller.streams.mapping import StreamMapping
from poller.telemetry.http import Readiness
from poller.telemetry.metrics import Metrics

pytestmark = pytest.mark.anyio


class Gate:
    """A `save` that records what it writes and holds each write until released."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.started = anyio.Event()
        self.release = anyio.Event()

    async def save(self, checkpoint: str) -> None:
        self.started.set()
        await self.release.wait()
        self.written.append(checkpoint)


async def test_newest_wins_behind_a_write_in_flight() -> None:
    gate = Gate()
    writer = CheckpointWriter(gate.save)
    async with anyio.create_task_group() as tg:
        tg.start_soon(writer.run)
        first = writer.put("1")
        await gate.started.wait()  # "1" is in flight
        writer.put("2")
        last = writer.put("3")  # replaces "2", still queued
        writer.close()
        gate.release.set()
        with anyio.fail_after(5):
            await writer.settled(last)
    assert gate.written == ["1", "3"]
    assert first < last


async def test_settled_waits_for_the_write() -> None:
    gate = Gate()
    writer = CheckpointWriter(gate.save)
    async with anyio.create_task_group() as tg:
        tg.start_soon(writer.run)
        ticket = writer.put("7")
        with anyio.move_on_after(0.1) as waited:
            await writer.settled(ticket)
        assert waited.cancelled_caught  # not written yet
        gate.release.set()
        with anyio.fail_after(5):
            await writer.settled(ticket)
        assert gate.written == ["7"]
        await writer.settled(0)  # nothing asked for: returns at once
        writer.close()


async def test_close_writes_what_is_queued_then_run_returns() -> None:
    gate = Gate()
    gate.release.set()
    writer = CheckpointWriter(gate.save)
    writer.put("5")
    writer.close()
    with anyio.fail_after(5):
        await writer.run()
    assert gate.written == ["5"]


class SlowStore:
    """SQLite behind writes that take 50 ms each; `durable` is what a crash would leave."""

    def __init__(self, inner: SqliteCheckpointStore) -> None:
        self.inner = inner
        self.durable: dict[str, str] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def save(self, mapping: str, shard_id: str, checkpoint: str) -> bool:
        await anyio.sleep(0.05)
        saved = await self.inner.save(mapping, shard_id, checkpoint)
        if saved:
            self.durable[shard_id] = checkpoint
        return saved


async def test_a_lane_runs_at_most_one_finished_batch_ahead_of_its_checkpoint(
    tmp_path: Path,
) -> None:
    """With checkpoint writes slower than the handler, a crash at any moment redelivers at most
    the batch in flight and the one finished before it: when batch n starts, the durable
    checkpoint covers batch n-2."""
    stream = FakeStream()
    for n in range(60):
        stream.put(f"k{n}", f"r{n}")
    invoker = RecordingInvoker()
    seen: list[tuple[int, int]] = []  # (first sequence of the batch, durable checkpoint)
    inner = await SqliteCheckpointStore.open(tmp_path / "s.db")
    store = SlowStore(inner)

    def observe(event: dict[str, Any]) -> bool:
        durable = next(iter(store.durable.values()), "0")  # the stream has one shard
        seen.append((int(event["Records"][0]["kinesis"]["sequenceNumber"]), int(durable)))
        return False

    invoker.fail = observe
    config = StreamMappingConfig.model_validate(
        {
            "function": "fn",
            "event_source_arn": stream.stream_arn,
            "starting_position": "TRIM_HORIZON",
            "batch_size": 5,
        }
    )
    metrics, lifecycle = Metrics(), Lifecycle()
    runtime = Runtime(Aws(AwsConfig(), metrics), metrics, Readiness(), lifecycle)

    async def open_fake(*_: Any) -> ShardSource:
        return stream

    mapping = StreamMapping(
        config,
        "mappings[0]",
        FunctionConfig(handler="m:f"),
        invoker,
        runtime,
        store,
        sources={"kinesis": open_fake},
    )
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(mapping.run)
            with anyio.fail_after(20):
                while len(invoker.data()) < 60:
                    await anyio.sleep(0.01)
            lifecycle.stop()
    finally:
        await inner.close()
    firsts = [first for first, _ in seen]
    assert len(seen) == 12
    for n in range(2, len(seen)):
        last_of_two_before = firsts[n - 1] - 1  # batch n-2 ends just before batch n-1 starts
        assert seen[n][1] >= last_of_two_before, (n, seen)
    # ...and the writes were not simply waited for: some batches started before their
    # predecessor's checkpoint was durable.
    assert any(durable < firsts[n] - 1 for n, (_, durable) in enumerate(seen) if n), seen
