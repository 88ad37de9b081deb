"""batching: when to receive again or invoke (size, window, 6 MB) and how many records fit."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import pytest

from poller.batching import (
    ENVELOPE_BYTES,
    MAX_PAYLOAD_BYTES,
    GatherPolicy,
    Receive,
    fit,
    next_step,
    payload_bytes,
    split_groups,
    window_wait,
)
from poller.events.sqs import to_message

MB = 1024 * 1024
ARN = "arn:aws:sqs:us-east-1:123456789012:q"


def test_constants() -> None:
    assert MAX_PAYLOAD_BYTES == 6 * MB
    assert len('{"Records":[]}') == ENVELOPE_BYTES


@pytest.mark.parametrize(
    ("policy", "count", "nbytes", "elapsed", "expected"),
    [
        # Window 0: the first receive long-polls; anything gathered is invoked at once.
        pytest.param(GatherPolicy(10, 0), 0, 14, 0.0, Receive(10, 20), id="w0-empty-long-polls"),
        pytest.param(GatherPolicy(10, 0), 0, 14, 99.0, Receive(10, 20), id="w0-never-invoke-empty"),
        pytest.param(GatherPolicy(10, 0), 3, 500, 0.0, None, id="w0-partial-invokes-now"),
        pytest.param(GatherPolicy(10, 0), 10, 500, 0.0, None, id="w0-full"),
        pytest.param(GatherPolicy(3, 0), 0, 14, 0.0, Receive(3, 20), id="w0-small-batch-size"),
        # Window > 0: keep receiving until size, bytes or the window is reached.
        pytest.param(GatherPolicy(100, 5), 0, 14, 0.0, Receive(10, 20), id="w5-empty"),
        pytest.param(GatherPolicy(100, 5), 10, 500, 1.0, Receive(10, 4), id="w5-remaining-4"),
        pytest.param(GatherPolicy(100, 5), 10, 500, 4.2, Receive(10, 1), id="w5-rounds-up-0.8"),
        pytest.param(GatherPolicy(100, 5), 10, 500, 0.5, Receive(10, 5), id="w5-rounds-up-4.5"),
        pytest.param(GatherPolicy(100, 5), 10, 500, 4.999, Receive(10, 1), id="w5-rounds-up-tiny"),
        pytest.param(GatherPolicy(100, 5), 10, 500, 5.0, None, id="w5-elapsed-exactly"),
        pytest.param(GatherPolicy(100, 5), 10, 500, 7.5, None, id="w5-elapsed-past"),
        pytest.param(GatherPolicy(100, 5), 95, 500, 1.0, Receive(5, 4), id="w5-room-5"),
        pytest.param(GatherPolicy(100, 5), 99, 500, 1.0, Receive(1, 4), id="w5-room-1"),
        pytest.param(GatherPolicy(100, 5), 100, 500, 1.0, None, id="w5-count-eq-batch-size"),
        pytest.param(GatherPolicy(100, 5), 101, 500, 1.0, None, id="w5-count-over-batch-size"),
        pytest.param(
            GatherPolicy(100, 300), 10, 500, 0.5, Receive(10, 20), id="w300-wait-capped-at-20"
        ),
        pytest.param(
            GatherPolicy(100, 300), 10, 500, 285.5, Receive(10, 15), id="w300-late-rounds-up"
        ),
        # Bytes: 6 MB reached (or a small test cap).
        pytest.param(
            GatherPolicy(100, 5, max_bytes=1000), 2, 1000, 1.0, None, id="bytes-full-exact"
        ),
        pytest.param(GatherPolicy(100, 5, max_bytes=1000), 2, 1200, 1.0, None, id="bytes-over"),
        pytest.param(
            GatherPolicy(100, 5, max_bytes=1000),
            2,
            999,
            1.0,
            Receive(10, 4),
            id="bytes-one-short",
        ),
        pytest.param(
            GatherPolicy(10000, 5), 5, MAX_PAYLOAD_BYTES, 1.0, None, id="bytes-6mb-default-cap"
        ),
        pytest.param(
            GatherPolicy(10, 5, per_receive=4, long_poll=7),
            2,
            100,
            0.0,
            Receive(4, 5),
            id="custom-per-receive-and-long-poll",
        ),
        pytest.param(
            GatherPolicy(10, 5, per_receive=4, long_poll=7),
            0,
            14,
            0.0,
            Receive(4, 7),
            id="custom-long-poll-first",
        ),
    ],
)
def test_next_step(
    policy: GatherPolicy, count: int, nbytes: int, elapsed: float, expected: Receive | None
) -> None:
    assert next_step(policy, count, nbytes, elapsed) == expected


@pytest.mark.parametrize(
    ("current", "incoming", "policy", "expected"),
    [
        pytest.param([], [], GatherPolicy(10, 0), 0, id="nothing-incoming"),
        pytest.param([], [10, 10, 10], GatherPolicy(10, 0), 3, id="all-fit"),
        pytest.param([10] * 9, [10, 10, 10], GatherPolicy(10, 0), 1, id="count-cap"),
        pytest.param([10] * 10, [10], GatherPolicy(10, 0), 0, id="already-full"),
        pytest.param([], [1] * 15, GatherPolicy(10, 0), 10, id="count-cap-from-empty"),
        # 14 envelope + 40 + 40 + 1 comma = 95 <= 100; a third would be 136.
        pytest.param(
            [], [40, 40, 40], GatherPolicy(100, 5, max_bytes=100), 2, id="bytes-cap-small"
        ),
        # 14 + 42 + 43 + 1 = 100: exactly at the cap fits.
        pytest.param([], [42, 43], GatherPolicy(100, 5, max_bytes=100), 2, id="bytes-exact-cap"),
        # 14 + 42 + 44 + 1 = 101: one byte over.
        pytest.param([], [42, 44], GatherPolicy(100, 5, max_bytes=100), 1, id="bytes-one-over"),
        # current [40]: payload 54; +1 comma +45 = 100 fits; +1 +1 = 102 does not.
        pytest.param(
            [40], [45, 1], GatherPolicy(100, 5, max_bytes=100), 1, id="bytes-after-current"
        ),
        pytest.param([40], [46], GatherPolicy(100, 5, max_bytes=100), 0, id="comma-counted"),
        pytest.param([], [500], GatherPolicy(100, 5, max_bytes=100), 1, id="first-always-fits"),
        pytest.param(
            [], [500, 1], GatherPolicy(100, 5, max_bytes=100), 1, id="first-fits-next-does-not"
        ),
        pytest.param([500], [1], GatherPolicy(100, 5, max_bytes=100), 0, id="oversize-current"),
        pytest.param(
            [], [10, 90, 10], GatherPolicy(100, 5, max_bytes=100), 1, id="stops-at-first-misfit"
        ),
        # The real 6 MB cap.
        pytest.param([], [3 * MB, 3 * MB], GatherPolicy(10000, 5), 1, id="6mb-two-halves"),
        pytest.param(
            [],
            [3 * MB - 8, 3 * MB - 7],
            GatherPolicy(10000, 5),
            2,
            id="6mb-exactly-full",
        ),
        pytest.param(
            [],
            [3 * MB - 8, 3 * MB - 6],
            GatherPolicy(10000, 5),
            1,
            id="6mb-one-byte-over",
        ),
        pytest.param([], [7 * MB], GatherPolicy(10000, 5), 1, id="6mb-first-oversize-fits"),
        pytest.param([100], [7 * MB], GatherPolicy(10000, 5), 0, id="6mb-oversize-not-second"),
        pytest.param([], [600 * 1024] * 12, GatherPolicy(10000, 5), 10, id="6mb-600kb-records"),
    ],
)
def test_fit(current: list[int], incoming: list[int], policy: GatherPolicy, expected: int) -> None:
    assert fit(current, incoming, policy) == expected


def test_fit_result_never_exceeds_cap_except_single_record() -> None:
    policy = GatherPolicy(10000, 5, max_bytes=1000)
    sizes = [37, 120, 5, 400, 222, 90, 1, 64, 300]
    taken = fit([], sizes, policy)
    assert taken == 8  # 14 + 939 bytes + 7 commas = 960; the 300-byte record overflows
    assert payload_bytes(sizes[:taken]) <= 1000
    assert payload_bytes(sizes[: taken + 1]) > 1000


def test_six_mb_boundary_arithmetic() -> None:
    assert payload_bytes([3 * MB - 8, 3 * MB - 7]) == MAX_PAYLOAD_BYTES
    assert payload_bytes([3 * MB - 8, 3 * MB - 6]) == MAX_PAYLOAD_BYTES + 1


@pytest.mark.parametrize(
    ("sizes", "expected"),
    [
        pytest.param([], 14, id="empty"),
        pytest.param([5], 19, id="one"),
        pytest.param([5, 7], 27, id="two-with-comma"),
        pytest.param([1, 1, 1, 1], 21, id="four-three-commas"),
    ],
)
def test_payload_bytes(sizes: list[int], expected: int) -> None:
    assert payload_bytes(sizes) == expected


def _raw_message(n: int, body: str, group: str | None = None) -> dict[str, Any]:
    attributes = {
        "ApproximateReceiveCount": "1",
        "SentTimestamp": "1545082649183",
        "SenderId": "AIDAIENQZJOLO23YVJ4VO",
        "ApproximateFirstReceiveTimestamp": "1545082649185",
    }
    if group is not None:
        attributes["MessageGroupId"] = group
    return {
        "MessageId": f"00000000-0000-0000-0000-{n:012d}",
        "ReceiptHandle": f"handle-{n}",
        "MD5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "Body": body,
        "Attributes": attributes,
        "MessageAttributes": {"a": {"StringValue": "v", "DataType": "String"}},
        "MD5OfMessageAttributes": "d25a6aea97eb8f585bfa92d314504a92",
    }


@pytest.mark.parametrize(
    "bodies",
    [
        pytest.param(["one"], id="one"),
        pytest.param(["one", '{"k": [1, 2]}', 'quote " and \\ backslash'], id="three-ascii"),
        pytest.param(["x" * 10_000] * 5, id="five-large"),
    ],
)
def test_payload_bytes_matches_real_serialisation(bodies: list[str]) -> None:
    messages = [to_message(_raw_message(i, b), ARN, "us-east-1") for i, b in enumerate(bodies)]
    event = {"Records": [m.record for m in messages]}
    expected = len(json.dumps(event, separators=(",", ":")))
    assert payload_bytes([m.size for m in messages]) == expected


def test_payload_bytes_matches_utf8_serialisation_for_non_ascii() -> None:
    bodies = ["héllo", "日本語", "emoji \U0001f600"]
    messages = [to_message(_raw_message(i, b), ARN, "us-east-1") for i, b in enumerate(bodies)]
    event = {"Records": [m.record for m in messages]}
    encoded = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert payload_bytes([m.size for m in messages]) == len(encoded)


@dataclass(frozen=True)
class Msg:
    name: str
    group_id: str | None


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        pytest.param([], [], id="empty"),
        pytest.param([("a1", "A")], [["a1"]], id="one"),
        pytest.param([("a1", "A"), ("a2", "A"), ("a3", "A")], [["a1", "a2", "a3"]], id="one-group"),
        pytest.param(
            [("a1", "A"), ("b1", "B"), ("a2", "A"), ("c1", "C"), ("b2", "B"), ("a3", "A")],
            [["a1", "a2", "a3"], ["b1", "b2"], ["c1"]],
            id="interleaved-groups-keep-order",
        ),
        pytest.param(
            [("b1", "B"), ("a1", "A"), ("b2", "B")],
            [["b1", "b2"], ["a1"]],
            id="groups-in-first-seen-order",
        ),
        pytest.param([("s1", None), ("s2", None)], [["s1", "s2"]], id="standard-queue-one-group"),
    ],
)
def test_split_groups(messages: list[tuple[str, str | None]], expected: list[list[str]]) -> None:
    groups = split_groups([Msg(name, group) for name, group in messages])
    assert [[m.name for m in group] for group in groups] == expected


def test_split_groups_real_messages() -> None:
    raws = [_raw_message(1, "x", "g1"), _raw_message(2, "y", "g2"), _raw_message(3, "z", "g1")]
    messages = [to_message(raw, ARN + ".fifo", "us-east-1") for raw in raws]
    groups = split_groups(messages)
    assert [[m.receipt_handle for m in g] for g in groups] == [
        ["handle-1", "handle-3"],
        ["handle-2"],
    ]


@pytest.mark.parametrize(
    ("policy", "count", "nbytes", "elapsed", "expected"),
    [
        # A stream lane never invokes empty, whatever the window or the time waited.
        pytest.param(GatherPolicy(100, 5), 0, 14, 0.0, math.inf, id="empty-waits-forever"),
        pytest.param(GatherPolicy(100, 0), 0, 14, 0.0, math.inf, id="empty-window-0"),
        pytest.param(GatherPolicy(100, 5), 0, 14, 99.0, math.inf, id="empty-past-window"),
        # Full by count.
        pytest.param(GatherPolicy(100, 5), 100, 500, 0.0, 0.0, id="full-by-count"),
        pytest.param(GatherPolicy(100, 5), 150, 500, 0.0, 0.0, id="over-by-count"),
        pytest.param(GatherPolicy(1, 300), 1, 20, 0.0, 0.0, id="batch-size-1"),
        # Full by bytes: 6 MB, or a small test cap.
        pytest.param(
            GatherPolicy(10000, 5), 3, MAX_PAYLOAD_BYTES, 0.0, 0.0, id="full-by-6mb",
        ),
        pytest.param(
            GatherPolicy(100, 5, max_bytes=1000), 2, 1000, 0.0, 0.0, id="full-by-bytes-exact",
        ),
        pytest.param(
            GatherPolicy(100, 5, max_bytes=1000), 2, 1200, 0.0, 0.0, id="over-by-bytes",
        ),
        pytest.param(
            GatherPolicy(100, 5, max_bytes=1000), 2, 999, 1.0, 4.0, id="one-byte-short-waits",
        ),
        # Window 0: invoke with whatever is buffered.
        pytest.param(GatherPolicy(100, 0), 1, 20, 0.0, 0.0, id="window-0"),
        # Within the window: the remaining seconds, not rounded (no receive to round up).
        pytest.param(GatherPolicy(100, 5), 1, 20, 0.0, 5.0, id="window-just-opened"),
        pytest.param(GatherPolicy(100, 5), 10, 500, 1.5, 3.5, id="window-remaining"),
        pytest.param(GatherPolicy(100, 300), 99, 500, 299.75, 0.25, id="window-300-almost-over"),
        # Past the window: invoke now.
        pytest.param(GatherPolicy(100, 5), 10, 500, 5.0, 0.0, id="window-elapsed-exactly"),
        pytest.param(GatherPolicy(100, 5), 10, 500, 7.5, 0.0, id="window-elapsed-past"),
    ],
)  # fmt: skip
def test_window_wait(
    policy: GatherPolicy, count: int, nbytes: int, elapsed: float, expected: float
) -> None:
    assert window_wait(policy, count, nbytes, elapsed) == expected
