"""Pure shard decisions: lineage (parents before children), where a reader starts, shard end,
and the order of checkpoints (one never moves backwards).

Kinesis and DynamoDB Streams shards form a lineage: a split closes one parent and opens two
children, a merge closes two parents and opens one child. Lambda (and the Kinesis Client Library)
finish every parent before starting its children, so records of one key stay in order across a
reshard. Checkpoints are sequence numbers as decimal strings, or SHARD_END once every record of a
closed shard is processed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class ShardInfo:
    """A shard as ListShards / DescribeStream report it.

    `ending_sequence` is set once the shard is closed (resharded, or a DynamoDB shard rolled
    over); no record is ever added to a closed shard.
    """

    shard_id: str
    parents: tuple[str, ...] = ()
    starting_sequence: str | None = None
    ending_sequence: str | None = None

    @property
    def closed(self) -> bool:
        return self.ending_sequence is not None


@dataclass(frozen=True, slots=True)
class Position:
    """Where a shard iterator starts: a ShardIteratorType and its argument.

    `sequence` goes with AFTER_SEQUENCE_NUMBER, `timestamp` (epoch seconds) with AT_TIMESTAMP.
    """

    kind: str
    sequence: str | None = None
    timestamp: float | None = None


TRIM_HORIZON = Position("TRIM_HORIZON")
LATEST = Position("LATEST")


def is_finished(shard: ShardInfo, checkpoints: Mapping[str, str], starting_position: str) -> bool:
    """True when nothing of `shard` is left for this mapping to read.

    Either its checkpoint is SHARD_END, or it is closed, never read (no checkpoint), the mapping
    starts at LATEST (which skips what a closed shard holds), and no parent of it was read: the
    child of a read shard is part of what the mapping owes, whatever its StartingPosition.
    """
    checkpoint = checkpoints.get(shard.shard_id)
    if checkpoint == SHARD_END:
        return True
    return (
        checkpoint is None
        and shard.closed
        and starting_position == "LATEST"
        and not any(checkpoints.get(parent) for parent in shard.parents)
    )


def startable(
    shards: Iterable[ShardInfo],
    checkpoints: Mapping[str, str],
    starting_position: str,
    running: Iterable[str] = (),
    active: Iterable[str] = (),
) -> list[str]:
    """The shards to start now, in listing order: not finished, not running, parents done.

    A parent is done when it is finished and nobody is reading it: not in `running` (read
    here) nor in `active` (read elsewhere: another replica holds its lease). A parent the
    listing no longer shows (trimmed past the stream's retention) counts as done: its records
    are gone and waiting for it would stall its children forever.
    """
    listed = {shard.shard_id: shard for shard in shards}
    busy = set(running)
    reading = busy | set(active)
    out = []
    for shard in listed.values():
        if shard.shard_id in busy or is_finished(shard, checkpoints, starting_position):
            continue
        if all(
            parent not in listed
            or (
                parent not in reading
                and is_finished(listed[parent], checkpoints, starting_position)
            )
            for parent in shard.parents
        ):
            out.append(shard.shard_id)
    return out


def start_position(
    shard: ShardInfo,
    checkpoints: Mapping[str, str],
    starting_position: str,
    timestamp: float | None = None,
) -> Position:
    """Where a reader of `shard` starts.

    After a checkpoint: AFTER_SEQUENCE_NUMBER. A child of a parent this mapping read: from its
    first record (TRIM_HORIZON), so nothing after a reshard is skipped. Otherwise the mapping's
    StartingPosition.
    """
    checkpoint = checkpoints.get(shard.shard_id)
    if checkpoint is not None and checkpoint != SHARD_END:
        return Position("AFTER_SEQUENCE_NUMBER", sequence=checkpoint)
    if any(checkpoints.get(parent) for parent in shard.parents):
        return TRIM_HORIZON
    if starting_position == "AT_TIMESTAMP":
        return Position("AT_TIMESTAMP", timestamp=timestamp)
    return Position(starting_position)


def reached_end(
    shard: ShardInfo,
    next_iterator: str | None,
    got_records: bool,
    last_sequence: str | None,
    millis_behind_latest: int | None,
) -> bool:
    """Whether a GetRecords response means every record of the shard has been read.

    AWS says so with a null NextShardIterator. Some servers never do (moto); for them a closed
    shard has ended once an empty response comes back with the reader at or past the shard's
    EndingSequenceNumber, or caught up with its tip (MillisBehindLatest 0).
    """
    if next_iterator is None:
        return True
    if not shard.closed or got_records:
        return False
    assert shard.ending_sequence is not None
    if last_sequence is not None and int(last_sequence) >= int(shard.ending_sequence):
        return True
    return millis_behind_latest == 0
