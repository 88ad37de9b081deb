"""leases: expiry on a replica's own clock, timing, shares, what a replica takes and steals."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poller.leases.plan import (
    ExpiryClock,
    Lease,
    Plan,
    Timing,
    lease_key,
    mapping_prefix,
    plan,
    share,
)

FAILOVER = 30.0
ME = "me"


def lease(shard: str, owner: str | None = None, counter: int = 1) -> Lease:
    """The lease of `shard` in mapping "m"."""
    return Lease(lease_key("m", shard), shard, owner, counter)


def owned(owner: str | None, count: int, prefix: str | None = None) -> list[Lease]:
    """`count` leases of shards `<prefix>-0` ... owned by `owner` (prefix defaults to the owner)."""
    name = prefix or owner or "free"
    return [lease(f"{name}-{i}", owner) for i in range(count)]


# --- keys ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mapping", "shard", "key"),
    [
        pytest.param("m", "shardId-000000000000", "m:shardId-000000000000", id="kinesis"),
        pytest.param(
            "4f0e-uuid", "shardId-00000001700000000000-abcdef01",
            "4f0e-uuid:shardId-00000001700000000000-abcdef01", id="dynamodb",
        ),
        pytest.param("m", "", "m:", id="empty-shard"),
    ],
)  # fmt: skip
def test_lease_key(mapping: str, shard: str, key: str) -> None:
    assert lease_key(mapping, shard) == key
    assert key.startswith(mapping_prefix(mapping))


def test_prefix_separates_mappings_sharing_a_table() -> None:
    assert mapping_prefix("m") == "m:"
    assert not lease_key("m1", "s").startswith(mapping_prefix("m"))
    assert not lease_key("m", "s").startswith(mapping_prefix("m1"))


def test_lease_defaults() -> None:
    row = Lease("m:s", "s", None, 0)
    assert (row.checkpoint, row.parents, row.owner_switches) == (None, (), 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.owner = ME  # type: ignore[misc]


# --- Timing --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failover", "renew", "hold", "grace"),
    [
        pytest.param(30.0, 10.0, 25.0, 25.0, id="30s"),
        pytest.param(9.0, 3.0, 7.5, 7.5, id="9s"),
        pytest.param(10.0, 10 / 3, 10 - 5 / 3, 10 - 5 / 3, id="10s-fractions"),
        pytest.param(1.0, 1 / 3, 5 / 6, 5 / 6, id="1s"),
        pytest.param(600.0, 200.0, 500.0, 500.0, id="600s"),
    ],
)
def test_timing(failover: float, renew: float, hold: float, grace: float) -> None:
    timing = Timing(failover)
    assert timing.renew_interval == pytest.approx(renew)
    assert timing.hold == pytest.approx(hold)
    assert timing.steal_grace == pytest.approx(grace)


@given(st.floats(min_value=1, max_value=600))
def test_owner_stops_before_anyone_calls_the_lease_expired(failover: float) -> None:
    timing = Timing(failover)
    assert 0 < timing.hold < failover
    assert timing.hold + timing.renew_interval / 2 == pytest.approx(failover)
    assert timing.renew_interval < timing.hold
    # A thief starts no earlier than the previous owner must have stopped, even if that owner
    # never learns of the steal (its last write landed before the steal was sent).
    assert timing.steal_grace >= timing.hold


# --- ExpiryClock ---------------------------------------------------------------------------------

Scan = tuple[float, list[Lease]]


@pytest.mark.parametrize(
    ("scans", "query", "now", "expected"),
    [
        # Unowned leases are free at once, seen or not.
        pytest.param([], lease("s"), 0.0, True, id="unowned-never-seen"),
        pytest.param([(0.0, [lease("s")])], lease("s"), 0.0, True, id="unowned-just-seen"),
        # An owned lease nobody has seen cannot be called expired.
        pytest.param([], lease("s", "a"), 1e9, False, id="owned-never-seen"),
        # Counting starts at the first sighting.
        pytest.param(
            [(10.0, [lease("s", "a")])], lease("s", "a"), 10.0, False, id="first-sighting",
        ),
        pytest.param(
            [(10.0, [lease("s", "a")])], lease("s", "a"), 10.0 + FAILOVER - 0.001, False,
            id="just-under-failover",
        ),
        pytest.param(
            [(10.0, [lease("s", "a")])], lease("s", "a"), 10.0 + FAILOVER, True,
            id="exactly-failover",
        ),
        pytest.param(
            [(10.0, [lease("s", "a")])], lease("s", "a"), 10.0 + 5 * FAILOVER, True,
            id="long-after",
        ),
        # Seeing the same counter again does not restart the count.
        pytest.param(
            [(0.0, [lease("s", "a")]), (20.0, [lease("s", "a")]), (29.0, [lease("s", "a")])],
            lease("s", "a"), FAILOVER, True, id="rescans-keep-first-sighting",
        ),
        # A renewal (counter change) restarts it.
        pytest.param(
            [(0.0, [lease("s", "a", 1)]), (20.0, [lease("s", "a", 2)])],
            lease("s", "a", 2), FAILOVER, False, id="renewal-restarts",
        ),
        pytest.param(
            [(0.0, [lease("s", "a", 1)]), (20.0, [lease("s", "a", 2)])],
            lease("s", "a", 2), 20.0 + FAILOVER - 0.001, False, id="renewal-just-under",
        ),
        pytest.param(
            [(0.0, [lease("s", "a", 1)]), (20.0, [lease("s", "a", 2)])],
            lease("s", "a", 2), 20.0 + FAILOVER, True, id="renewal-then-failover",
        ),
        pytest.param(
            [(0.0, [lease("s", "a", 7)]), (20.0, [lease("s", "a", 3)])],
            lease("s", "a", 3), FAILOVER, False, id="counter-going-down-restarts-too",
        ),
        # So does a change of owner.
        pytest.param(
            [(0.0, [lease("s", "a", 1)]), (20.0, [lease("s", "b", 1)])],
            lease("s", "b", 1), FAILOVER, False, id="owner-change-restarts",
        ),
        pytest.param(
            [(0.0, [lease("s", "a", 1)]), (20.0, [lease("s", "b", 1)])],
            lease("s", "b", 1), 20.0 + FAILOVER, True, id="owner-change-then-failover",
        ),
        # The table moved on since the last scan: not what this replica has been timing.
        pytest.param(
            [(0.0, [lease("s", "a", 1)])], lease("s", "a", 2), FAILOVER, False,
            id="counter-newer-than-scan",
        ),
        # A lease missing from a scan is forgotten; when it comes back it counts anew.
        pytest.param(
            [(0.0, [lease("s", "a"), lease("t", "a")]), (5.0, [lease("t", "a")])],
            lease("s", "a"), FAILOVER, False, id="missing-from-scan-forgotten",
        ),
        pytest.param(
            [(0.0, [lease("s", "a")]), (5.0, []), (6.0, [lease("s", "a")])],
            lease("s", "a"), FAILOVER, False, id="back-after-missing-counts-anew",
        ),
        pytest.param(
            [(0.0, [lease("s", "a")]), (5.0, []), (6.0, [lease("s", "a")])],
            lease("s", "a"), 6.0 + FAILOVER, True, id="back-after-missing-then-failover",
        ),
        # Other leases of the scan do not matter.
        pytest.param(
            [(0.0, [lease("s", "a"), lease("t", "b", 1)]),
             (20.0, [lease("s", "a"), lease("t", "b", 2)])],
            lease("s", "a"), FAILOVER, True, id="others-renewing-irrelevant",
        ),
    ],
)  # fmt: skip
def test_expired(scans: list[Scan], query: Lease, now: float, expected: bool) -> None:
    clock = ExpiryClock(FAILOVER)
    for at, leases in scans:
        clock.observe(leases, at)
    assert clock.expired(query, now) is expected


def test_observe_accepts_any_iterable() -> None:
    clock = ExpiryClock(FAILOVER)
    clock.observe(iter([lease("s", "a")]), 0.0)
    assert clock.expired(lease("s", "a"), FAILOVER)


@pytest.mark.parametrize(
    ("scans", "leases", "now", "expected"),
    [
        pytest.param([], [], 0.0, None, id="nothing"),
        pytest.param([], [lease("s", "a")], 0.0, None, id="never-seen"),
        pytest.param([(0.0, [lease("s", "a")])], [], 0.0, None, id="no-leases-asked"),
        pytest.param([(2.0, [lease("s", "a")])], [lease("s", "a")], 3.0, 2.0 + FAILOVER, id="one"),
        pytest.param(
            [(2.0, [lease("s", "a")]), (4.0, [lease("s", "a"), lease("t", "b")])],
            [lease("s", "a"), lease("t", "b")], 5.0, 2.0 + FAILOVER, id="earliest-of-two",
        ),
        pytest.param(
            [(2.0, [lease("t", "b")]), (4.0, [lease("s", "a"), lease("t", "b")])],
            [lease("s", "a")], 5.0, 4.0 + FAILOVER, id="only-leases-asked",
        ),
        pytest.param(
            [(0.0, [lease("s"), lease("t", "b")])], [lease("s"), lease("t", "b")], 1.0,
            FAILOVER, id="unowned-ignored",
        ),
        pytest.param(
            [(0.0, [lease("s")])], [lease("s")], 1.0, None, id="only-unowned",
        ),
        pytest.param(
            [(0.0, [lease("s", "a")]), (10.0, [lease("s", "a"), lease("t", "b")])],
            [lease("s", "a"), lease("t", "b")], FAILOVER, 10.0 + FAILOVER,
            id="expired-ignored-at-boundary",
        ),
        pytest.param(
            [(0.0, [lease("s", "a")])], [lease("s", "a")], FAILOVER + 1, None,
            id="only-expired",
        ),
        pytest.param(
            [(0.0, [lease("s", "a")])], [lease("s", "a")], FAILOVER - 0.001, FAILOVER,
            id="just-before-expiry",
        ),
        pytest.param(
            [(0.0, [lease("s", "a", 1)])], [lease("s", "a", 2)], 1.0, None,
            id="counter-newer-than-scan",
        ),
        pytest.param(
            [(0.0, [lease("s", "a", 1)]), (7.0, [lease("s", "a", 2)])], [lease("s", "a", 2)],
            8.0, 7.0 + FAILOVER, id="renewal-moves-expiry",
        ),
    ],
)  # fmt: skip
def test_next_expiry(
    scans: list[Scan], leases: list[Lease], now: float, expected: float | None
) -> None:
    clock = ExpiryClock(FAILOVER)
    for at, seen in scans:
        clock.observe(seen, at)
    assert clock.next_expiry(leases, now) == expected


# Whole seconds: with arbitrary floats, (first + failover) - first can round to just under the
# failover time, so `expired` is still False at the instant `next_expiry` named.
@given(first=st.integers(0, 10**6), wait=st.integers(0, 3 * int(FAILOVER)))
def test_next_expiry_is_when_expired_turns_true(first: int, wait: int) -> None:
    clock = ExpiryClock(FAILOVER)
    row = lease("s", "a")
    clock.observe([row], first)
    now = first + wait
    due = clock.next_expiry([row], now)
    assert clock.expired(row, now) is (due is None)
    if due is not None:
        assert due > now
        assert clock.expired(row, due)


# --- share ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("leases", "replicas", "expected"),
    [
        pytest.param(12, 3, 4, id="12-over-3"),
        pytest.param(12, 5, 3, id="12-over-5"),
        pytest.param(13, 3, 5, id="13-over-3"),
        pytest.param(12, 4, 3, id="12-over-4"),
        pytest.param(12, 1, 12, id="alone"),
        pytest.param(12, 12, 1, id="one-each"),
        pytest.param(1, 6, 1, id="fewer-leases-than-replicas"),
        pytest.param(0, 1, 0, id="no-leases"),
        pytest.param(5, 0, 5, id="no-replicas-counts-as-one"),
    ],
)
def test_share(leases: int, replicas: int, expected: int) -> None:
    assert share(leases, replicas) == expected


@given(st.integers(0, 10_000), st.integers(1, 200))
def test_share_is_the_ceiling(leases: int, replicas: int) -> None:
    target = share(leases, replicas)
    assert target * replicas >= leases
    assert (target - 1) * replicas < leases or target == 0


# --- Plan ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "truthy"),
    [
        pytest.param(Plan(), False, id="empty"),
        pytest.param(Plan(take=(lease("s"),)), True, id="take"),
        pytest.param(Plan(steal=(lease("s", "a"),)), True, id="steal"),
        pytest.param(Plan(take=(lease("s"),), steal=(lease("t", "a"),)), True, id="both"),
    ],
)
def test_plan_truthiness(value: Plan, truthy: bool) -> None:
    assert bool(value) is truthy


# --- plan ----------------------------------------------------------------------------------------

DEAD = "dead"


def scene(leases: list[Lease], dead: set[str]) -> tuple[list[Lease], ExpiryClock, float]:
    """The table as `me` reads it at FAILOVER, after scans at 0 and FAILOVER / 2.

    Live owners renewed in between (their counters went up); `dead` owners did not, so their
    leases have stood still for the failover time.
    """
    clock = ExpiryClock(FAILOVER)
    clock.observe(leases, 0.0)
    later = [
        row if row.owner is None or row.owner in dead else dataclasses.replace(row, counter=2)
        for row in leases
    ]
    clock.observe(later, FAILOVER / 2)
    return later, clock, FAILOVER


# The four replicas of a 12-shard stream, each with 4, then a fourth joining.
A4, B4, C4, ME4 = owned("a", 4), owned("b", 4), owned("c", 4), owned(ME, 4)


def shards(leases: list[Lease]) -> set[str]:
    return {row.shard_id for row in leases}


@pytest.mark.parametrize(
    ("leases", "held", "workable", "dead", "take", "steal", "origins"),
    [
        pytest.param([], set(), None, set(), 0, 0, set(), id="empty-table"),
        pytest.param(
            owned(None, 12), set(), None, set(), 12, 0, {None}, id="alone-takes-all-unowned",
        ),
        pytest.param(
            owned(None, 4), set(), set(), set(), 0, 0, set(), id="nothing-workable",
        ),
        pytest.param(
            A4 + B4 + ME4, shards(ME4), None, set(), 0, 0, set(), id="three-balanced",
        ),
        pytest.param(
            A4 + B4 + ME4 + owned(None, 3), shards(ME4), None, set(), 1, 0, {None},
            id="three-balanced-new-shards-each-takes-its-share",
        ),
        pytest.param(owned(ME, 6) + owned("a", 6), shards(owned(ME, 6)), None, set(), 0, 0,
                     set(), id="at-share"),
        pytest.param(owned(ME, 8) + owned("a", 4), shards(owned(ME, 8)), None, set(), 0, 0,
                     set(), id="over-share-gives-nothing-back"),
        # Unowned first, up to the share, and no steal while there are any.
        pytest.param(
            owned("a", 2) + owned(None, 10), set(), None, set(), 6, 0, {None},
            id="take-capped-at-share",
        ),
        pytest.param(
            owned("a", 8) + owned(None, 4), set(), None, set(), 4, 0, {None},
            id="unowned-before-steal",
        ),
        pytest.param(
            owned(ME, 2) + owned(None, 2), shards(owned(ME, 2)), None, set(), 2, 0, {None},
            id="held-not-taken-again",
        ),
        # Leases of a dead owner expire on this replica's clock, and it is no replica.
        pytest.param(
            owned(DEAD, 12), set(), None, {DEAD}, 12, 0, {DEAD}, id="dead-owner-all-when-alone",
        ),
        pytest.param(
            owned(DEAD, 8) + A4, set(), None, {DEAD}, 6, 0, {DEAD},
            id="dead-owner-taken-up-to-share",
        ),
        pytest.param(
            owned(DEAD, 4) + A4 + ME4, shards(ME4), None, {DEAD}, 2, 0, {DEAD},
            id="dead-owner-not-a-replica",
        ),
        pytest.param(
            owned(DEAD, 4) + A4, set(), None, set(), 0, 1, {DEAD},
            id="not-expired-yet-is-a-replica",
        ),
        # Expired leases and an overloaded replica: take only, steal on a later pass.
        pytest.param(
            owned("a", 8) + owned(DEAD, 2) + owned(None, 2), set(), None, {DEAD}, 4, 0,
            {DEAD, None}, id="expired-and-overloaded-only-takes",
        ),
        # Stealing: what the most loaded replica has over the share, capped by what I need.
        pytest.param(
            A4 + B4 + C4, set(), None, set(), 0, 1, {"c"}, id="fourth-replica-steals-one",
        ),
        pytest.param(
            owned("a", 6) + owned("b", 2), set(), None, set(), 0, 3, {"a"},
            id="steal-all-the-excess",
        ),
        pytest.param(
            owned("a", 9) + owned(ME, 2), shards(owned(ME, 2)), None, set(), 0, 3, {"a"},
            id="steal-capped-by-excess",
        ),
        pytest.param(
            owned("a", 10) + owned("b", 1) + owned(ME, 4), shards(owned(ME, 4)), None, set(), 0,
            1, {"a"}, id="steal-capped-by-need",
        ),
        pytest.param(
            owned("a", 2) + owned("b", 5) + owned("c", 1), set(), None, set(), 0, 2, {"b"},
            id="victim-is-most-loaded",
        ),
        pytest.param(
            owned("a", 3) + owned("b", 3) + owned(ME, 1), shards(owned(ME, 1)), None, set(), 0,
            1, {"b"}, id="most-at-share-me-two-short-steals-one",
        ),
        pytest.param(
            owned("a", 3) + owned("b", 3) + owned(ME, 2), shards(owned(ME, 2)), None, set(), 0,
            0, set(), id="most-at-share-me-one-short-nothing",
        ),
        pytest.param(
            owned("a", 3) + owned("b", 2) + owned(ME, 2), shards(owned(ME, 2)), None, set(), 0,
            0, set(), id="balanced-within-one",
        ),
        # Ties between the most loaded: the greatest name, whatever the table order.
        pytest.param(
            owned("b", 4) + owned("a", 4), set(), None, set(), 0, 1, {"b"}, id="tie-a-b",
        ),
        pytest.param(
            owned("zed", 4) + owned("amy", 4) + owned("kim", 4), set(), None, set(), 0, 1,
            {"zed"}, id="tie-three",
        ),
        # A lease `me` owns in the table but does not hold is left by an earlier run: free.
        pytest.param(
            owned(ME, 2) + owned("a", 2), set(), None, set(), 2, 0, {ME},
            id="left-by-earlier-run-taken",
        ),
        pytest.param(
            owned(ME, 12), set(), None, set(), 12, 0, {ME}, id="restart-takes-all-back",
        ),
        # Only workable shards, and held ones, are balanced.
        pytest.param(
            owned(None, 4) + owned(None, 8, "done"), set(), shards(owned(None, 4)), set(), 4, 0,
            {None}, id="unworkable-not-taken-nor-shared",
        ),
        pytest.param(
            A4 + owned("b", 8), set(), shards(A4), set(), 0, 2, {"a"},
            id="unworkable-owners-not-replicas",
        ),
        pytest.param(
            owned(ME, 4, "done") + owned(None, 4) + A4, shards(owned(ME, 4, "done")),
            shards(owned(None, 4) + A4), set(), 2, 0, {None},
            id="held-unworkable-counts-toward-my-load",
        ),
    ],
)  # fmt: skip
def test_plan(
    leases: list[Lease],
    held: set[str],
    workable: set[str] | None,
    dead: set[str],
    take: int,
    steal: int,
    origins: set[str | None],
) -> None:
    table, clock, now = scene(leases, dead)
    can_work = shards(table) if workable is None else workable
    result = plan(table, ME, held, can_work, clock, now, random.Random(0))
    assert (len(result.take), len(result.steal)) == (take, steal)
    assert bool(result) is bool(take or steal)
    acquired = result.take + result.steal
    assert {row.owner for row in acquired} == origins
    assert len({row.key for row in acquired}) == len(acquired)
    assert all(row in table for row in acquired)
    assert all(row.shard_id in can_work and row.shard_id not in held for row in acquired)
    assert all(row.owner != ME for row in result.steal)


def test_plan_default_rng() -> None:
    table, clock, now = scene(owned(None, 12) + A4 + B4, set())
    result = plan(table, ME, set(), shards(table), clock, now)
    assert len(result.take) == 7
    assert {row.owner for row in result.take} == {None}


def test_plan_takes_in_random_order() -> None:
    """Replicas starting together pick different leases."""
    table, clock, now = scene(owned(None, 12), set())
    picks = {
        frozenset(row.key for row in plan(table, ME, set(), shards(table), clock, now,
                                          random.Random(seed)).take[:4])
        for seed in range(10)
    }  # fmt: skip
    assert len(picks) > 1


def test_plan_accepts_any_collections() -> None:
    table, clock, now = scene(owned(None, 4), set())
    result = plan(
        tuple(table), ME, frozenset(), [row.shard_id for row in table], clock, now,
        random.Random(0),
    )  # fmt: skip
    assert len(result.take) == 4


# --- convergence ---------------------------------------------------------------------------------


def balance(
    replicas: int, shard_count: int, seed: int, initial: list[int | None] | None = None
) -> tuple[dict[str, int], int]:
    """Replicas planning in turns over one shared table until a whole round changes nothing.

    The table starts unowned, or with shard i owned by replica `initial[i]`. Every owner is
    live and `now` stays well under the failover time, so nothing expires; a take or steal is
    a write and bumps the counter. Returns the loads and the rounds it took (the quiet round
    excluded), or fails after 4 * shard_count rounds.
    """
    failover = 1000.0
    names = [f"r{i}" for i in range(replicas)]
    ids = [f"shard-{i}" for i in range(shard_count)]
    start = initial or [None] * shard_count
    owners = {s: None if i is None else names[i] for s, i in zip(ids, start, strict=True)}
    counters = dict.fromkeys(ids, 0)
    clocks = {name: ExpiryClock(failover) for name in names}
    rngs = {name: random.Random(seed * 31 + i) for i, name in enumerate(names)}
    order = random.Random(seed)
    for rounds in range(4 * shard_count + 1):
        now = float(rounds)
        assert now < failover
        changed = False
        for name in order.sample(names, len(names)):
            table = [lease(s, owners[s], counters[s]) for s in ids]
            clocks[name].observe(table, now)
            held = {s for s in ids if owners[s] == name}
            result = plan(table, name, held, ids, clocks[name], now, rngs[name])
            assert not (result.take and result.steal)
            assert all(row.owner is None for row in result.take)
            assert all(row.owner not in (None, name) for row in result.steal)
            for row in result.take + result.steal:
                owners[row.shard_id] = name
                counters[row.shard_id] += 1
            changed = changed or bool(result)
        if not changed:
            loads = Counter(owners.values())
            return {name: loads[name] for name in names}, rounds
    pytest.fail(f"{replicas} replicas, {shard_count} shards: not settled in {rounds} rounds")


def check_balanced(loads: dict[str, int], shard_count: int) -> None:
    assert sum(loads.values()) == shard_count
    assert max(loads.values()) - min(loads.values()) <= 1, loads
    assert max(loads.values()) <= share(shard_count, len(loads)), loads


@pytest.mark.parametrize(
    ("replicas", "shard_count"),
    [
        pytest.param(1, 12, id="1x12"),
        pytest.param(3, 12, id="3x12"),
        pytest.param(4, 12, id="4x12"),
        pytest.param(5, 12, id="5x12"),
        pytest.param(6, 3, id="more-replicas-than-shards"),
        pytest.param(2, 1, id="one-shard"),
    ],
)
def test_balance_examples(replicas: int, shard_count: int) -> None:
    loads, _ = balance(replicas, shard_count, seed=0)
    check_balanced(loads, shard_count)


@settings(max_examples=150, deadline=None)
@given(
    replicas=st.integers(2, 6),
    shard_count=st.integers(1, 40),
    seed=st.integers(0, 2**16),
)
def test_balance_converges(replicas: int, shard_count: int, seed: int) -> None:
    loads, _ = balance(replicas, shard_count, seed)
    check_balanced(loads, shard_count)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), replicas=st.integers(2, 6), seed=st.integers(0, 2**16))
def test_balance_converges_from_any_ownership(
    data: st.DataObject, replicas: int, seed: int
) -> None:
    """Replicas joining late, or one holding everything, end balanced too."""
    owner = st.none() | st.integers(0, replicas - 1)
    initial = data.draw(st.lists(owner, min_size=1, max_size=40), label="initial")
    loads, _ = balance(replicas, len(initial), seed, initial)
    check_balanced(loads, len(initial))


@pytest.mark.parametrize(
    ("replicas", "initial", "rounds"),
    [
        pytest.param(4, [0] * 4 + [1] * 4 + [2] * 4, 3, id="fourth-joins-three-by-four"),
        pytest.param(3, [0] * 12, 3, id="two-join-one-holding-all"),
        pytest.param(2, [0] * 5 + [1] * 5, 0, id="already-balanced"),
    ],
)
def test_balance_from(replicas: int, initial: list[int | None], rounds: int) -> None:
    loads, took = balance(replicas, len(initial), 0, initial)
    check_balanced(loads, len(initial))
    assert took <= rounds
