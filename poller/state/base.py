"""The CheckpointStore protocol and the rule that a shard checkpoint never moves backwards."""

from __future__ import annotations

from typing import Protocol

# Every record of a closed shard is processed (the Kinesis Client Library's sentinel).
SHARD_END = "SHARD_END"


def _is_sequence(text: str) -> bool:
    # int() alone would accept " 12", "+12" and "1_2"; a sequence number is plain ASCII digits.
    return text.isascii() and text.isdigit()


def _sequence(checkpoint: str) -> int | None:
    """The sequence number as an int, or None for SHARD_END; ValueError for anything else."""
    if checkpoint == SHARD_END:
        return None
    if not _is_sequence(checkpoint):
        raise ValueError(f"not a sequence number or {SHARD_END}: {checkpoint!r}")
    return int(checkpoint)


def real_checkpoint(value: str | None) -> str | None:
    """`value` if it is a checkpoint (a sequence number or SHARD_END), else None: a lease's
    initial-position sentinels (TRIM_HORIZON, LATEST, AT_TIMESTAMP) mean nothing settled yet."""
    if value is None or value == SHARD_END or _is_sequence(value):
        return value
    return None


def advances(stored: str | None, new: str) -> bool:
    """True when `new` may replace `stored`: it is not behind it and stored is not SHARD_END.

    Sequence numbers compare as integers (their decimal strings vary in length); saving the
    stored value again is allowed. Raises ValueError when either value is malformed.
    """
    new_seq = _sequence(new)
    if stored is None:
        return True
    stored_seq = _sequence(stored)
    if stored_seq is None:
        return False
    return new_seq is None or new_seq >= stored_seq


class CheckpointStore(Protocol):
    """Where a stream mapping records, per shard, the last sequence number it fully processed.

    A mapping is identified by its UUID string. A checkpoint is a sequence number as a decimal
    string, or SHARD_END. A returned save is durable: it survives a crash or restart.
    """

    async def load(self, mapping: str) -> dict[str, str]:
        """Every shard's checkpoint for `mapping`, by shard id; empty when none was saved."""
        ...

    async def get(self, mapping: str, shard_id: str) -> str | None:
        """The checkpoint of one shard, or None when none was saved."""
        ...

    async def save(self, mapping: str, shard_id: str, checkpoint: str) -> bool:
        """Store `checkpoint` unless it would move backwards (see `advances`).

        Returns False and stores nothing when the stored value is SHARD_END or a greater
        sequence number; otherwise stores it and returns True. ValueError when malformed.
        """
        ...

    async def close(self) -> None:
        """Release the store; idempotent. No other call may follow."""
        ...
