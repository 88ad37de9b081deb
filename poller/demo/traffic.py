"""What `poller demo` sends: sample orders, click records and inventory changes, paced.

Every sender spreads its traffic evenly over SEND_SECONDS and counts in `Traffic` only what the
endpoint accepted, after it accepted it; the watcher reads those counts as "sent so far".
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import anyio

MESSAGES = 60
SEND_SECONDS = 8.0
POISON_EVERY = 10
CLICKS = 200
CLICK_USERS = 20
CLICKS_PER_PUT = 10  # records per PutRecords call
PAGES = ("/", "/search", "/product", "/cart", "/checkout")
SKUS = 12
EVENT_NAMES = {"put": "INSERT", "update": "MODIFY", "delete": "REMOVE"}


def is_poison(index: int) -> bool:
    """Whether the index-th sample message (0-based) is poison: one in POISON_EVERY."""
    return index % POISON_EVERY == POISON_EVERY - 1


def order_body(index: int) -> str:
    """The index-th sample message body: a valid order, or (is_poison) a negative amount or
    a body that is not JSON, alternately."""
    if is_poison(index) and (index // POISON_EVERY) % 2 == 0:
        return json.dumps({"order_id": index, "amount": -1})
    if is_poison(index):
        return f"order #{index}, but not JSON"
    return json.dumps({"order_id": index, "amount": round(5 + index * 7.31 % 90, 2)})


def click_record(index: int) -> dict[str, Any]:
    """The index-th click as a PutRecords entry: partition key = user (all CLICK_USERS of them,
    some far busier than others), data = a JSON object."""
    user = f"user-{int(CLICK_USERS * (index * 0.618034 % 1) ** 1.5):02d}"
    click = {"click": index, "user": user, "page": PAGES[index * 7 % len(PAGES)]}
    return {"PartitionKey": user, "Data": json.dumps(click).encode()}


def click_puts() -> list[list[dict[str, Any]]]:
    """The CLICKS click records in PutRecords calls of CLICKS_PER_PUT."""
    records = [click_record(index) for index in range(CLICKS)]
    return [records[i : i + CLICKS_PER_PUT] for i in range(0, CLICKS, CLICKS_PER_PUT)]


@dataclass(frozen=True, slots=True)
class InventoryWrite:
    """One write to the demo's table: an item put, its stock updated, or the item deleted."""

    action: Literal["put", "update", "delete"]
    sku: str
    stock: int = 0

    @property
    def event_name(self) -> str:
        """The eventName of the stream record the write produces."""
        return EVENT_NAMES[self.action]

    def request(self, table: str) -> tuple[str, dict[str, Any]]:
        """The DynamoDB client method and its arguments."""
        key = {"sku": {"S": self.sku}}
        if self.action == "put":
            return "put_item", {"TableName": table, "Item": {**key, "stock": self.stock_value}}
        if self.action == "update":
            return "update_item", {
                "TableName": table,
                "Key": key,
                "UpdateExpression": "SET stock = :stock",
                "ExpressionAttributeValues": {":stock": self.stock_value},
            }
        return "delete_item", {"TableName": table, "Key": key}

    @property
    def stock_value(self) -> dict[str, str]:
        return {"N": str(self.stock)}


def inventory_writes() -> list[InventoryWrite]:
    """SKUS items put, then each one's stock changed, then every third item deleted."""
    skus = [f"sku-{i:02d}" for i in range(SKUS)]
    return (
        [InventoryWrite("put", sku, 20 + 5 * i) for i, sku in enumerate(skus)]
        + [InventoryWrite("update", sku, 19 + 4 * i) for i, sku in enumerate(skus)]
        + [InventoryWrite("delete", sku) for sku in skus[2::3]]
    )


INVENTORY_WRITES = inventory_writes()


def event_counts(writes: Sequence[InventoryWrite]) -> Counter[str]:
    """Stream records per eventName that `writes` produce."""
    return Counter(write.event_name for write in writes)


def count_text(counts: Counter[str]) -> str:
    """`12 INSERT, 12 MODIFY, 4 REMOVE` (every event name, in that order)."""
    return ", ".join(f"{counts[name]} {name}" for name in EVENT_NAMES.values())


@dataclass(slots=True)
class Traffic:
    """What the senders have sent so far; updated as they go."""

    sent: int = 0
    poison: int = 0
    clicks: int = 0
    changes: int = 0


async def paced(count: int, send: Callable[[int], Awaitable[None]]) -> None:
    """Call `send(0)` ... `send(count - 1)` spread evenly over SEND_SECONDS."""
    started = time.monotonic()
    for index in range(count):
        await send(index)
        due = started + (index + 1) * SEND_SECONDS / count
        await anyio.sleep(max(0.0, due - time.monotonic()))


async def send_orders(client: Any, queue_url: str, traffic: Traffic) -> None:
    """Send the MESSAGES sample bodies, counting them in `traffic`."""

    async def send(index: int) -> None:
        await client.send_message(QueueUrl=queue_url, MessageBody=order_body(index))
        traffic.sent += 1
        traffic.poison += int(is_poison(index))

    await paced(MESSAGES, send)


async def put_clicks(client: Any, stream: str, traffic: Traffic) -> None:
    """Put the CLICKS click records, one PutRecords call at a time (moto's PutRecords is not
    thread-safe), counting those accepted in `traffic`."""
    puts = click_puts()

    async def send(index: int) -> None:
        response = await client.put_records(StreamName=stream, Records=puts[index])
        traffic.clicks += len(puts[index]) - response.get("FailedRecordCount", 0)

    await paced(len(puts), send)


async def write_inventory(client: Any, table: str, traffic: Traffic) -> None:
    """Make the INVENTORY_WRITES, counting them in `traffic`."""

    async def send(index: int) -> None:
        method, arguments = INVENTORY_WRITES[index].request(table)
        await getattr(client, method)(**arguments)
        traffic.changes += 1

    await paced(len(INVENTORY_WRITES), send)
