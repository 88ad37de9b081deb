"""failures: retries, record age, bisect and partial responses for stream batches (§4.2-4.4)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poller.events.failure import (
    RECORD_AGE_EXCEEDED,
    RETRY_ATTEMPTS_EXHAUSTED,
    Discard,
    failure_record,
)
from poller.model import Outcome, StreamRecord, Verdict
from poller.streams.failures import (
    Attempt,
    Decision,
    Kind,
    StreamPolicy,
    after_invoke,
    split_expired,
)
from poller.streams.progress import ShardProgress

NOW = 1_700_000_000.0
SUCCESS = Outcome(Verdict.SUCCESS)
FAILURE = Outcome(Verdict.FAILURE, reason="function error: Exception")
INVALID = Outcome(Verdict.FAILURE, reason="response is not an object")


def rec(sequence: int | str, arrival: float = NOW) -> StreamRecord:
    number = str(sequence)
    return StreamRecord(number, f"key-{number}", {"sequenceNumber": number}, 64, arrival)


def recs(*sequences: int | str) -> tuple[StreamRecord, ...]:
    return tuple(rec(s) for s in sequences)


def partial(*ids: str) -> Outcome:
    return Outcome(Verdict.PARTIAL, frozenset(ids), reason="batchItemFailures reported")


def seqs(records: Sequence[StreamRecord]) -> tuple[str, ...]:
    return tuple(r.sequence_number for r in records)


B1 = recs(1)
B2 = recs(1, 2)
B3 = recs(1, 2, 3)
B5 = recs(1, 2, 3, 4, 5)
B100 = tuple(rec(i) for i in range(1, 101))
# Sequence numbers of different lengths: "10" < "9" as strings, 10 > 9 as integers.
B_8_TO_11 = recs(8, 9, 10, 11)
KINESIS_SEQS = recs(
    "4960118965842235937883629852182763847532018901230970472",
    "49601189658422359378836298521827638475320189012309704722",
    "49601189658422359378836298522902373528957594348623495186",
)

RETRY_FOREVER = StreamPolicy()
R0 = StreamPolicy(maximum_retry_attempts=0)
R3 = StreamPolicy(maximum_retry_attempts=3)
BISECT = StreamPolicy(bisect=True)
BISECT_R3 = StreamPolicy(maximum_retry_attempts=3, bisect=True)
BISECT_R0 = StreamPolicy(maximum_retry_attempts=0, bisect=True)
RBIF = StreamPolicy(report_batch_item_failures=True)
RBIF_R0 = StreamPolicy(maximum_retry_attempts=0, report_batch_item_failures=True)
RBIF_R3 = StreamPolicy(maximum_retry_attempts=3, report_batch_item_failures=True)
RBIF_BISECT = StreamPolicy(bisect=True, report_batch_item_failures=True)


def discard(attempt: Attempt, function_error: bool) -> Decision:
    return Decision(
        Kind.DISCARD,
        discarded=attempt,
        condition=RETRY_ATTEMPTS_EXHAUSTED,
        function_error=function_error,
    )


def retry(attempt: Attempt, finished: tuple[StreamRecord, ...] = ()) -> Decision:
    return Decision(Kind.RETRY, finished=finished, next=attempt)


def split(first: tuple[StreamRecord, ...], second: tuple[StreamRecord, ...], r: int) -> Decision:
    return Decision(Kind.SPLIT, next=Attempt(first, retries=r), later=Attempt(second, retries=r))


# --- after_invoke: one row per decision ---------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "outcome", "policy", "function_error", "expected"),
    [
        # Success ends every record, whatever the attempt had used.
        pytest.param(Attempt(B3), SUCCESS, R3, False, Decision(Kind.DONE, finished=B3),
                     id="success"),
        pytest.param(Attempt(B3, retries=2, invokes=2), SUCCESS, R3, False,
                     Decision(Kind.DONE, finished=B3), id="success-after-retries"),
        pytest.param(Attempt(B3), SUCCESS, RBIF_BISECT, False, Decision(Kind.DONE, finished=B3),
                     id="success-with-rbif-and-bisect"),
        # Function errors: MaximumRetryAttempts R => at most R + 1 invocations (§4.2, §8.6).
        pytest.param(Attempt(B3), FAILURE, RETRY_FOREVER, True,
                     retry(Attempt(B3, retries=1, invokes=1)), id="r-1-first-failure-retries"),
        pytest.param(Attempt(B3, retries=10_000, invokes=10_001), FAILURE, RETRY_FOREVER, True,
                     retry(Attempt(B3, retries=10_001, invokes=10_002)),
                     id="r-1-retries-forever"),
        pytest.param(Attempt(B3), FAILURE, R0, True, discard(Attempt(B3, invokes=1), True),
                     id="r0-discards-at-once"),
        pytest.param(Attempt(B3), FAILURE, R3, True, retry(Attempt(B3, retries=1, invokes=1)),
                     id="r3-1st-failure"),
        pytest.param(Attempt(B3, retries=1, invokes=1), FAILURE, R3, True,
                     retry(Attempt(B3, retries=2, invokes=2)), id="r3-2nd-failure"),
        pytest.param(Attempt(B3, retries=2, invokes=2), FAILURE, R3, True,
                     retry(Attempt(B3, retries=3, invokes=3)), id="r3-3rd-failure"),
        pytest.param(Attempt(B3, retries=3, invokes=3), FAILURE, R3, True,
                     discard(Attempt(B3, retries=3, invokes=4), True),
                     id="r3-4th-failure-discards"),
        # A failure read from an invalid response is not a function error (functionError null).
        pytest.param(Attempt(B3), INVALID, R0, False, discard(Attempt(B3, invokes=1), False),
                     id="invalid-response-discard-no-function-error"),
        pytest.param(Attempt(B3), INVALID, R3, False, retry(Attempt(B3, retries=1, invokes=1)),
                     id="invalid-response-retries"),
        # Bisect: halves, first half first, retries inherited, no retry consumed (§4.3).
        pytest.param(Attempt(B2), FAILURE, BISECT_R3, True, split(B2[:1], B2[1:], 0),
                     id="bisect-2"),
        pytest.param(Attempt(B3), FAILURE, BISECT_R3, True, split(B3[:2], B3[2:], 0),
                     id="bisect-3-first-half-larger"),
        pytest.param(Attempt(B100), FAILURE, BISECT_R3, True, split(B100[:50], B100[50:], 0),
                     id="bisect-100"),
        pytest.param(Attempt(B3, retries=2, invokes=2), FAILURE, BISECT_R3, True,
                     split(B3[:2], B3[2:], 2), id="bisect-halves-inherit-retries"),
        pytest.param(Attempt(B2), FAILURE, BISECT_R0, True, split(B2[:1], B2[1:], 0),
                     id="bisect-r0-split-consumes-no-retry"),
        pytest.param(Attempt(B2), INVALID, BISECT, False, split(B2[:1], B2[1:], 0),
                     id="bisect-on-invalid-response"),
        # Bisect with one record left: it uses up the retries, then is discarded alone.
        pytest.param(Attempt(B1), FAILURE, BISECT_R3, True,
                     retry(Attempt(B1, retries=1, invokes=1)), id="bisect-1-record-retries"),
        pytest.param(Attempt(B1, retries=3, invokes=3), FAILURE, BISECT_R3, True,
                     discard(Attempt(B1, retries=3, invokes=4), True),
                     id="bisect-1-record-discards"),
        pytest.param(Attempt(B1), FAILURE, BISECT_R0, True, discard(Attempt(B1, invokes=1), True),
                     id="bisect-1-record-r0-discards"),
        # Partial response with ReportBatchItemFailures: the prefix is finished, the rest is a new
        # batch whose retries start at 0 (§4.4).
        pytest.param(Attempt(B5, retries=2, invokes=2), partial("3"), RBIF_R3, False,
                     retry(Attempt(B5[2:]), finished=B5[:2]), id="partial-cut-new-batch"),
        pytest.param(Attempt(B5), partial("5"), RBIF_R0, False,
                     retry(Attempt(B5[4:]), finished=B5[:4]), id="partial-cut-last-r0"),
        pytest.param(Attempt(B5), partial("4", "2", "5"), RBIF, False,
                     retry(Attempt(B5[1:]), finished=B5[:1]), id="partial-lowest-of-many"),
        pytest.param(Attempt(B_8_TO_11), partial("10", "9"), RBIF, False,
                     retry(Attempt(B_8_TO_11[1:]), finished=B_8_TO_11[:1]),
                     id="partial-lowest-by-integer-9-not-10"),
        pytest.param(Attempt(KINESIS_SEQS), partial(*seqs(KINESIS_SEQS[1:])), RBIF, False,
                     retry(Attempt(KINESIS_SEQS[1:]), finished=KINESIS_SEQS[:1]),
                     id="partial-kinesis-sequence-numbers"),
        pytest.param(Attempt(B5), partial("3"), RBIF_BISECT, False,
                     retry(Attempt(B5[2:]), finished=B5[:2]), id="partial-with-bisect-cuts"),
        # The lowest failed record is the first: a retry (not a function error) or, with bisect, a
        # split.
        pytest.param(Attempt(B3), partial("1"), RBIF_R3, False,
                     retry(Attempt(B3, retries=1, invokes=1)), id="partial-first-retries"),
        pytest.param(Attempt(B3), partial("3", "1"), RBIF_R3, False,
                     retry(Attempt(B3, retries=1, invokes=1)), id="partial-first-among-many"),
        pytest.param(Attempt(B3, retries=3, invokes=3), partial("1"), RBIF_R3, False,
                     discard(Attempt(B3, retries=3, invokes=4), False),
                     id="partial-first-exhausted-function-error-null"),
        pytest.param(Attempt(B3), partial("1"), RBIF_R0, True,
                     discard(Attempt(B3, invokes=1), False),
                     id="partial-is-never-a-function-error"),
        pytest.param(Attempt(B3), partial("1", "3"), RBIF_BISECT, False,
                     split(B3[:2], B3[2:], 0), id="partial-first-with-bisect-splits"),
        pytest.param(Attempt(B1), partial("1"), RBIF_BISECT, False,
                     retry(Attempt(B1, retries=1, invokes=1)), id="partial-single-with-bisect"),
        # A partial verdict when the mapping does not report item failures is a failure.
        pytest.param(Attempt(B3), partial("3"), RETRY_FOREVER, False,
                     retry(Attempt(B3, retries=1, invokes=1)), id="partial-without-rbif-retries"),
        pytest.param(Attempt(B3), partial("3"), R0, False, discard(Attempt(B3, invokes=1), False),
                     id="partial-without-rbif-discards"),
        pytest.param(Attempt(B3), partial("3"), BISECT, False, split(B3[:2], B3[2:], 0),
                     id="partial-without-rbif-bisects"),
    ],
)  # fmt: skip
def test_after_invoke(
    attempt: Attempt, outcome: Outcome, policy: StreamPolicy, function_error: bool,
    expected: Decision,
) -> None:  # fmt: skip
    assert after_invoke(attempt, outcome, policy, function_error) == expected


# --- split_expired: MaximumRecordAgeInSeconds before every invocation (§4.2) -------------------

AGE_60 = StreamPolicy(maximum_record_age=60)
LIMIT = NOW - 60  # a record that arrived at LIMIT is exactly 60 s old: not expired


def aged(*arrivals: float) -> tuple[StreamRecord, ...]:
    return tuple(rec(i, arrival) for i, arrival in enumerate(arrivals, start=1))


OLD = aged(LIMIT - 30, LIMIT - 1, LIMIT, LIMIT + 5)
MIXED = aged(LIMIT - 1, LIMIT + 1, LIMIT - 1, LIMIT + 1)
DESCENDING = aged(LIMIT + 1, LIMIT - 1)


@pytest.mark.parametrize(
    ("records", "policy", "expired", "fresh"),
    [
        pytest.param(aged(0.0, 1.0), RETRY_FOREVER, (), aged(0.0, 1.0), id="age-1-never-expires"),
        pytest.param(aged(NOW, NOW), AGE_60, (), aged(NOW, NOW), id="none-expired"),
        pytest.param(aged(LIMIT), AGE_60, (), aged(LIMIT), id="exactly-at-limit-not-expired"),
        pytest.param(aged(LIMIT - 0.001), AGE_60, aged(LIMIT - 0.001), None,
                     id="just-past-limit-expired"),
        pytest.param(OLD, AGE_60, OLD[:2], OLD[2:], id="expired-prefix"),
        pytest.param(DESCENDING, AGE_60, DESCENDING[1:], DESCENDING[:1], id="expired-suffix"),
        pytest.param(MIXED, AGE_60, (MIXED[0], MIXED[2]), (MIXED[1], MIXED[3]),
                     id="expired-mixed-order-kept"),
        pytest.param(aged(0.0, LIMIT - 1), AGE_60, aged(0.0, LIMIT - 1), None, id="all-expired"),
        pytest.param(aged(NOW - 604_800), StreamPolicy(maximum_record_age=604_800), (),
                     aged(NOW - 604_800), id="one-week-limit-boundary"),
    ],
)  # fmt: skip
def test_split_expired(
    records: tuple[StreamRecord, ...],
    policy: StreamPolicy,
    expired: tuple[StreamRecord, ...],
    fresh: tuple[StreamRecord, ...] | None,
) -> None:
    attempt = Attempt(records, retries=2, invokes=3)
    got_expired, rest = split_expired(attempt, policy, NOW)
    # the expired records keep the retries and invocations of their batch too
    assert got_expired == (Attempt(expired, retries=2, invokes=3) if expired else None)
    if fresh is None:
        assert rest is None
    else:  # the rest keeps the retries and invocations its batch had used
        assert rest == Attempt(fresh, retries=2, invokes=3)
    if not expired:
        assert rest is attempt


# --- a lane, without I/O ------------------------------------------------------------------------

Handler = Callable[[Attempt], tuple[Outcome, bool]]
OnEnd = Callable[[tuple[StreamRecord, ...]], None]


@dataclass(frozen=True, slots=True)
class Ended:
    """One discard: its records, condition, invocations, function error and retries used."""

    sequence_numbers: tuple[str, ...]
    condition: str
    invokes: int
    function_error: bool = False
    retries: int = 0


@dataclass
class Run:
    invocations: list[tuple[str, ...]] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    discards: list[Ended] = field(default_factory=list)
    complete: bool = False

    def invoked_with(self, sequence_number: str) -> int:
        return sum(sequence_number in invocation for invocation in self.invocations)


def drive(
    records: Sequence[StreamRecord],
    policy: StreamPolicy,
    handler: Handler,
    clock: Callable[[], float] = lambda: NOW,
    on_end: OnEnd = lambda records: None,
    max_invocations: int = 10_000,
) -> Run:
    """poller/streams/delivery.py's loop without I/O: attempts wait on a LIFO stack; a SPLIT
    pushes `later`, then `next`, so the first half runs (to its end) first. Stops early, with
    `complete` False, after `max_invocations`."""
    run = Run()
    pending = [Attempt(tuple(records))]
    while pending:
        expired, attempt = split_expired(pending.pop(), policy, clock())
        if expired is not None:
            run.discards.append(
                Ended(
                    seqs(expired.records),
                    RECORD_AGE_EXCEEDED,
                    expired.invokes,
                    False,
                    expired.retries,
                )
            )
            on_end(expired.records)
        if attempt is None:
            continue
        if len(run.invocations) == max_invocations:
            return run
        outcome, function_error = handler(attempt)
        run.invocations.append(seqs(attempt.records))
        decision = after_invoke(attempt, outcome, policy, function_error)
        if decision.finished:
            run.finished.extend(seqs(decision.finished))
            on_end(decision.finished)
        if decision.kind is Kind.RETRY:
            assert decision.next is not None
            pending.append(decision.next)
        elif decision.kind is Kind.SPLIT:
            assert decision.next is not None
            assert decision.later is not None
            pending.extend((decision.later, decision.next))
        elif decision.kind is Kind.DISCARD:
            gone = decision.discarded
            assert gone is not None
            assert decision.condition is not None
            run.discards.append(
                Ended(
                    seqs(gone.records),
                    decision.condition,
                    gone.invokes,
                    decision.function_error,
                    gone.retries,
                )
            )
            on_end(gone.records)
    run.complete = True
    return run


def failing_on(*bad: str, report: bool = False) -> Handler:
    """Succeeds unless a `bad` record is in the batch: then raises, or (`report`) returns those
    records in batchItemFailures."""

    def handler(attempt: Attempt) -> tuple[Outcome, bool]:
        failed = set(bad) & set(seqs(attempt.records))
        if not failed:
            return SUCCESS, False
        return (partial(*failed), False) if report else (FAILURE, True)

    return handler


def always_fails(attempt: Attempt) -> tuple[Outcome, bool]:
    return FAILURE, True


def test_aws_report_batch_item_failures_scenario() -> None:
    """§4.4 (LS-AWS): 6 records, BatchSize 3, R=3, only the 6th fails: it is in 5 invocations and
    is discarded alone (batchSize 1, start = end)."""
    records = [rec(i) for i in range(1, 7)]
    handler = failing_on("6", report=True)
    first = drive(records[:3], RBIF_R3, handler)
    second = drive(records[3:], RBIF_R3, handler)
    assert first.invocations == [("1", "2", "3")]
    assert first.discards == []
    assert second.invocations == [("4", "5", "6")] + [("6",)] * 4
    assert first.invoked_with("6") + second.invoked_with("6") == 5
    assert first.finished + second.finished == ["1", "2", "3", "4", "5"]
    assert second.discards == [Ended(("6",), RETRY_ATTEMPTS_EXHAUSTED, 4, False, 3)]
    info = failure_record(
        Discard(records[5:], RETRY_ATTEMPTS_EXHAUSTED, 4, "r", "f", False, "s", "a", False), NOW
    )["KinesisBatchInfo"]
    assert (info["batchSize"], info["startSequenceNumber"], info["endSequenceNumber"]) == (
        1,
        "6",
        "6",
    )


def test_r3_always_failing_is_invoked_4_times_and_discarded_once() -> None:
    run = drive(B3, R3, always_fails)
    assert run.invocations == [("1", "2", "3")] * 4
    assert run.finished == []
    assert run.discards == [Ended(("1", "2", "3"), RETRY_ATTEMPTS_EXHAUSTED, 4, True, 3)]


def test_r0_always_failing_is_invoked_once() -> None:
    run = drive(B3, R0, always_fails)
    assert run.invocations == [("1", "2", "3")]
    assert run.discards == [Ended(("1", "2", "3"), RETRY_ATTEMPTS_EXHAUSTED, 1, True, 0)]


@pytest.mark.parametrize("poison", ["1", "42", "50", "51", "100"])
def test_one_poison_among_100_with_bisect(poison: str) -> None:
    run = drive(B100, BISECT_R3, failing_on(poison))
    others = [str(i) for i in range(1, 101) if str(i) != poison]
    assert sorted(run.finished, key=int) == others
    assert run.finished == others  # first half first: records end in shard order
    assert run.discards == [Ended((poison,), RETRY_ATTEMPTS_EXHAUSTED, 4, True, 3)]
    assert run.invocations.count((poison,)) == 4
    # The poison's half is invoked once per split level (at most 7: 100 < 2**7), then 4 alone.
    assert run.invoked_with(poison) <= 7 + 4


def test_retry_forever_until_records_are_too_old() -> None:
    """R=-1 with MaximumRecordAgeInSeconds 60: retried until the record is older than 60 s, then
    discarded with RecordAgeExceeded (AWS invoked such a batch 8 times, §4.2)."""
    ticks = iter(range(0, 1000, 10))
    run = drive(
        aged(0.0, 15.0),
        StreamPolicy(maximum_record_age=60),
        always_fails,
        clock=lambda: float(next(ticks)),
    )
    # t = 0, 10, ..., 60: both invoked (at 60 record 1 is exactly 60 s old, not expired); at 70
    # record 1 has expired and record 2 goes on alone; at 80 record 2 has expired too.
    assert run.complete
    assert run.invocations == [("1", "2")] * 7 + [("2",)]
    # Each carries the invocations of the batch it aged out of: 7 for record 1, 8 for record 2
    # (its batch of one continued the count), as AWS's failure records do.
    assert run.discards == [
        Ended(("1",), RECORD_AGE_EXCEEDED, 7, False, 7),
        Ended(("2",), RECORD_AGE_EXCEEDED, 8, False, 8),
    ]
    assert run.finished == []
    counts = [
        failure_record(
            Discard(
                aged(0.0)[:1], RECORD_AGE_EXCEEDED, e.invokes, "r", "f", False, "s", "a", False
            ),
            NOW,
        )["requestContext"]["approximateInvokeCount"]
        for e in run.discards
    ]
    assert counts == [7, 8]


def test_records_too_old_before_any_invocation_report_one_invocation() -> None:
    """Records already past MaximumRecordAgeInSeconds when read are never sent: discarded with
    RecordAgeExceeded, and the failure record says approximateInvokeCount 1 (its minimum)."""
    run = drive(aged(LIMIT - 1, LIMIT - 2), AGE_60, always_fails)
    assert run.invocations == []
    assert run.discards == [Ended(("1", "2"), RECORD_AGE_EXCEEDED, 0)]
    record = failure_record(
        Discard(
            aged(LIMIT - 1, LIMIT - 2), RECORD_AGE_EXCEEDED, 0, "r", "f", False, "s", "a", False
        ),
        NOW,
    )
    assert record["requestContext"]["approximateInvokeCount"] == 1


def test_retry_forever_without_age_limit_never_ends() -> None:
    ended: list[str] = []
    run = drive(
        B3, RETRY_FOREVER, always_fails, on_end=lambda gone: ended.extend(seqs(gone)),
        max_invocations=50,
    )  # fmt: skip
    assert not run.complete
    assert run.invocations == [("1", "2", "3")] * 50
    assert (run.finished, run.discards, ended) == ([], [], [])


# --- property: every record ends exactly once, and the checkpoint never passes one that has not -


class Ledger:
    """The lane's `finish`: records each ended record once and moves a shard checkpoint."""

    def __init__(self, records: Sequence[StreamRecord]) -> None:
        self.records = tuple(records)
        self.ended: list[str] = []
        self.progress = ShardProgress()
        self.progress.read(seqs(records))

    def end(self, gone: tuple[StreamRecord, ...]) -> None:
        for r in gone:
            assert r.sequence_number not in self.ended, "a record ended twice"
            self.ended.append(r.sequence_number)
        self.progress.finish(seqs(gone))
        self.check_watermark()

    def check_watermark(self) -> None:
        """The checkpoint passes only ended records."""
        if self.progress.watermark is None:
            return
        mark = int(self.progress.watermark)
        passed = {r.sequence_number for r in self.records if r.sequence <= mark}
        assert passed <= set(self.ended)


def check_discards(run: Run, policy: StreamPolicy) -> None:
    """A discard happens only under a limit the policy sets, after at most R + 1 invocations."""
    for gone in run.discards:
        if gone.condition == RECORD_AGE_EXCEEDED:
            assert policy.maximum_record_age >= 0
            continue
        assert gone.condition == RETRY_ATTEMPTS_EXHAUSTED
        assert policy.maximum_retry_attempts >= 0
        assert gone.retries == policy.maximum_retry_attempts
        assert 1 <= gone.invokes <= policy.maximum_retry_attempts + 1
        if policy.bisect:  # only a single record uses up retries
            assert len(gone.sequence_numbers) == 1


policies = st.builds(
    StreamPolicy,
    maximum_retry_attempts=st.integers(-1, 3),
    maximum_record_age=st.one_of(st.just(-1), st.integers(60, 600)),
    bisect=st.booleans(),
    report_batch_item_failures=st.booleans(),
)


@st.composite
def batches(draw: st.DrawFn) -> tuple[tuple[StreamRecord, ...], bool]:
    """1-30 records with increasing sequence numbers (of varying length) and arrival times,
    non-decreasing or not; and whether they are non-decreasing."""
    size = draw(st.integers(1, 30))
    start = draw(st.integers(0, 10**30))
    gaps = draw(st.lists(st.integers(1, 10**20), min_size=size, max_size=size))
    arrivals = draw(st.lists(st.floats(0, 1000), min_size=size, max_size=size))
    ordered = draw(st.booleans())
    if ordered:
        arrivals.sort()
    numbers = [start + sum(gaps[: i + 1]) for i in range(size)]
    return tuple(rec(n, a) for n, a in zip(numbers, arrivals, strict=True)), ordered


@settings(max_examples=300, deadline=None)
@given(batch=batches(), policy=policies, budget=st.integers(0, 40), data=st.data())
def test_every_record_ends_exactly_once(
    batch: tuple[tuple[StreamRecord, ...], bool],
    policy: StreamPolicy,
    budget: int,
    data: st.DataObject,
) -> None:
    records, ordered = batch
    ledger = Ledger(records)
    now = [1000.0]

    def clock() -> float:
        now[0] += data.draw(st.sampled_from([0.0, 0.0, 1.0, 30.0, 120.0, 700.0]), label="tick")
        return now[0]

    def handler(attempt: Attempt) -> tuple[Outcome, bool]:
        nonlocal budget
        if budget == 0:  # the handler recovers: the lane must then finish
            return SUCCESS, False
        budget -= 1
        ids = seqs(attempt.records)
        return data.draw(
            st.one_of(
                st.just((SUCCESS, False)),
                st.just((FAILURE, True)),
                st.just((INVALID, False)),
                st.sets(st.sampled_from(ids), min_size=1).map(lambda f: (partial(*f), False)),
            ),
            label="outcome",
        )

    run = drive(records, policy, handler, clock, ledger.end, max_invocations=1_000)

    assert run.complete
    assert sorted(ledger.ended, key=int) == list(seqs(records))
    assert ledger.progress.watermark == records[-1].sequence_number
    assert ledger.progress.idle
    if ordered:  # with arrival order, records end in shard order
        assert ledger.ended == list(seqs(records))
    for invocation in run.invocations:
        assert invocation
        assert [int(s) for s in invocation] == sorted(int(s) for s in invocation)
    check_discards(run, policy)


@settings(max_examples=100, deadline=None)
@given(batch=batches(), policy=policies, steps=st.integers(1, 60), data=st.data())
def test_nothing_ends_twice_when_cut_short(
    batch: tuple[tuple[StreamRecord, ...], bool],
    policy: StreamPolicy,
    steps: int,
    data: st.DataObject,
) -> None:
    """A handler that may fail forever: after `steps` invocations the lane gives up; what ended
    so far ended once, and the checkpoint has not passed anything else."""
    records, _ = batch
    ledger = Ledger(records)

    def handler(attempt: Attempt) -> tuple[Outcome, bool]:
        ids = seqs(attempt.records)
        return data.draw(
            st.one_of(
                st.just((FAILURE, True)),
                st.sets(st.sampled_from(ids), min_size=1).map(lambda f: (partial(*f), False)),
            ),
            label="outcome",
        )

    run = drive(records, policy, handler, lambda: 1000.0, ledger.end, max_invocations=steps)
    assert len(run.invocations) <= steps
    assert len(ledger.ended) == len(set(ledger.ended))
    ledger.check_watermark()
    check_discards(run, policy)
