"""An in-memory lease table with LeaseTable's conditional-write semantics, and fault injection.

Not a mock of DynamoDB: a stand-in for poller's own LeaseTable (lease_table.py), so the lease
coordinator can be tested with several replicas, hangs and lost responses in one process. Every
write but `create` is conditional on the counter and owner the writer read (`_expected` in
lease_table.py) and bumps the counter; a failed condition returns None (`create`: False).

One `FakeLeaseTable` is one table; `client(name)` gives a replica its own handle on it. Faults
(`fail_next`, `hang`, `lose_responses`) apply to calls made through the handle they were set on,
so one replica can be cut off while the others still reach the table. Every call, through any
handle, is appended to the shared `calls` log.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TypeVar

import anyio
import anyio.lowlevel

from poller.leases.plan import Lease, lease_key, mapping_prefix
from poller.leases.table import LeaseTable

WRITES = frozenset({"create", "take", "renew", "checkpoint", "release", "delete"})
T = TypeVar("T")


class ResponseLost(ConnectionError):
    """A write reached the table (and was applied if its condition held), but its response
    never came back: what a client sees on a read timeout."""


@dataclass
class Call:
    """One call through a handle: what, by whom, when, and how it ended."""

    client: str
    op: str
    shard_id: str | None
    started: float  # monotonic, when the call was made
    ended: float | None = None
    applied: float | None = None  # when a write changed the table (also for a lost response)
    outcome: str = "pending"  # ok | condition-failed | error | lost | cancelled
    result: object = None


@dataclass
class _Shared:
    items: dict[str, Lease] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    exists: bool = False


@dataclass
class _Rule:
    """A fault for the next `left` calls of `ops`: raise `exc`, or (None) lose the response."""

    left: int
    ops: frozenset[str] | None
    exc: BaseException | None = None

    def matches(self, op: str) -> bool:
        return (
            self.left > 0
            and (self.ops is None or op in self.ops)
            and (self.exc is not None or op in WRITES)
        )


class FakeLeaseTable(LeaseTable):
    """LeaseTable's async methods over a dict; see the module docstring. A subclass only so it
    types as a LeaseTable: it overrides every public method and never uses a client."""

    def __init__(self, name: str = "leases", client: str = "test") -> None:
        super().__init__(None, name)
        self.client_name = client
        self._shared = _Shared()
        self._faults: list[_Rule] = []  # the first that matches a call applies, in order
        self._hung: anyio.Event | None = None
        self._hung_ops: frozenset[str] | None = None  # None: every call hangs

    def client(self, name: str) -> FakeLeaseTable:
        """Another handle on the same table, with its own faults (one per replica)."""
        other = FakeLeaseTable(self.name, name)
        other._shared = self._shared
        return other

    # -- fault injection (this handle's calls only) -----------------------------------------

    def fail_next(self, n: int, exc: BaseException, ops: Collection[str] | None = None) -> None:
        """The next `n` calls (of `ops`, default any) raise `exc` without reaching the table.

        Faults queue: a call meets the first one set that matches it and has calls left."""
        self._faults.append(_Rule(n, None if ops is None else frozenset(ops), exc))

    def lose_responses(self, n: int, ops: Collection[str] | None = None) -> None:
        """The next `n` writes (of `ops`, default any) reach the table (and apply if their
        condition holds), then raise ResponseLost."""
        self._faults.append(_Rule(n, None if ops is None else frozenset(ops)))

    def hang(self, ops: Collection[str] | None = None) -> None:
        """Calls (of `ops`, default any) block, cancellably and before reaching the table,
        until `unhang`."""
        if self._hung is None:
            self._hung = anyio.Event()
        self._hung_ops = None if ops is None else frozenset(ops)

    def unhang(self) -> None:
        if self._hung is not None:
            self._hung.set()
            self._hung = None

    # -- inspection (no faults, not logged) ----------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        return self._shared.calls

    def calls_of(
        self, client: str | None = None, op: str | None = None, shard_id: str | None = None
    ) -> list[Call]:
        return [
            c
            for c in self._shared.calls
            if (client is None or c.client == client)
            and (op is None or c.op == op)
            and (shard_id is None or c.shard_id == shard_id)
        ]

    def item(self, mapping: str, shard_id: str) -> Lease | None:
        return self._shared.items.get(lease_key(mapping, shard_id))

    def items(self, mapping: str) -> list[Lease]:
        prefix = mapping_prefix(mapping)
        return [lease for key, lease in self._shared.items.items() if key.startswith(prefix)]

    def put(self, lease: Lease) -> None:
        """Write an item unconditionally, as another tool would."""
        self._shared.items[lease.key] = lease

    # -- LeaseTable ----------------------------------------------------------------------------

    async def ensure(self, wait: float = 60.0) -> bool:
        def apply() -> bool:
            created, self._shared.exists = not self._shared.exists, True
            return created

        return await self._call("ensure", None, apply)

    async def scan(self, mapping: str) -> list[Lease]:
        return await self._call("scan", None, lambda: self.items(mapping))

    async def get(self, mapping: str, shard_id: str) -> Lease | None:
        return await self._call("get", shard_id, lambda: self.item(mapping, shard_id))

    async def create(
        self, mapping: str, shard_id: str, parents: tuple[str, ...], checkpoint: str
    ) -> bool:
        key = lease_key(mapping, shard_id)

        def apply() -> bool:
            if key in self._shared.items:
                return False
            lease = Lease(key, shard_id, None, 0, checkpoint, tuple(sorted(set(parents))))
            self._shared.items[key] = lease
            return True

        return await self._call("create", shard_id, apply)

    async def take(self, lease: Lease, owner: str) -> Lease | None:
        def update(item: Lease) -> Lease:
            switches = item.owner_switches + (item.owner != owner)
            return dataclasses.replace(item, owner=owner, owner_switches=switches)

        return await self._write("take", lease, update)

    async def renew(self, lease: Lease) -> Lease | None:
        return await self._write("renew", lease, lambda item: item)

    async def checkpoint(self, lease: Lease, checkpoint: str) -> Lease | None:
        def update(item: Lease) -> Lease:
            return dataclasses.replace(item, checkpoint=checkpoint, owner_switches=0)

        return await self._write("checkpoint", lease, update)

    async def release(self, lease: Lease) -> Lease | None:
        return await self._write(
            "release", lease, lambda item: dataclasses.replace(item, owner=None)
        )

    async def delete(self, lease: Lease) -> bool:
        def apply() -> bool:
            item = self._shared.items.get(lease.key)
            if item is None or (item.counter, item.owner) != (lease.counter, lease.owner):
                return False
            del self._shared.items[lease.key]
            return True

        return await self._call("delete", lease.shard_id, apply)

    # -- machinery -------------------------------------------------------------------------------

    async def _write(self, op: str, lease: Lease, update: Callable[[Lease], Lease]) -> Lease | None:
        """`update` plus a counter bump, if the item's counter and owner are as in `lease`."""

        def apply() -> Lease | None:
            item = self._shared.items.get(lease.key)
            if item is None or (item.counter, item.owner) != (lease.counter, lease.owner):
                return None
            new = dataclasses.replace(update(item), counter=item.counter + 1)
            self._shared.items[lease.key] = new
            return new

        return await self._call(op, lease.shard_id, apply)

    async def _call(self, op: str, shard_id: str | None, apply: Callable[[], T]) -> T:
        call = Call(self.client_name, op, shard_id, time.monotonic())
        self._shared.calls.append(call)
        write = op in WRITES
        try:
            await anyio.lowlevel.checkpoint()  # the request on its way: cancellable, like I/O
            while self._hung is not None and (self._hung_ops is None or op in self._hung_ops):
                await self._hung.wait()
            fault = _pop(self._faults, op)
            if fault is not None and fault.exc is not None:
                raise fault.exc
            result = apply()  # atomic: no await between the condition and the update
            ok = not write or result not in (None, False)  # False/None: condition failed
            if write and ok:
                call.applied = time.monotonic()
            call.result = result
            if fault is not None:  # a lost response
                call.outcome = "lost"
                raise ResponseLost(f"{op} {shard_id}: the response was lost")
        except anyio.get_cancelled_exc_class():
            call.outcome = "cancelled"
            raise
        except BaseException:
            if call.outcome == "pending":
                call.outcome = "error"
            raise
        finally:
            call.ended = time.monotonic()
        call.outcome = "ok" if ok else "condition-failed"
        return result


def _pop(rules: list[_Rule], op: str) -> _Rule | None:
    for rule in rules:
        if rule.matches(op):
            rule.left -= 1
            if rule.left == 0:
                rules.remove(rule)
            return rule
    return None
