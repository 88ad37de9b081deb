"""CheckpointStore on one SQLite file: WAL, synchronous=NORMAL, every call in a worker thread."""

from __future__ import annotations

import functools
import sqlite3
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import anyio
import anyio.to_thread

from poller.errors import StartupError
from poller.invokers.handoff import call_in_worker
from poller.invokers.slots import Slots
from poller.sources.shards import advances
from poller.state.base import AllShards, MappingScope, ShardAccess

_SCHEMA = """
CREATE TABLE IF NOT EXISTS checkpoints (
    mapping TEXT NOT NULL,
    shard_id TEXT NOT NULL,
    checkpoint TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (mapping, shard_id)
)
"""
_SELECT = "SELECT checkpoint FROM checkpoints WHERE mapping = ? AND shard_id = ?"
_UPSERT = """
INSERT INTO checkpoints (mapping, shard_id, checkpoint, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (mapping, shard_id) DO UPDATE
SET checkpoint = excluded.checkpoint, updated_at = excluded.updated_at
"""


class SqliteCheckpointStore:
    """Checkpoints in one SQLite database file; a save that returned survives the process
    (committed in WAL mode; the OS writes it out, see `_connect`).

    One connection, guarded by a lock; async methods run it in a worker thread (the handlers'
    long-lived ones, invokers/handoff.py) so the event loop never blocks on disk. Calls are
    serialized by one slot, so waiting callers queue in the event loop rather than each holding
    a worker thread.
    """

    def __init__(self, path: Path) -> None:
        """Create or open the database (blocking); StartupError naming `state.path` if not."""
        self.path = path
        self._lock = threading.Lock()
        self._serial = Slots(1)
        self._closed = False
        self._conn = _connect(path)

    @classmethod
    async def open(cls, path: Path) -> SqliteCheckpointStore:
        """Create or open the database in a worker thread; StartupError if that fails."""
        return await anyio.to_thread.run_sync(cls, path)

    async def load(self, mapping: str) -> dict[str, str]:
        async with self._serial:
            return await call_in_worker(functools.partial(self._load, mapping))

    async def save(self, mapping: str, shard_id: str, checkpoint: str) -> bool:
        async with self._serial:
            return await call_in_worker(
                functools.partial(self._save, mapping, shard_id, checkpoint)
            )

    def access(self, scope: MappingScope) -> AbstractContextManager[ShardAccess]:
        """One process owns the file, so it reads every shard."""
        return nullcontext(AllShards())

    async def close(self) -> None:
        async with self._serial:
            await call_in_worker(self._close)

    def _load(self, mapping: str) -> dict[str, str]:
        sql = "SELECT shard_id, checkpoint FROM checkpoints WHERE mapping = ?"
        with self._lock:
            return dict(self._conn.execute(sql, (mapping,)).fetchall())

    def _save(self, mapping: str, shard_id: str, checkpoint: str) -> bool:
        # The read and the write share one IMMEDIATE transaction: no other writer (another
        # process on the same file) can slip in between the check and the upsert.
        with self._lock, self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            row = self._conn.execute(_SELECT, (mapping, shard_id)).fetchone()
            if not advances(None if row is None else str(row[0]), checkpoint):
                return False
            self._conn.execute(_UPSERT, (mapping, shard_id, checkpoint, time.time()))
            return True

    def _close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()


def _connect(path: Path) -> sqlite3.Connection:
    conn: sqlite3.Connection | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no implicit transactions; _save opens its own.
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # The first statement reads the header, so a file that is not a database fails here.
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"journal_mode is {mode!r}, WAL is not supported here")
        # NORMAL: a commit is atomic and survives a crash of the process; power loss may roll
        # back the last commits, never tear the file. At-least-once makes a lost checkpoint a
        # redelivery, never a loss, so no fsync per checkpoint (FULL's cost, ~0.5 ms each).
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(_SCHEMA)
    except (OSError, sqlite3.Error) as exc:
        if conn is not None:
            conn.close()
        raise StartupError(f"state.path: cannot open checkpoint database {path}: {exc}") from exc
    return conn
