"""CheckpointWriter: one write in flight, newest wins. The bound it keeps for a lane (never more
than one finished batch ahead of its durable checkpoint) is tested through a shard reader in
test_stream_mapping.py."""

from __future__ import annotations

import anyio
import pytest

from poller.streams.checkpoints import CheckpointWriter

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
