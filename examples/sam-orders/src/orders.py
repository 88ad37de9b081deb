"""TakeOrder: one line per order taken; an order that is not valid JSON with a positive
`quantity` is reported as a batch item failure, so SQS retries it and then moves it to the
dead-letter queue. Edit `GREETING` while `poller run --watch` runs: the next order shows it."""

from __future__ import annotations

import json
import os
from typing import Any

GREETING = "taken"


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    failures = []
    for record in event["Records"]:
        try:
            order = json.loads(record["body"])
            quantity = int(order["quantity"])
        except (ValueError, KeyError, TypeError):
            quantity = 0
            order = {}
        if quantity <= 0:
            failures.append({"itemIdentifier": record["messageId"]})
            print(f"[{os.environ['STAGE']}] rejected {record['body']!r}")
            continue
        print(f"[{os.environ['STAGE']}] {GREETING}: {order.get('id')} x{quantity}")
    return {"batchItemFailures": failures}
