"""The demo's order handler: an SQS-triggered Lambda function with partial batch responses.

Standard library only and no poller imports, so the file deploys to AWS Lambda unchanged
(handler `demo_handler.handler`, Python 3.11+, with `ReportBatchItemFailures` enabled on the
event source mapping). Under poller it is `poller.demo.orders:handler`.

Each record's body must be a JSON object such as `{"order_id": 7, "amount": 12.5}`: an integer
`order_id` and a positive `amount`. Anything else is a poison message: it is listed in
`batchItemFailures`, so only it is retried (and, after the queue's maxReceiveCount, moved to the
dead-letter queue) while the rest of the batch is deleted.
"""

from __future__ import annotations

import json
from typing import Any


class InvalidOrder(ValueError):
    """A message body that is not a valid order; retrying it will not help."""


def log(line: str) -> None:
    """Print one line in a single write, so lines of concurrent batches don't interleave."""
    print(line + "\n", end="", flush=True)


def parse_order(body: str) -> tuple[int, float]:
    """Return `(order_id, amount)` from a message body; raise InvalidOrder if it is not one."""
    try:
        order = json.loads(body)
    except json.JSONDecodeError as exc:
        raise InvalidOrder(f"body is not JSON: {body[:40]!r}") from exc
    if not isinstance(order, dict):
        raise InvalidOrder("body is not a JSON object")
    order_id, amount = order.get("order_id"), order.get("amount")
    if not isinstance(order_id, int) or isinstance(order_id, bool):
        raise InvalidOrder(f"order_id must be an integer, got {order_id!r}")
    if not isinstance(amount, int | float) or isinstance(amount, bool) or amount <= 0:
        raise InvalidOrder(f"order {order_id}: amount must be a positive number, got {amount!r}")
    return order_id, float(amount)


def handler(event: dict[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    """Process every record of an SQS event; return the failed ones as `batchItemFailures`.

    Logs one line per record. Never raises for a bad record: raising would fail (and retry) the
    whole batch, valid orders included.
    """
    failures: list[dict[str, str]] = []
    for record in event.get("Records", []):
        message_id = record["messageId"]
        try:
            order_id, amount = parse_order(record.get("body", ""))
        except InvalidOrder as exc:
            receives = record.get("attributes", {}).get("ApproximateReceiveCount", "?")
            log(f"orders: REJECTED message {message_id} (receive #{receives}): {exc}")
            failures.append({"itemIdentifier": message_id})
            continue
        log(f"orders: order {order_id} charged {amount:.2f}")
    return {"batchItemFailures": failures}
