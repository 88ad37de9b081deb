"""shards: lineage (parents before children), where a reader starts, when a shard ended (§4.7)."""

from __future__ import annotations

import pytest

from poller.sources.shards import (
    LATEST,
    SHARD_END,
    TRIM_HORIZON,
    Position,
    ShardInfo,
    is_finished,
    reached_end,
    start_position,
    startable,
)

STAMP = 1_700_000_000.5


def opened(shard_id: str, *parents: str) -> ShardInfo:
    """A shard still taking records (no EndingSequenceNumber)."""
    return ShardInfo(shard_id, parents=parents, starting_sequence="1")


def closed(shard_id: str, *parents: str, ending: str = "100") -> ShardInfo:
    """A shard closed by a reshard (or a DynamoDB roll-over): it ends at `ending`."""
    return ShardInfo(shard_id, parents=parents, starting_sequence="1", ending_sequence=ending)


# A multi-level lineage: A splits into B and C, then B and C merge into D (the only open shard).
A, B, C, D = closed("A"), closed("B", "A"), closed("C", "A"), opened("D", "B", "C")
LINEAGE = [A, B, C, D]


def test_closed_means_an_ending_sequence_number() -> None:
    assert not opened("s").closed
    assert closed("s").closed


def test_positions() -> None:
    assert (TRIM_HORIZON.kind, TRIM_HORIZON.sequence, TRIM_HORIZON.timestamp) == (
        "TRIM_HORIZON",
        None,
        None,
    )
    assert (LATEST.kind, LATEST.sequence, LATEST.timestamp) == ("LATEST", None, None)


# --- is_finished ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shard", "checkpoints", "position", "expected"),
    [
        pytest.param(closed("s"), {"s": SHARD_END}, "TRIM_HORIZON", True, id="shard-end-closed"),
        pytest.param(opened("s"), {"s": SHARD_END}, "TRIM_HORIZON", True, id="shard-end-open"),
        pytest.param(closed("s"), {"s": SHARD_END}, "LATEST", True, id="shard-end-latest"),
        pytest.param(closed("s"), {}, "LATEST", True, id="latest-skips-closed-never-read"),
        pytest.param(closed("s"), {}, "TRIM_HORIZON", False, id="trim-horizon-reads-closed"),
        pytest.param(closed("s"), {}, "AT_TIMESTAMP", False, id="at-timestamp-reads-closed"),
        pytest.param(opened("s"), {}, "LATEST", False, id="latest-open-never-read"),
        pytest.param(closed("s"), {"s": "50"}, "LATEST", False, id="latest-closed-partly-read"),
        pytest.param(
            closed("s"), {"s": "100"}, "TRIM_HORIZON", False, id="at-ending-sequence-not-shard-end"
        ),
        pytest.param(opened("s"), {"s": "50"}, "TRIM_HORIZON", False, id="open-partly-read"),
        pytest.param(
            closed("s"), {"other": SHARD_END}, "TRIM_HORIZON", False, id="other-shards-ignored"
        ),
    ],
)
def test_is_finished(
    shard: ShardInfo, checkpoints: dict[str, str], position: str, expected: bool
) -> None:
    assert is_finished(shard, checkpoints, position) is expected


# --- startable -----------------------------------------------------------------------------------

END = SHARD_END


@pytest.mark.parametrize(
    ("shards", "checkpoints", "position", "running", "expected"),
    [
        pytest.param([], {}, "TRIM_HORIZON", [], [], id="empty-listing"),
        pytest.param(
            [opened("s0"), opened("s1")], {}, "TRIM_HORIZON", [], ["s0", "s1"], id="root-shards"
        ),
        pytest.param(
            [opened("s2"), opened("s0"), opened("s1")], {}, "TRIM_HORIZON", [],
            ["s2", "s0", "s1"], id="listing-order-kept",
        ),
        pytest.param(
            [closed("s0"), opened("s1")], {"s0": END}, "TRIM_HORIZON", [], ["s1"],
            id="finished-root-skipped",
        ),
        pytest.param(
            [closed("s0")], {"s0": END}, "TRIM_HORIZON", [], [], id="all-finished",
        ),
        # Split: one parent, two children.
        pytest.param(
            [closed("p"), opened("a", "p"), opened("b", "p")], {}, "TRIM_HORIZON", [], ["p"],
            id="split-children-wait-for-unread-parent",
        ),
        pytest.param(
            [closed("p"), opened("a", "p"), opened("b", "p")], {"p": "50"}, "TRIM_HORIZON", [],
            ["p"], id="split-children-wait-for-partly-read-parent",
        ),
        pytest.param(
            [closed("p"), opened("a", "p"), opened("b", "p")], {"p": "100"}, "TRIM_HORIZON", [],
            ["p"], id="split-children-wait-until-shard-end-not-ending-sequence",
        ),
        pytest.param(
            [closed("p"), opened("a", "p"), opened("b", "p")], {"p": END}, "TRIM_HORIZON", [],
            ["a", "b"], id="split-children-start-after-shard-end",
        ),
        # Merge: two parents, one child.
        pytest.param(
            [closed("p1"), closed("p2"), opened("c", "p1", "p2")], {}, "TRIM_HORIZON", [],
            ["p1", "p2"], id="merge-parents-first",
        ),
        pytest.param(
            [closed("p1"), closed("p2"), opened("c", "p1", "p2")], {"p1": END, "p2": "7"},
            "TRIM_HORIZON", [], ["p2"], id="merge-child-waits-for-second-parent",
        ),
        pytest.param(
            [closed("p1"), closed("p2"), opened("c", "p1", "p2")], {"p1": "7", "p2": END},
            "TRIM_HORIZON", [], ["p1"], id="merge-child-waits-for-first-parent",
        ),
        pytest.param(
            [closed("p1"), closed("p2"), opened("c", "p1", "p2")], {"p1": END, "p2": END},
            "TRIM_HORIZON", [], ["c"], id="merge-child-after-both-parents",
        ),
        # A parent trimmed from the listing (past retention) counts as done.
        pytest.param(
            [opened("c", "gone")], {}, "TRIM_HORIZON", [], ["c"], id="missing-parent-is-done",
        ),
        pytest.param(
            [closed("p2"), opened("c", "gone", "p2")], {}, "TRIM_HORIZON", [], ["p2"],
            id="merge-one-parent-missing-other-unread",
        ),
        pytest.param(
            [closed("p2"), opened("c", "gone", "p2")], {"p2": END}, "TRIM_HORIZON", [], ["c"],
            id="merge-one-parent-missing-other-done",
        ),
        # LATEST skips what closed, never-read shards hold, which releases their children.
        pytest.param(
            [closed("p"), opened("a", "p"), opened("b", "p")], {}, "LATEST", [], ["a", "b"],
            id="latest-skips-closed-parent",
        ),
        pytest.param(
            [closed("p"), opened("a", "p")], {"p": "50"}, "LATEST", [], ["p"],
            id="latest-finishes-partly-read-parent",
        ),
        pytest.param(
            [closed("p"), opened("a", "p")], {}, "AT_TIMESTAMP", [], ["p"],
            id="at-timestamp-reads-closed-parent",
        ),
        # Running readers are not started again, and hold their children back.
        pytest.param(
            [opened("s0"), opened("s1")], {}, "TRIM_HORIZON", ["s0"], ["s1"],
            id="running-excluded",
        ),
        pytest.param(
            [opened("s0"), opened("s1")], {"s0": "5"}, "TRIM_HORIZON", ["s0", "s1"], [],
            id="all-running",
        ),
        pytest.param(
            [closed("p"), opened("a", "p")], {"p": "99"}, "TRIM_HORIZON", ["p"], [],
            id="running-parent-holds-children",
        ),
        pytest.param(
            [opened("s0")], {}, "TRIM_HORIZON", ["not-listed"], ["s0"],
            id="running-unlisted-ignored",
        ),
        # Multi-level: A -> (B, C) -> D.
        pytest.param(LINEAGE, {}, "TRIM_HORIZON", [], ["A"], id="lineage-root-first"),
        pytest.param(
            LINEAGE, {"A": END}, "TRIM_HORIZON", [], ["B", "C"], id="lineage-split-children",
        ),
        pytest.param(
            LINEAGE, {"A": END, "B": END, "C": "5"}, "TRIM_HORIZON", [], ["C"],
            id="lineage-merge-waits-for-c",
        ),
        pytest.param(
            LINEAGE, {"A": END, "B": END}, "TRIM_HORIZON", ["C"], [],
            id="lineage-merge-waits-for-running-c",
        ),
        pytest.param(
            LINEAGE, {"A": END, "B": END, "C": END}, "TRIM_HORIZON", [], ["D"],
            id="lineage-grandchild-last",
        ),
        pytest.param(
            [B, C, D], {}, "TRIM_HORIZON", [], ["B", "C"], id="lineage-root-trimmed",
        ),
        pytest.param(LINEAGE, {}, "LATEST", [], ["D"], id="lineage-latest-skips-closed-ancestry"),
        pytest.param(
            LINEAGE, {}, "AT_TIMESTAMP", [], ["A"], id="lineage-at-timestamp-root-first",
        ),
    ],
)  # fmt: skip
def test_startable(
    shards: list[ShardInfo],
    checkpoints: dict[str, str],
    position: str,
    running: list[str],
    expected: list[str],
) -> None:
    assert startable(shards, checkpoints, position, running) == expected


@pytest.mark.parametrize(
    ("shards", "checkpoints", "position", "running", "active", "expected"),
    [
        # A closed, never-read parent counts as finished under LATEST, but while it is read
        # here (`running`) or elsewhere (`active`: another replica holds its lease) its
        # children wait; once it is in neither they start.
        pytest.param(
            [closed("p"), opened("a", "p")], {}, "LATEST", [], [], ["a"],
            id="latest-parent-in-neither-releases-child",
        ),
        pytest.param(
            [closed("p"), opened("a", "p")], {}, "LATEST", ["p"], [], [],
            id="latest-parent-running-holds-child",
        ),
        pytest.param(
            [closed("p"), opened("a", "p")], {}, "LATEST", [], ["p"], [],
            id="latest-parent-active-holds-child",
        ),
        pytest.param(
            [closed("p"), opened("a", "p")], {}, "LATEST", ["p"], ["p"], [],
            id="latest-parent-running-and-active",
        ),
        pytest.param(
            [closed("p"), opened("a", "p"), opened("b", "p")], {}, "LATEST", [], ["p"], [],
            id="latest-split-both-children-wait",
        ),
        pytest.param(
            LINEAGE, {}, "LATEST", [], ["B"], [], id="latest-lineage-active-parent-holds-merge",
        ),
        # SHARD_END in `active`: the other replica is still finishing it (settling, releasing).
        pytest.param(
            [closed("p"), opened("a", "p")], {"p": END}, "TRIM_HORIZON", [], ["p"], [],
            id="shard-end-parent-active-holds-child",
        ),
        pytest.param(
            [closed("p"), opened("a", "p")], {"p": END}, "LATEST", [], ["p"], [],
            id="shard-end-parent-active-holds-child-latest",
        ),
        pytest.param(
            [closed("p"), opened("a", "p")], {"p": END}, "TRIM_HORIZON", ["p"], [], [],
            id="shard-end-parent-running-holds-child",
        ),
        pytest.param(
            [closed("p"), opened("a", "p")], {"p": END}, "TRIM_HORIZON", [], [], ["a"],
            id="shard-end-parent-in-neither-releases-child",
        ),
        pytest.param(
            [closed("p1"), closed("p2"), opened("c", "p1", "p2")], {"p1": END, "p2": END},
            "TRIM_HORIZON", [], ["p2"], [], id="merge-one-parent-active",
        ),
        # `active` only holds back children: a shard another replica reads is still listed
        # (whether to take its lease is the balancer's call), unlike a running one.
        pytest.param(
            [opened("s0"), opened("s1")], {}, "TRIM_HORIZON", [], ["s0"], ["s0", "s1"],
            id="active-shard-itself-still-startable",
        ),
        pytest.param(
            [closed("p"), opened("a", "p")], {"p": "50"}, "TRIM_HORIZON", [], ["p"], ["p"],
            id="active-partly-read-parent-listed-child-waits",
        ),
        # Unknown ids change nothing; a parent trimmed from the listing is done even if active.
        pytest.param(
            [opened("s0")], {}, "TRIM_HORIZON", [], ["not-listed"], ["s0"],
            id="active-unlisted-ignored",
        ),
        pytest.param(
            [opened("c", "gone")], {}, "TRIM_HORIZON", [], ["gone"], ["c"],
            id="active-missing-parent-still-done",
        ),
        pytest.param(
            [closed("p"), opened("a", "p"), opened("x")], {"p": END}, "TRIM_HORIZON", [],
            ["x"], ["a", "x"], id="active-unrelated-shard-holds-nothing",
        ),
    ],
)  # fmt: skip
def test_startable_active(
    shards: list[ShardInfo],
    checkpoints: dict[str, str],
    position: str,
    running: list[str],
    active: list[str],
    expected: list[str],
) -> None:
    assert startable(shards, checkpoints, position, running, active) == expected
    assert startable(shards, checkpoints, position, running=running, active=active) == expected


def test_startable_active_accepts_any_iterable() -> None:
    shards = [closed("p"), opened("a", "p")]
    assert startable(shards, {}, "LATEST", active=iter(["p"])) == []
    assert startable(shards, {}, "LATEST", active=iter(())) == ["a"]


def test_startable_running_defaults_to_none() -> None:
    assert startable([opened("s0")], {}, "LATEST") == ["s0"]


def test_startable_accepts_any_iterables() -> None:
    shards = iter([closed("p"), opened("a", "p")])
    assert startable(shards, {"p": SHARD_END}, "TRIM_HORIZON", iter(())) == ["a"]


def test_latest_does_not_skip_closed_child_of_read_parent() -> None:
    # Regression: after downtime (or a DynamoDB roll-over) a read shard's child may be closed
    # before it is read; LATEST must not skip it, or its records are lost.
    shards = [closed("p"), closed("a", "p"), opened("b", "a")]
    assert startable(shards, {"p": SHARD_END}, "LATEST") == ["a"]


# --- start_position ------------------------------------------------------------------------------

LONG_SEQUENCE = "49590338271490256608559692538361571095921575989136588898"


@pytest.mark.parametrize(
    ("shard", "checkpoints", "position", "timestamp", "expected"),
    [
        # A checkpoint is where the reader resumes, whatever the StartingPosition.
        pytest.param(
            opened("s"), {"s": "42"}, "TRIM_HORIZON", None,
            Position("AFTER_SEQUENCE_NUMBER", sequence="42"), id="checkpoint-trim-horizon",
        ),
        pytest.param(
            opened("s"), {"s": "42"}, "LATEST", None,
            Position("AFTER_SEQUENCE_NUMBER", sequence="42"), id="checkpoint-latest",
        ),
        pytest.param(
            opened("s"), {"s": "42"}, "AT_TIMESTAMP", STAMP,
            Position("AFTER_SEQUENCE_NUMBER", sequence="42"), id="checkpoint-at-timestamp",
        ),
        pytest.param(
            opened("s"), {"s": LONG_SEQUENCE}, "LATEST", None,
            Position("AFTER_SEQUENCE_NUMBER", sequence=LONG_SEQUENCE),
            id="checkpoint-kinesis-length",
        ),
        pytest.param(
            opened("c", "p"), {"c": "42", "p": SHARD_END}, "LATEST", None,
            Position("AFTER_SEQUENCE_NUMBER", sequence="42"), id="checkpoint-beats-read-parent",
        ),
        # SHARD_END is not a sequence number to resume after.
        pytest.param(
            closed("s"), {"s": SHARD_END}, "TRIM_HORIZON", None, TRIM_HORIZON,
            id="shard-end-not-resume-point-trim-horizon",
        ),
        pytest.param(
            closed("s"), {"s": SHARD_END}, "LATEST", None, LATEST,
            id="shard-end-not-resume-point-latest",
        ),
        # A child of a parent this mapping read starts at its first record.
        pytest.param(
            opened("c", "p"), {"p": SHARD_END}, "LATEST", None, TRIM_HORIZON,
            id="child-of-read-parent-latest",
        ),
        pytest.param(
            opened("c", "p"), {"p": SHARD_END}, "AT_TIMESTAMP", STAMP, TRIM_HORIZON,
            id="child-of-read-parent-at-timestamp",
        ),
        pytest.param(
            opened("c", "p"), {"p": "50"}, "LATEST", None, TRIM_HORIZON,
            id="child-of-partly-read-parent",
        ),
        pytest.param(
            opened("c", "p1", "p2"), {"p2": SHARD_END}, "LATEST", None, TRIM_HORIZON,
            id="merge-child-one-parent-read",
        ),
        pytest.param(
            opened("c", "p"), {}, "LATEST", None, LATEST, id="child-of-unread-parent-latest",
        ),
        pytest.param(
            opened("c", "gone"), {"other": SHARD_END}, "LATEST", None, LATEST,
            id="other-shards-checkpoints-ignored",
        ),
        # Otherwise the mapping's StartingPosition.
        pytest.param(opened("s"), {}, "TRIM_HORIZON", None, TRIM_HORIZON, id="trim-horizon"),
        pytest.param(opened("s"), {}, "LATEST", None, LATEST, id="latest"),
        pytest.param(
            opened("s"), {}, "AT_TIMESTAMP", STAMP, Position("AT_TIMESTAMP", timestamp=STAMP),
            id="at-timestamp-carries-timestamp",
        ),
        pytest.param(
            opened("c", "p"), {}, "AT_TIMESTAMP", STAMP,
            Position("AT_TIMESTAMP", timestamp=STAMP), id="child-of-unread-parent-at-timestamp",
        ),
        pytest.param(
            opened("s"), {}, "LATEST", STAMP, LATEST, id="timestamp-ignored-without-at-timestamp",
        ),
    ],
)  # fmt: skip
def test_start_position(
    shard: ShardInfo,
    checkpoints: dict[str, str],
    position: str,
    timestamp: float | None,
    expected: Position,
) -> None:
    assert start_position(shard, checkpoints, position, timestamp) == expected


# --- reached_end ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shard", "next_iterator", "got_records", "last", "millis", "expected"),
    [
        # AWS: a null NextShardIterator ends the shard, records or not.
        pytest.param(closed("s"), None, True, "90", 500, True, id="null-iterator-with-records"),
        pytest.param(closed("s"), None, False, None, None, True, id="null-iterator-empty"),
        pytest.param(opened("s"), None, True, "90", 0, True, id="null-iterator-open-shard"),
        # An open shard never ends while it has an iterator.
        pytest.param(opened("s"), "it", False, "90", 0, False, id="open-caught-up"),
        pytest.param(opened("s"), "it", False, None, None, False, id="open-empty"),
        pytest.param(opened("s"), "it", True, "90", 0, False, id="open-with-records"),
        # A closed shard that still returned records: read again.
        pytest.param(closed("s"), "it", True, "100", 0, False, id="closed-records-at-end"),
        pytest.param(closed("s"), "it", True, "150", 0, False, id="closed-records-past-end"),
        # Closed and empty: at or past the ending sequence number (compared as integers).
        pytest.param(closed("s"), "it", False, "100", 500, True, id="closed-empty-at-end"),
        pytest.param(closed("s"), "it", False, "101", 500, True, id="closed-empty-past-end"),
        pytest.param(
            closed("s", ending="9"), "it", False, "10", 500, True, id="integer-compare-10-ge-9",
        ),
        pytest.param(
            closed("s", ending="10"), "it", False, "9", 500, False, id="integer-compare-9-lt-10",
        ),
        pytest.param(
            closed("s", ending=LONG_SEQUENCE), "it", False, LONG_SEQUENCE, 500, True,
            id="kinesis-length-at-end",
        ),
        pytest.param(
            closed("s", ending=LONG_SEQUENCE), "it", False, LONG_SEQUENCE[:-1], 500, False,
            id="kinesis-shorter-number-before-end",
        ),
        # Closed and empty: caught up with the tip.
        pytest.param(closed("s"), "it", False, "50", 0, True, id="closed-empty-caught-up"),
        pytest.param(closed("s"), "it", False, None, 0, True, id="closed-never-read-caught-up"),
        pytest.param(closed("s"), "it", False, "50", 500, False, id="closed-empty-behind"),
        pytest.param(closed("s"), "it", False, None, 500, False, id="closed-never-read-behind"),
        # DynamoDB Streams report no MillisBehindLatest.
        pytest.param(closed("s"), "it", False, "50", None, False, id="dynamodb-before-end"),
        pytest.param(closed("s"), "it", False, None, None, False, id="dynamodb-never-read"),
        pytest.param(closed("s"), "it", False, "100", None, True, id="dynamodb-at-end"),
    ],
)  # fmt: skip
def test_reached_end(
    shard: ShardInfo,
    next_iterator: str | None,
    got_records: bool,
    last: str | None,
    millis: int | None,
    expected: bool,
) -> None:
    assert reached_end(shard, next_iterator, got_records, last, millis) is expected
