"""progress: lanes by key, and the shard checkpoint as a low-watermark over finished records."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from poller.streams.progress import ShardProgress, lane_of

KEYS = ["", "a", "user-1", "user-2", "order#42", "日本語", "49590338271490256608"]


def md5_lane(key: str, lanes: int) -> int:
    """The documented routing: the first 8 bytes of the key's MD5, big-endian, modulo lanes."""
    digest = hashlib.md5(key.encode("utf-8"), usedforsecurity=False).digest()
    return int.from_bytes(digest[:8], "big") % lanes


# --- lane_of -------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [pytest.param(k, id=repr(k)) for k in KEYS])
def test_one_lane_is_lane_zero(key: str) -> None:
    assert lane_of(key, 1) == 0


@pytest.mark.parametrize("lanes", [pytest.param(n, id=f"{n}-lanes") for n in range(2, 11)])
def test_lane_in_range(lanes: int) -> None:
    assert {lane_of(f"key-{i}", lanes) for i in range(200)} == set(range(lanes))


# Computed once with hashlib (md5_lane), then written down: a change of hash would move keys to
# other lanes across a restart, so these values must not change.
@pytest.mark.parametrize(
    ("key", "lanes", "expected"),
    [
        pytest.param("", 3, 2, id="empty-3"),
        pytest.param("", 10, 8, id="empty-10"),
        pytest.param("a", 7, 6, id="a-7"),
        pytest.param("user-1", 4, 2, id="user-1-4"),
        pytest.param("user-2", 4, 3, id="user-2-4"),
        pytest.param("user-2", 2, 1, id="user-2-2"),
        pytest.param("order#42", 10, 7, id="order-10"),
        pytest.param("日本語", 4, 3, id="non-ascii-4"),
    ],
)
def test_lane_known_values(key: str, lanes: int, expected: int) -> None:
    assert md5_lane(key, lanes) == expected
    assert [lane_of(key, lanes) for _ in range(3)] == [expected] * 3


@pytest.mark.parametrize("key", [pytest.param(k, id=repr(k)) for k in KEYS])
@pytest.mark.parametrize("lanes", [2, 3, 4, 7, 10])
def test_lane_is_md5_of_key_not_python_hash(key: str, lanes: int) -> None:
    assert lane_of(key, lanes) == md5_lane(key, lanes)


def test_lanes_are_reasonably_even() -> None:
    counts = Counter(lane_of(f"key-{i}", 4) for i in range(1000))
    assert set(counts) == {0, 1, 2, 3}
    assert all(200 <= n <= 300 for n in counts.values()), counts


# --- ShardProgress -------------------------------------------------------------------------------

Step = tuple[list[str], str | None]


@pytest.mark.parametrize(
    ("initial", "read", "steps", "watermark"),
    [
        pytest.param(
            None, ["1", "2", "3"], [(["1"], "1"), (["2"], "2"), (["3"], "3")], "3",
            id="in-order",
        ),
        pytest.param(None, ["1", "2", "3"], [(["1", "2", "3"], "3")], "3", id="all-at-once"),
        pytest.param(
            None, ["1", "2", "3"], [(["3"], None), (["2"], None), (["1"], "3")], "3",
            id="reverse-order-advances-at-the-end",
        ),
        pytest.param(
            None, ["1", "2", "3", "4"], [(["2", "4"], None), (["1"], "2"), (["3"], "4")], "4",
            id="gap-closes-in-two-steps",
        ),
        pytest.param(
            None, ["1", "2", "3"], [(["2"], None), ([], None)], None,
            id="first-unfinished-keeps-none",
        ),
        pytest.param(None, [], [([], None)], None, id="nothing-read"),
        pytest.param("100", [], [([], None)], "100", id="initial-kept-without-reads"),
        pytest.param(
            "100", ["101", "102"], [(["102"], None)], "100", id="initial-kept-until-first-finishes",
        ),
        pytest.param(
            "100", ["101", "102"], [(["102"], None), (["101"], "102")], "102",
            id="initial-replaced-when-advanced",
        ),
        # Sequence numbers compare as integers: "9" < "10" < "11" though "9" > "10" as text.
        pytest.param(
            None, ["9", "10", "11"], [(["10", "11"], None), (["9"], "11")], "11",
            id="integer-order-different-lengths",
        ),
        pytest.param(
            "8", ["9", "10", "100"], [(["100", "9"], "9"), (["10"], "100")], "100",
            id="integer-order-watermark-spelling-kept",
        ),
        pytest.param(
            None,
            ["49590338271490256608559692538361571095921575989136588898",
             "49590338271490256608559692538361571095921575989136588899",
             "495903382714902566085596925383615710959215759891365888990"],
            [(["495903382714902566085596925383615710959215759891365888990"], None),
             (["49590338271490256608559692538361571095921575989136588898",
               "49590338271490256608559692538361571095921575989136588899"],
              "495903382714902566085596925383615710959215759891365888990")],
            "495903382714902566085596925383615710959215759891365888990",
            id="kinesis-length-numbers",
        ),
    ],
)  # fmt: skip
def test_shard_progress(
    initial: str | None, read: list[str], steps: list[Step], watermark: str | None
) -> None:
    progress = ShardProgress(initial)
    progress.read(read)
    assert [progress.finish(numbers) for numbers, _ in steps] == [want for _, want in steps]
    assert progress.watermark == watermark


def test_read_in_several_pages() -> None:
    progress = ShardProgress()
    progress.read(["1", "2"])
    assert progress.finish(["1", "2"]) == "2"
    progress.read(iter(["3", "4"]))
    assert progress.finish(n for n in ["4"]) is None
    assert progress.finish(["3"]) == "4"


def test_outstanding_and_idle() -> None:
    progress = ShardProgress("5")
    assert (progress.outstanding, progress.idle) == (0, True)
    progress.read(["6", "7", "8"])
    assert (progress.outstanding, progress.idle) == (3, False)
    progress.finish(["7"])
    assert (progress.outstanding, progress.idle) == (3, False)
    progress.finish(["6"])
    assert (progress.outstanding, progress.idle) == (1, False)
    progress.finish(["8"])
    assert (progress.outstanding, progress.idle) == (0, True)
    assert progress.watermark == "8"


@st.composite
def read_and_finish_plans(draw: st.DrawFn) -> list[tuple[str, list[str]]]:
    """Pages read in shard order, interleaved with finish calls over what is read so far."""
    numbers = sorted(draw(st.sets(st.integers(0, 10**40), min_size=1, max_size=40)))
    plan: list[tuple[str, list[str]]] = []
    unread = [str(n) for n in numbers]
    unfinished: list[str] = []
    while unread or unfinished:
        if unread and (not unfinished or draw(st.booleans())):
            size = draw(st.integers(1, len(unread)))
            page, unread = unread[:size], unread[size:]
            plan.append(("read", page))
            unfinished.extend(page)
        else:
            order = draw(st.permutations(unfinished))
            size = draw(st.integers(1, len(order)))
            plan.append(("finish", order[:size]))
            unfinished = [n for n in unfinished if n not in order[:size]]
    return plan


@given(read_and_finish_plans())
def test_watermark_is_the_finished_prefix(plan: list[tuple[str, list[str]]]) -> None:
    progress = ShardProgress()
    read: list[str] = []
    finished: set[str] = set()
    previous: int | None = None
    for action, numbers in plan:
        if action == "read":
            progress.read(numbers)
            read.extend(numbers)
            continue
        returned = progress.finish(numbers)
        finished.update(numbers)
        prefix = 0
        while prefix < len(read) and read[prefix] in finished:
            prefix += 1
        expected = read[prefix - 1] if prefix else None
        assert progress.watermark == expected
        assert progress.outstanding == len(read) - prefix
        current = None if expected is None else int(expected)
        assert returned == (expected if current != previous else None)
        if previous is not None:
            assert current is not None
            assert current >= previous
        previous = current
    assert progress.idle
    assert progress.watermark == read[-1]
