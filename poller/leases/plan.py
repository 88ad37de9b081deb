"""Pure lease decisions for replicas sharing a stream: expiry, timing, what to take and steal.

The protocol is the Kinesis Client Library's. Each shard of a mapping has a lease in a shared
table; its `counter` goes up on every write, and an owner writes (renews) about every third of
the failover time. Nobody trusts another machine's clock: a replica calls a lease expired when
it has seen the same counter for the failover time on its own monotonic clock. An owner stops
using a lease earlier than anyone could call it expired (see `Timing.hold`).

Balancing: a replica takes expired and unowned leases first, up to its share,
ceil(leases / replicas); when there are none it steals from the most loaded replica.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Lease:
    """One row of the lease table, as read.

    `checkpoint` is a sequence number, SHARD_END, or an initial-position sentinel (TRIM_HORIZON,
    LATEST, AT_TIMESTAMP) for a shard no batch of which was settled yet.
    """

    key: str
    shard_id: str
    owner: str | None
    counter: int
    checkpoint: str | None = None
    parents: tuple[str, ...] = ()
    owner_switches: int = 0


def lease_key(mapping: str, shard_id: str) -> str:
    """The table key of a shard's lease: several mappings share one table."""
    return f"{mapping}:{shard_id}"


def mapping_prefix(mapping: str) -> str:
    """What every lease key of `mapping` starts with."""
    return f"{mapping}:"


@dataclass(frozen=True, slots=True)
class Timing:
    """The protocol's clocks, all derived from the failover time (seconds)."""

    failover: float

    @property
    def renew_interval(self) -> float:
        """How often an owner renews each lease, and how often a replica looks for leases."""
        return self.failover / 3

    @property
    def hold(self) -> float:
        """How long after sending its last successful renewal an owner keeps a lease.

        Half a renew interval short of the failover time: another replica starts counting no
        earlier than the moment that renewal was written, so the owner has stopped before
        anyone can take the lease.
        """
        return self.failover - self.renew_interval / 2

    @property
    def steal_grace(self) -> float:
        """How long a replica waits after stealing a lease before it reads the shard: `hold`.

        The previous owner's last successful write landed before the steal (the steal is
        conditional on the counter it left), so whatever happens to it — it learns of the steal
        at its next write, or it cannot reach the table at all — it has stopped reading the
        shard by the time the thief starts.
        """
        return self.hold


class ExpiryClock:
    """When this replica last saw each lease's counter change, on its own monotonic clock."""

    def __init__(self, failover: float) -> None:
        self.failover = failover
        self._seen: dict[str, tuple[int, str | None, float]] = {}

    def observe(self, leases: Iterable[Lease], now: float) -> None:
        """Record a scan taken at `now`. A lease seen for the first time counts from `now`."""
        current = {}
        for lease in leases:
            seen = self._seen.get(lease.key)
            if seen is not None and seen[0] == lease.counter and seen[1] == lease.owner:
                current[lease.key] = seen
            else:
                current[lease.key] = (lease.counter, lease.owner, now)
        self._seen = current

    def expired(self, lease: Lease, now: float) -> bool:
        """True when `lease` is unowned or its counter has stood still for the failover time."""
        if lease.owner is None:
            return True
        seen = self._seen.get(lease.key)
        if seen is None or seen[:2] != (lease.counter, lease.owner):
            return False
        return now >= seen[2] + self.failover

    def next_expiry(self, leases: Iterable[Lease], now: float) -> float | None:
        """The earliest future time at which an owned lease among `leases` would expire."""
        times = [
            seen[2] + self.failover
            for lease in leases
            if lease.owner is not None
            and (seen := self._seen.get(lease.key)) is not None
            and seen[:2] == (lease.counter, lease.owner)
            and seen[2] + self.failover > now
        ]
        return min(times, default=None)


@dataclass(frozen=True, slots=True)
class Plan:
    """What one balancing pass does: leases to take (expired or unowned) and to steal."""

    take: tuple[Lease, ...] = ()
    steal: tuple[Lease, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.take or self.steal)


def share(leases: int, replicas: int) -> int:
    """Each replica's target: ceil(leases / replicas)."""
    return math.ceil(leases / max(1, replicas))


def plan(
    leases: Sequence[Lease],
    me: str,
    held: Collection[str],
    workable: Collection[str],
    clock: ExpiryClock,
    now: float,
    rng: random.Random | None = None,
) -> Plan:
    """Decide which leases this replica (`me`, holding the shards in `held`) acquires now.

    Only leases of `workable` shards (not finished, parents finished) and those already held
    are balanced. A lease `me` owns in the table but does not hold (left by an earlier run under
    the same worker id) is free to take. Replicas are `me` plus every owner of an unexpired
    lease. Below its share, a replica takes expired and unowned leases (in random order, so
    replicas starting together spread out); if there are none, it steals from the replica with
    the most leases what that one has over its share, or one lease when it has exactly its
    share while `me` is two or more short.
    """
    rng = rng or random.Random()  # noqa: S311 - spreading replicas' choices, not secrecy
    pool = [lease for lease in leases if lease.shard_id in workable or lease.shard_id in held]
    if not pool:
        return Plan()

    def free(lease: Lease) -> bool:
        return lease.shard_id not in held and (lease.owner == me or clock.expired(lease, now))

    loads = Counter(
        lease.owner
        for lease in pool
        if lease.owner is not None
        and lease.owner != me
        and lease.shard_id not in held
        and not clock.expired(lease, now)
    )
    mine = sum(1 for lease in pool if lease.shard_id in held)
    target = share(len(pool), len(loads) + 1)
    need = target - mine
    if need <= 0:
        return Plan()
    available = [lease for lease in pool if free(lease)]
    if available:
        rng.shuffle(available)
        return Plan(take=tuple(available[:need]))
    if not loads:
        return Plan()
    victim, most = max(loads.items(), key=lambda item: (item[1], item[0]))
    count = min(need, most - target)
    if count <= 0 and need > 1 and most >= target:
        count = 1
    if count <= 0:
        return Plan()
    theirs = [
        lease
        for lease in pool
        if lease.owner == victim and lease.shard_id not in held and not clock.expired(lease, now)
    ]
    rng.shuffle(theirs)
    return Plan(steal=tuple(theirs[:count]))
