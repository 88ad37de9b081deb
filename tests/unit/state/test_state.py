"""state: the never-backwards rule and the SQLite checkpoint store (real files under tmp_path)."""

from __future__ import annotations

import random
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import pytest

from poller.errors import StartupError
from poller.sources.shards import SHARD_END, advances
from poller.state.base import CheckpointStore
from poller.state.sqlite import SqliteCheckpointStore

MAPPING = "6f1c1a3e-1d7e-4b8e-9d5a-2f0c6f4b7a10"
OTHER = "0b7e0f52-58a3-4c1e-a7a4-3c9d2e1f8b22"
SHARD = "shardId-000000000000"
# Kinesis sequence numbers are up to 128 digits; 56 is the common length.
BIG = "49590338271490256608559692538361571095921575989136588898"
BIG_NEXT = "49590338271490256608559692538361571095921575989136588899"


@pytest.mark.parametrize(
    ("stored", "new", "expected"),
    [
        pytest.param(None, "1", True, id="none-seq"),
        pytest.param(None, SHARD_END, True, id="none-shard-end"),
        pytest.param("5", "5", True, id="equal"),
        pytest.param("5", "6", True, id="greater"),
        pytest.param("6", "5", False, id="smaller"),
        pytest.param("9", "10", True, id="longer-is-greater-not-lexical"),
        pytest.param("10", "9", False, id="shorter-is-smaller-not-lexical"),
        pytest.param("100", "99", False, id="lexically-greater-but-smaller"),
        pytest.param("12345", SHARD_END, True, id="seq-to-shard-end"),
        pytest.param(SHARD_END, "99999", False, id="shard-end-is-final"),
        pytest.param(SHARD_END, SHARD_END, False, id="shard-end-again"),
        pytest.param(BIG, BIG_NEXT, True, id="huge-greater"),
        pytest.param(BIG_NEXT, BIG, False, id="huge-smaller"),
        pytest.param(BIG, BIG, True, id="huge-equal"),
        pytest.param(BIG, "9" * 55, False, id="huge-vs-fewer-digits"),
        pytest.param("9" * 55, BIG, True, id="fewer-digits-vs-huge"),
    ],
)
def test_advances(stored: str | None, new: str, expected: bool) -> None:
    assert advances(stored, new) is expected


@pytest.mark.parametrize("bad", ["", " 1", "+1", "-1", "1_0", "1.0", "abc", "shard_end", "\uff11"])
@pytest.mark.parametrize("stored", [None, "5", SHARD_END])
def test_advances_rejects_malformed(stored: str | None, bad: str) -> None:
    with pytest.raises(ValueError, match="not a sequence number"):
        advances(stored, bad)


def test_advances_rejects_malformed_stored() -> None:
    with pytest.raises(ValueError, match="not a sequence number"):
        advances("garbage", "5")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteCheckpointStore]:
    opened = await SqliteCheckpointStore.open(tmp_path / "state" / "checkpoints.db")
    yield opened
    await opened.close()


def test_satisfies_protocol(tmp_path: Path) -> None:
    opened = SqliteCheckpointStore(tmp_path / "c.db")
    store: CheckpointStore = opened  # mypy checks the structural match
    assert store is opened
    opened._close()


@pytest.mark.anyio
async def test_round_trip(store: SqliteCheckpointStore) -> None:
    assert (await store.load(MAPPING)).get(SHARD) is None
    assert await store.load(MAPPING) == {}
    assert await store.save(MAPPING, SHARD, BIG) is True
    assert await store.save(MAPPING, "shardId-000000000001", SHARD_END) is True
    assert (await store.load(MAPPING)).get(SHARD) == BIG
    assert await store.load(MAPPING) == {SHARD: BIG, "shardId-000000000001": SHARD_END}


@pytest.mark.anyio
async def test_mappings_are_separate(store: SqliteCheckpointStore) -> None:
    assert await store.save(MAPPING, SHARD, "100") is True
    assert await store.save(OTHER, SHARD, "5") is True  # not compared with MAPPING's 100
    assert (await store.load(MAPPING)).get(SHARD) == "100"
    assert (await store.load(OTHER)).get(SHARD) == "5"
    assert await store.load(OTHER) == {SHARD: "5"}
    assert await store.load("unknown") == {}


@pytest.mark.anyio
async def test_never_moves_backwards(store: SqliteCheckpointStore) -> None:
    steps = [
        ("9", True, "9"),
        ("10", True, "10"),
        ("9", False, "10"),
        ("10", True, "10"),
        ("100", True, "100"),
        (SHARD_END, True, SHARD_END),
        ("999", False, SHARD_END),
        (SHARD_END, False, SHARD_END),
    ]
    for checkpoint, saved, after in steps:
        assert await store.save(MAPPING, SHARD, checkpoint) is saved, checkpoint
        assert (await store.load(MAPPING)).get(SHARD) == after


@pytest.mark.anyio
async def test_malformed_checkpoint_stores_nothing(store: SqliteCheckpointStore) -> None:
    with pytest.raises(ValueError, match="not a sequence number"):
        await store.save(MAPPING, SHARD, "12a")
    assert await store.load(MAPPING) == {}
    assert await store.save(MAPPING, SHARD, "12") is True  # the failed transaction was undone


@pytest.mark.anyio
async def test_survives_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.db"
    first = await SqliteCheckpointStore.open(path)
    await first.save(MAPPING, SHARD, BIG)
    await first.save(OTHER, SHARD, SHARD_END)
    await first.close()
    await first.close()  # idempotent

    second = await SqliteCheckpointStore.open(path)
    assert await second.load(MAPPING) == {SHARD: BIG}
    assert (await second.load(OTHER)).get(SHARD) == SHARD_END
    assert await second.save(MAPPING, SHARD, "1") is False  # the rule holds across restarts
    await second.close()


@pytest.mark.anyio
async def test_survives_a_crash_without_close(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.db"
    script = (
        "import anyio, os, sys\n"
        "from pathlib import Path\n"
        "from poller.state.sqlite import SqliteCheckpointStore\n"
        "async def main():\n"
        "    store = await SqliteCheckpointStore.open(Path(sys.argv[1]))\n"
        f"    assert await store.save({MAPPING!r}, {SHARD!r}, {BIG!r})\n"
        "    os._exit(0)  # no close, no WAL checkpoint, no interpreter shutdown\n"
        "anyio.run(main)\n"
    )
    await anyio.run_process([sys.executable, "-c", script, str(path)], check=True)
    store = await SqliteCheckpointStore.open(path)
    assert (await store.load(MAPPING)).get(SHARD) == BIG
    await store.close()


@pytest.mark.anyio
async def test_wal_and_normal_sync(store: SqliteCheckpointStore) -> None:
    """WAL with synchronous=NORMAL: commits survive a process crash; an fsync per checkpoint
    would buy only power-loss durability, which at-least-once does not need (a lost checkpoint
    is a redelivery)."""
    await store.save(MAPPING, SHARD, "1")
    other = sqlite3.connect(store.path)
    try:
        assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        other.close()
    assert store._conn.execute("PRAGMA synchronous").fetchone() == (1,)  # 1 is NORMAL


@pytest.mark.anyio
async def test_concurrent_saves_end_with_the_max(store: SqliteCheckpointStore) -> None:
    shards = [f"shardId-00000000000{i}" for i in range(3)]
    work = [(shard, str(n)) for shard in shards for n in range(1, 41)]
    random.Random(7).shuffle(work)
    results: list[bool] = []

    async def save(shard: str, checkpoint: str) -> None:
        results.append(await store.save(MAPPING, shard, checkpoint))

    async with anyio.create_task_group() as tg:
        for shard, checkpoint in work:
            tg.start_soon(save, shard, checkpoint)

    assert len(results) == len(work)
    assert await store.load(MAPPING) == dict.fromkeys(shards, "40")


def _file_as_parent(tmp_path: Path) -> Path:
    (tmp_path / "taken").write_text("a file, not a directory")
    return tmp_path / "taken" / "checkpoints.db"


def _not_a_database(tmp_path: Path) -> Path:
    path = tmp_path / "checkpoints.db"
    path.write_bytes(b"this is a text file, not SQLite\n" * 64)
    return path


def _a_directory(tmp_path: Path) -> Path:
    (tmp_path / "checkpoints.db").mkdir()
    return tmp_path / "checkpoints.db"


@pytest.mark.anyio
@pytest.mark.parametrize("make", [_file_as_parent, _not_a_database, _a_directory])
async def test_bad_path_is_a_startup_error(tmp_path: Path, make: Callable[[Path], Path]) -> None:
    path = make(tmp_path)
    with pytest.raises(StartupError, match=r"^state\.path: .*checkpoints\.db") as caught:
        await SqliteCheckpointStore.open(path)
    assert isinstance(caught.value.__cause__, OSError | sqlite3.Error)
