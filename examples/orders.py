"""The example handler `config/poller.example.yaml` runs: one function for an SQS queue and a
Kinesis stream, written exactly as for Lambda.

Each record's payload is a JSON order (`{"id": ..., "quantity": ...}`). A record that is not a
valid order is reported in `batchItemFailures`, so with `ReportBatchItemFailures` only it is
retried (SQS: it reappears after its visibility timeout and goes to the queue's DLQ after
maxReceiveCount; streams: the batch from it on is retried). Without ReportBatchItemFailures
the response is ignored and the batch succeeds.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    failures = []
    for record in event["Records"]:
        identifier, payload = _read(record)
        try:
            order = _order(payload)
        except (ValueError, KeyError, TypeError) as exc:
            print(f"order {identifier} refused: {exc}")  # CloudWatch Logs on Lambda; stdout here
            failures.append({"itemIdentifier": identifier})
            continue
        print(f"order {order['id']}: {order['quantity']} for table {os.environ.get('TABLE')}")
    return {"batchItemFailures": failures}


def _order(payload: str) -> dict[str, Any]:
    """The order a payload holds; ValueError, KeyError or TypeError if it is not one."""
    order = json.loads(payload)
    quantity = int(order["quantity"])
    if quantity <= 0:
        raise ValueError(f"quantity {quantity} is not positive")
    return {"id": order.get("id"), "quantity": quantity}


def _read(record: dict[str, Any]) -> tuple[str, str]:
    """The identifier Lambda expects in batchItemFailures, and the record's payload."""
    if "kinesis" in record:
        data = base64.b64decode(record["kinesis"]["data"]).decode("utf-8", "replace")
        return record["kinesis"]["sequenceNumber"], data
    if "dynamodb" in record:
        return record["dynamodb"]["SequenceNumber"], json.dumps(record["dynamodb"])
    return record["messageId"], record["body"]
