"""Pure failure policy for stream batches: retries, record age, bisect, partial responses.

A lane hands each batch to `Attempt` values and asks `after_invoke` (and, before every
invocation, `split_expired`) what happens next. Every record of a batch ends exactly once: it is
*finished* (handled, or reported successful in a partial response), or *discarded* with a
condition (sent to the on-failure destination, or dropped). The lane's checkpoint may pass a
record only once it has ended.

Lambda leaves the exact bisect recursion and retry counting undocumented (reference §4.3); poller
chooses, and the README documents:

- `MaximumRetryAttempts` R counts retries of one batch: it is invoked at most R + 1 times
  (-1: until its records are too old). Throttles and errors before the handler never count.
- Bisect: a function error on a batch of two or more records splits it into halves, first half
  first; a split consumes no retry, and each half starts with the retries its parent had used. A
  single record that keeps failing uses up the retries, then is discarded on its own.
- Partial response (`ReportBatchItemFailures`): records before the lowest failed sequence number
  are finished; the batch from that record on is invoked again. When that finished something, it
  is a new batch (its retries start at 0); when the lowest failed record was the first, it is a
  retry (or, with bisect on and two or more records, a split).
- `approximateInvokeCount` of a discarded batch counts the invocations of that exact batch; records
  that age out while retried count those of the batch they were retried in (AWS recorded 8 for a
  batch retried until MaximumRecordAgeInSeconds), and only records too old before any invocation
  report 1.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from poller.events.failure import RETRY_ATTEMPTS_EXHAUSTED
from poller.model import Outcome, StreamRecord, Verdict


@dataclass(frozen=True, slots=True)
class StreamPolicy:
    """A mapping's failure settings (-1 = unlimited, as in the Lambda API)."""

    maximum_retry_attempts: int = -1
    maximum_record_age: int = -1
    bisect: bool = False
    report_batch_item_failures: bool = False


@dataclass(frozen=True, slots=True)
class Attempt:
    """Records to invoke together, the retries their batch has used, and its invocations."""

    records: tuple[StreamRecord, ...]
    retries: int = 0
    invokes: int = 0


class Kind(enum.Enum):
    DONE = "done"  # every record finished
    RETRY = "retry"  # invoke `next` (after finishing `finished`)
    SPLIT = "split"  # invoke `next`, then `later`, each to its own end
    DISCARD = "discard"  # `discarded` ended with `condition`


@dataclass(frozen=True, slots=True)
class Decision:
    kind: Kind
    finished: tuple[StreamRecord, ...] = ()
    next: Attempt | None = None
    later: Attempt | None = None
    discarded: Attempt | None = None
    condition: str | None = None
    function_error: bool = False  # for the destination record's responseContext


def split_expired(
    attempt: Attempt, policy: StreamPolicy, now: float
) -> tuple[Attempt | None, Attempt | None]:
    """Before an invocation: the records already older than MaximumRecordAgeInSeconds (to discard
    with RecordAgeExceeded, never sent again) and the attempt for the rest, each None if empty.

    Both keep the retries and invocations their batch had used, so a record that ages out while
    being retried reports how often its batch was invoked (0 only if it never was).
    """
    if policy.maximum_record_age < 0:
        return None, attempt
    limit = now - policy.maximum_record_age
    expired = tuple(r for r in attempt.records if r.arrival < limit)
    if not expired:
        return None, attempt
    fresh = tuple(r for r in attempt.records if r.arrival >= limit)
    return replace(attempt, records=expired), (replace(attempt, records=fresh) if fresh else None)


def after_invoke(
    attempt: Attempt, outcome: Outcome, policy: StreamPolicy, function_error: bool
) -> Decision:
    """What follows one invocation of `attempt` whose response was read as `outcome`.

    `function_error` is True when the handler raised or timed out (as opposed to a response the
    mapping reads as a failure). Invocations that never reached the handler are not outcomes:
    the caller retries them without asking.
    """
    invoked = replace(attempt, invokes=attempt.invokes + 1)
    if outcome.verdict is Verdict.SUCCESS:
        return Decision(Kind.DONE, finished=attempt.records)
    if outcome.verdict is Verdict.PARTIAL and policy.report_batch_item_failures:
        lowest = min(int(i) for i in outcome.failed)
        # `interpret` already made an identifier outside the batch a complete failure.
        cut = next((i for i, r in enumerate(attempt.records) if r.sequence == lowest), 0)
        if cut > 0:  # the records before it are done; the rest is a new batch
            return Decision(
                Kind.RETRY, finished=attempt.records[:cut], next=Attempt(attempt.records[cut:])
            )
        return _failed(invoked, policy, function_error=False)
    return _failed(invoked, policy, function_error)


def _failed(attempt: Attempt, policy: StreamPolicy, function_error: bool) -> Decision:
    records = attempt.records
    if policy.bisect and len(records) > 1:
        half = (len(records) + 1) // 2
        return Decision(
            Kind.SPLIT,
            next=Attempt(records[:half], retries=attempt.retries),
            later=Attempt(records[half:], retries=attempt.retries),
        )
    retries = attempt.retries + 1
    limit = policy.maximum_retry_attempts
    if limit >= 0 and retries > limit:
        return Decision(
            Kind.DISCARD,
            discarded=attempt,
            condition=RETRY_ATTEMPTS_EXHAUSTED,
            function_error=function_error,
        )
    return Decision(Kind.RETRY, next=replace(attempt, retries=retries))
