"""scaling: floor and cap, growth rate, shrinking when idle, back-off on errors (§3.1, §3.3)."""

from __future__ import annotations

import pytest

from poller.sqs.scaling import (
    GROWTH_PER_MINUTE,
    LAMBDA_MAX_CONCURRENCY,
    LAMBDA_START_CONCURRENCY,
    ScaleState,
    ScalingPolicy,
    after_function_error,
    after_poll,
    initial,
)


def test_lambda_constants() -> None:
    assert (LAMBDA_START_CONCURRENCY, LAMBDA_MAX_CONCURRENCY, GROWTH_PER_MINUTE) == (5, 1250, 300)


@pytest.mark.parametrize(
    ("maximum_concurrency", "rbif", "expected"),
    [
        pytest.param(None, False, ScalingPolicy(5, 1250, 0.2, True), id="unset"),
        pytest.param(None, True, ScalingPolicy(5, 1250, 0.2, False), id="unset-rbif"),
        pytest.param(2, False, ScalingPolicy(2, 2, 0.2, True), id="max-2-floor-2"),
        pytest.param(4, False, ScalingPolicy(4, 4, 0.2, True), id="max-4-floor-4"),
        pytest.param(5, False, ScalingPolicy(5, 5, 0.2, True), id="max-5"),
        pytest.param(20, True, ScalingPolicy(5, 20, 0.2, False), id="max-20-rbif"),
        pytest.param(1000, False, ScalingPolicy(5, 1000, 0.2, True), id="max-1000"),
    ],
)
def test_for_mapping(maximum_concurrency: int | None, rbif: bool, expected: ScalingPolicy) -> None:
    assert ScalingPolicy.for_mapping(maximum_concurrency, rbif) == expected


def test_growth_interval_is_300_per_minute() -> None:
    assert ScalingPolicy.for_mapping(None, False).growth_interval == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("maximum_concurrency", "now", "expected"),
    [
        pytest.param(None, 100.0, ScaleState(5, 100.0), id="unset-starts-at-5"),
        pytest.param(2, 7.5, ScaleState(2, 7.5), id="max-2-starts-at-2"),
    ],
)
def test_initial(maximum_concurrency: int | None, now: float, expected: ScaleState) -> None:
    assert initial(ScalingPolicy.for_mapping(maximum_concurrency, False), now) == expected


POLICY = ScalingPolicy.for_mapping(None, False)
CAPPED = ScalingPolicy.for_mapping(7, False)


@pytest.mark.parametrize(
    ("policy", "state", "received", "requested", "now", "expected"),
    [
        pytest.param(POLICY, ScaleState(5, 100.0), 10, 10, 100.25, ScaleState(6, 100.25),
                     id="full-after-interval-grows"),
        pytest.param(POLICY, ScaleState(5, 100.0), 10, 10, 100.1, ScaleState(5, 100.0),
                     id="full-within-interval-holds"),
        pytest.param(POLICY, ScaleState(5, 100.0), 10, 10, 100.0, ScaleState(5, 100.0),
                     id="full-same-instant-holds"),
        pytest.param(POLICY, ScaleState(5, 100.0), 10, 10, 160.0, ScaleState(6, 160.0),
                     id="long-gap-grows-by-one-only"),
        pytest.param(POLICY, ScaleState(5, 100.0), 12, 10, 101.0, ScaleState(6, 101.0),
                     id="more-than-requested-grows"),
        pytest.param(POLICY, ScaleState(5, 100.0), 3, 10, 101.0, ScaleState(5, 100.0),
                     id="partial-receive-holds"),
        pytest.param(POLICY, ScaleState(8, 100.0), 0, 10, 101.0, ScaleState(7, 100.0),
                     id="empty-shrinks-by-one"),
        pytest.param(POLICY, ScaleState(5, 100.0), 0, 10, 101.0, ScaleState(5, 100.0),
                     id="empty-not-below-floor"),
        pytest.param(POLICY, ScaleState(8, 100.0), 0, 10, 100.01, ScaleState(7, 100.0),
                     id="empty-shrinks-without-waiting"),
        pytest.param(POLICY, ScaleState(1250, 100.0), 10, 10, 101.0, ScaleState(1250, 101.0),
                     id="full-at-cap-holds"),
        pytest.param(CAPPED, ScaleState(6, 100.0), 10, 10, 101.0, ScaleState(7, 101.0),
                     id="grows-to-maximum-concurrency"),
        pytest.param(CAPPED, ScaleState(7, 100.0), 10, 10, 101.0, ScaleState(7, 101.0),
                     id="capped-at-maximum-concurrency"),
        pytest.param(ScalingPolicy.for_mapping(2, False), ScaleState(2, 0.0), 0, 10, 1.0,
                     ScaleState(2, 0.0), id="max-2-floor-2-empty"),
    ],
)  # fmt: skip
def test_after_poll(
    policy: ScalingPolicy,
    state: ScaleState,
    received: int,
    requested: int,
    now: float,
    expected: ScaleState,
) -> None:
    assert after_poll(state, policy, received, requested, now) == expected


def test_growth_is_at_most_300_per_minute() -> None:
    policy = ScalingPolicy.for_mapping(None, False)
    state = initial(policy, 0.0)
    # A full receive every 10 ms for one minute.
    for tick in range(1, 6001):
        state = after_poll(state, policy, 10, 10, tick / 100)
    assert 5 + 290 <= state.target <= 5 + 300


def test_grows_from_floor_to_cap_and_back_to_floor() -> None:
    policy = ScalingPolicy.for_mapping(8, False)
    state = initial(policy, 0.0)
    targets = []
    for second in range(1, 6):
        state = after_poll(state, policy, 10, 10, float(second))
        targets.append(state.target)
    for _ in range(5):
        state = after_poll(state, policy, 0, 10, 10.0)
        targets.append(state.target)
    assert targets == [6, 7, 8, 8, 8, 7, 6, 5, 5, 5]


@pytest.mark.parametrize(
    ("maximum_concurrency", "rbif", "target", "expected"),
    [
        pytest.param(None, False, 9, 8, id="backs-off-by-one"),
        pytest.param(None, False, 5, 5, id="not-below-floor"),
        pytest.param(None, True, 9, 9, id="rbif-no-backoff"),
        pytest.param(None, True, 5, 5, id="rbif-at-floor"),
        pytest.param(20, False, 20, 19, id="capped-backs-off"),
        pytest.param(2, False, 2, 2, id="max-2-floor"),
    ],
)
def test_after_function_error(
    maximum_concurrency: int | None, rbif: bool, target: int, expected: int
) -> None:
    policy = ScalingPolicy.for_mapping(maximum_concurrency, rbif)
    state = ScaleState(target, 42.0)
    assert after_function_error(state, policy) == ScaleState(expected, 42.0)
