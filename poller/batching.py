"""Pure batch cutting for polled sources: batch size, batching window and the 6 MB payload cap.

Lambda invokes when any of three holds: the batch is full, the window has elapsed, or the payload
reached 6 MB. The window starts when gathering starts, i.e. right after the previous invocation
completed (ESM docs); a batch is never invoked empty, so an idle queue keeps long-polling.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
# len('{"Records":[]}'): the event envelope around the records.
ENVELOPE_BYTES = 14
SQS_MAX_PER_RECEIVE = 10
SQS_LONG_POLL_SECONDS = 20


class _Grouped(Protocol):
    @property
    def group_id(self) -> str | None: ...


SqsMessageT = TypeVar("SqsMessageT", bound=_Grouped)


@dataclass(frozen=True, slots=True)
class GatherPolicy:
    batch_size: int
    window: float
    max_bytes: int = MAX_PAYLOAD_BYTES
    per_receive: int = SQS_MAX_PER_RECEIVE
    long_poll: int = SQS_LONG_POLL_SECONDS


@dataclass(frozen=True, slots=True)
class Receive:
    """Ask the source for up to `max_messages`, waiting up to `wait_seconds` for the first."""

    max_messages: int
    wait_seconds: int


def payload_bytes(record_sizes: Sequence[int]) -> int:
    """Size of `{"Records":[r1,r2,...]}` given the serialised size of each record."""
    return ENVELOPE_BYTES + sum(record_sizes) + max(len(record_sizes) - 1, 0)


def next_step(policy: GatherPolicy, count: int, nbytes: int, elapsed: float) -> Receive | None:
    """The next receive to make while gathering, or None to invoke with what is gathered.

    `nbytes` is the current payload size, `elapsed` the seconds since gathering started.
    """
    if count >= policy.batch_size or nbytes >= policy.max_bytes:
        return None
    room = min(policy.per_receive, policy.batch_size - count)
    if count == 0:
        return Receive(room, policy.long_poll)
    remaining = policy.window - elapsed
    if remaining <= 0:
        return None
    # A receive is never cancelled (the messages it takes would be lost until their visibility
    # timeout), so its wait is rounded up: the window may overrun by under a second.
    return Receive(room, min(policy.long_poll, math.ceil(remaining)))


def fit(current: Sequence[int], incoming: Sequence[int], policy: GatherPolicy) -> int:
    """How many of `incoming` (record sizes, in order) fit after `current` under count and bytes.

    Whatever does not fit is carried into the next batch, never dropped. The first record of an
    empty batch always fits, whatever its size, so no record can block a batch forever.
    """
    total = payload_bytes(current)
    taken = 0
    for size in incoming:
        if len(current) + taken >= policy.batch_size:
            break
        added = size + (1 if current or taken else 0)
        if (current or taken) and total + added > policy.max_bytes:
            break
        total += added
        taken += 1
    return taken


def split_groups(messages: Sequence[SqsMessageT]) -> list[list[SqsMessageT]]:
    """Split FIFO messages into one batch per message group, keeping receive order in each.

    poller invokes one message group per batch, so a failing group blocks only itself (Lambda
    may mix groups in a batch; a one-group batch is still a valid Lambda event).
    """
    groups: dict[str | None, list[SqsMessageT]] = {}
    for message in messages:
        groups.setdefault(message.group_id, []).append(message)
    return list(groups.values())


def window_wait(policy: GatherPolicy, count: int, nbytes: int, elapsed: float) -> float:
    """Stream lanes: seconds to keep gathering before invoking with `count` buffered records.

    0 means invoke now: the batch is full (count or 6 MB) or the window has elapsed. With no
    record buffered the wait is unbounded: a lane never invokes empty. The window starts when the
    lane's previous invocation completed (ESM docs), which is when the caller starts `elapsed`.
    """
    if count == 0:
        return math.inf
    if count >= policy.batch_size or nbytes >= policy.max_bytes:
        return 0.0
    return max(0.0, policy.window - elapsed)
