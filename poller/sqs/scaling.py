"""Pure SQS concurrency scaling, after Lambda's (reference §3.1, §3.3).

Lambda starts a mapping at 5 concurrent invokes, adds up to 300 per minute while messages keep
coming, caps at MaximumConcurrency (else 1,250), scales back toward the floor when polls come back
empty, and backs off on function errors unless ReportBatchItemFailures is on. Here concurrency is
the number of pollers, each gathering and invoking one batch at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

LAMBDA_MAX_CONCURRENCY = 1250
LAMBDA_START_CONCURRENCY = 5
GROWTH_PER_MINUTE = 300


@dataclass(frozen=True, slots=True)
class ScalingPolicy:
    floor: int
    cap: int
    growth_interval: float = 60.0 / GROWTH_PER_MINUTE
    back_off_on_errors: bool = True

    @classmethod
    def for_mapping(
        cls, maximum_concurrency: int | None, report_item_failures: bool
    ) -> ScalingPolicy:
        cap = maximum_concurrency or LAMBDA_MAX_CONCURRENCY
        return cls(
            floor=min(LAMBDA_START_CONCURRENCY, cap),
            cap=cap,
            back_off_on_errors=not report_item_failures,
        )


@dataclass(frozen=True, slots=True)
class ScaleState:
    target: int
    last_growth: float


def initial(policy: ScalingPolicy, now: float) -> ScaleState:
    return ScaleState(target=policy.floor, last_growth=now)


def after_poll(
    state: ScaleState, policy: ScalingPolicy, received: int, requested: int, now: float
) -> ScaleState:
    """Update after the first (long) poll of a batch returned `received` of `requested`.

    A full receive means more messages are waiting: grow by one poller, at most one per
    `growth_interval` (300 a minute). An empty long poll means this poller found nothing in
    20 seconds: shrink by one, down to the floor. A partial receive holds steady.
    """
    if received == 0:
        return replace(state, target=max(policy.floor, state.target - 1))
    if received >= requested and now - state.last_growth >= policy.growth_interval:
        return ScaleState(target=min(policy.cap, state.target + 1), last_growth=now)
    return state


def after_function_error(state: ScaleState, policy: ScalingPolicy) -> ScaleState:
    """Lambda "gradually backs off" on function errors, except with partial batch responses."""
    if not policy.back_off_on_errors:
        return state
    return replace(state, target=max(policy.floor, state.target - 1))
