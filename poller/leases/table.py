"""The DynamoDB lease table in the Kinesis Client Library 2.x layout, one conditional write each.

One item per shard of each mapping, keyed by `leaseKey` = "<mapping uuid>:<shard id>", so several
mappings (and several poller deployments) can share a table. Attributes, as the KCL names them:
`leaseOwner` (absent when unowned), `leaseCounter` (+1 on every write), `checkpoint`,
`checkpointSubSequenceNumber` (always 0: poller checkpoints whole records),
`ownerSwitchesSinceCheckpoint`, `parentShardId` (a string set); poller adds `mappingId` and
`shardId`. Every write but the creation is an UpdateItem conditional on the counter the writer
last saw (and, for an owner, on still being the owner); creation is conditional on the item not
existing, and deletion (of an unowned lease whose shard left the stream) on the counter too. A
write whose condition fails returns None / False: someone else got there first.
"""

from __future__ import annotations

from typing import Any

import anyio
from botocore.exceptions import ClientError

from poller.errors import StartupError, error_code
from poller.leases.plan import Lease, lease_key, mapping_prefix

CONDITION_FAILED = "ConditionalCheckFailedException"
_KEY_SCHEMA = [{"AttributeName": "leaseKey", "KeyType": "HASH"}]


class LeaseTable:
    """Lease reads and conditional writes on one table through one aioboto3 DynamoDB client."""

    def __init__(self, client: Any, name: str) -> None:
        self._client = client
        self.name = name

    async def ensure(self, wait: float = 60.0) -> bool:
        """Create the table (on-demand billing) unless it exists; verify its key either way.

        Returns True when it was created. StartupError naming `state.table` when the table is
        keyed otherwise or does not become ACTIVE within `wait` seconds.
        """
        created = False
        try:
            table = (await self._client.describe_table(TableName=self.name))["Table"]
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            table = await self._create()
            created = True
        if table.get("KeySchema") != _KEY_SCHEMA or not _key_is_string(table):
            raise StartupError(
                f"state.table: {self.name} is not a lease table: it must be keyed by leaseKey "
                f"(a string hash key), not {_describe_key(table)}"
            )
        with anyio.move_on_after(wait):
            while table.get("TableStatus") not in (None, "ACTIVE"):
                await anyio.sleep(0.5)
                table = (await self._client.describe_table(TableName=self.name))["Table"]
            return created
        raise StartupError(f"state.table: {self.name} did not become ACTIVE within {wait:.0f} s")

    async def _create(self) -> dict[str, Any]:
        try:
            response = await self._client.create_table(
                TableName=self.name,
                KeySchema=_KEY_SCHEMA,
                AttributeDefinitions=[{"AttributeName": "leaseKey", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        except ClientError as exc:
            if error_code(exc) != "ResourceInUseException":  # another replica created it
                raise
            return dict((await self._client.describe_table(TableName=self.name))["Table"])
        return dict(response["TableDescription"])

    async def scan(self, mapping: str) -> list[Lease]:
        """Every lease of `mapping`, read consistently."""
        leases: list[Lease] = []
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "ConsistentRead": True,
            "FilterExpression": "begins_with(leaseKey, :prefix)",
            "ExpressionAttributeValues": {":prefix": {"S": mapping_prefix(mapping)}},
        }
        while True:
            page = await self._client.scan(**kwargs)
            leases.extend(_lease(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return leases
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    async def get(self, mapping: str, shard_id: str) -> Lease | None:
        response = await self._client.get_item(
            TableName=self.name, Key=_key(lease_key(mapping, shard_id)), ConsistentRead=True
        )
        item = response.get("Item")
        return None if item is None else _lease(item)

    async def create(
        self, mapping: str, shard_id: str, parents: tuple[str, ...], checkpoint: str
    ) -> bool:
        """Add an unowned lease with `checkpoint` (an initial-position sentinel); False if the
        lease exists already."""
        names = {"#cp": "checkpoint"}
        values: dict[str, Any] = {
            ":mapping": {"S": mapping},
            ":shard": {"S": shard_id},
            ":zero": {"N": "0"},
            ":cp": {"S": checkpoint},
        }
        sets = [
            "mappingId = :mapping",
            "shardId = :shard",
            "leaseCounter = :zero",
            "#cp = :cp",
            "checkpointSubSequenceNumber = :zero",
            "ownerSwitchesSinceCheckpoint = :zero",
        ]
        if parents:
            sets.append("parentShardId = :parents")
            values[":parents"] = {"SS": sorted(set(parents))}
        return (
            await self._update(
                lease_key(mapping, shard_id),
                "SET " + ", ".join(sets),
                "attribute_not_exists(leaseKey)",
                values,
                names,
            )
            is not None
        )

    async def take(self, lease: Lease, owner: str) -> Lease | None:
        """Make `owner` the owner of `lease` if its counter (and owner) are still as read."""
        values: dict[str, Any] = {":me": {"S": owner}, ":one": {"N": "1"}}
        condition = _expected(lease, values)
        update = "SET leaseOwner = :me, leaseCounter = leaseCounter + :one"
        if lease.owner != owner:
            update += ", ownerSwitchesSinceCheckpoint = ownerSwitchesSinceCheckpoint + :one"
        return await self._update(lease.key, update, condition, values)

    async def renew(self, lease: Lease) -> Lease | None:
        """Bump the counter of a lease its owner still holds at `lease.counter`."""
        values: dict[str, Any] = {":one": {"N": "1"}}
        condition = _expected(lease, values)
        return await self._update(
            lease.key, "SET leaseCounter = leaseCounter + :one", condition, values
        )

    async def checkpoint(self, lease: Lease, checkpoint: str) -> Lease | None:
        """Record the owner's checkpoint (and renew) while it still holds `lease.counter`."""
        values: dict[str, Any] = {":one": {"N": "1"}, ":cp": {"S": checkpoint}, ":zero": {"N": "0"}}
        condition = _expected(lease, values)
        update = (
            "SET leaseCounter = leaseCounter + :one, #cp = :cp, "
            "checkpointSubSequenceNumber = :zero, ownerSwitchesSinceCheckpoint = :zero"
        )
        return await self._update(lease.key, update, condition, values, {"#cp": "checkpoint"})

    async def release(self, lease: Lease) -> Lease | None:
        """Give up a lease (graceful shutdown, shard finished): no owner, counter bumped."""
        values: dict[str, Any] = {":one": {"N": "1"}}
        condition = _expected(lease, values)
        return await self._update(
            lease.key, "SET leaseCounter = leaseCounter + :one REMOVE leaseOwner", condition, values
        )

    async def delete(self, lease: Lease) -> bool:
        """Remove an unowned lease still exactly as read; False if it changed meanwhile."""
        values: dict[str, Any] = {}
        try:
            await self._client.delete_item(
                TableName=self.name,
                Key=_key(lease.key),
                ConditionExpression=_expected(lease, values),
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if error_code(exc) == CONDITION_FAILED:
                return False
            raise
        return True

    async def _update(
        self,
        key: str,
        update: str,
        condition: str,
        values: dict[str, Any],
        names: dict[str, str] | None = None,
    ) -> Lease | None:
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "Key": _key(key),
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ReturnValues": "ALL_NEW",
        }
        if names:
            kwargs["ExpressionAttributeNames"] = names
        try:
            response = await self._client.update_item(**kwargs)
        except ClientError as exc:
            if error_code(exc) == CONDITION_FAILED:
                return None
            raise
        return _lease(response["Attributes"])


def _expected(lease: Lease, values: dict[str, Any]) -> str:
    """The condition that the lease is exactly as read: same counter, same owner (or none)."""
    values[":counter"] = {"N": str(lease.counter)}
    if lease.owner is None:
        return "leaseCounter = :counter AND attribute_not_exists(leaseOwner)"
    values[":owner"] = {"S": lease.owner}
    return "leaseCounter = :counter AND leaseOwner = :owner"


def _key(key: str) -> dict[str, Any]:
    return {"leaseKey": {"S": key}}


def _types(table: dict[str, Any]) -> dict[str, str]:
    return {a["AttributeName"]: a["AttributeType"] for a in table.get("AttributeDefinitions", [])}


def _key_is_string(table: dict[str, Any]) -> bool:
    return _types(table).get("leaseKey") == "S"


def _describe_key(table: dict[str, Any]) -> str:
    """A table's key as `name (type) HASH, name (type) RANGE`."""
    types = _types(table)
    parts = [
        f"{k['AttributeName']} ({types.get(k['AttributeName'], '?')}) {k['KeyType']}"
        for k in table.get("KeySchema", [])
    ]
    return ", ".join(parts) or "no key"


def _lease(item: dict[str, Any]) -> Lease:
    key = item["leaseKey"]["S"]
    shard_id = item["shardId"]["S"] if "shardId" in item else key.rsplit(":", 1)[-1]
    return Lease(
        key=key,
        shard_id=shard_id,
        owner=item["leaseOwner"]["S"] if "leaseOwner" in item else None,
        counter=int(item.get("leaseCounter", {}).get("N", "0")),
        checkpoint=item["checkpoint"]["S"] if "checkpoint" in item else None,
        parents=tuple(item.get("parentShardId", {}).get("SS", ())),
        owner_switches=int(item.get("ownerSwitchesSinceCheckpoint", {}).get("N", "0")),
    )
