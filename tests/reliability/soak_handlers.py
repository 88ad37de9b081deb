"""The soak's handler, run inside a `poller run` child: logs each batch, then fails now and then.

Each batch appends {"source": ..., "ids": [...]} to $POLLER_SOAK_LOG before it decides, so the
log holds every attempt. About 2 % of batches raise (a function error: the whole batch fails)
and about 5 % of the other records are reported in batchItemFailures. Records whose id starts
with "final-" never fail: the soak's closing check waits for them and should not wait out a
retry. The handler keeps no state, so nothing it does grows the daemon's memory.
"""

from __future__ import annotations

import base64
import json
import os
import random
from typing import Any

FUNCTION_ERROR_RATE = 0.02
ITEM_FAILURE_RATE = 0.05


def record_id(record: dict[str, Any]) -> str:
    """What the soak's producer wrote: an SQS body, Kinesis data, a DynamoDB item's `id`."""
    if "body" in record:
        return str(record["body"])
    if "kinesis" in record:
        return base64.b64decode(record["kinesis"]["data"]).decode()
    return str(record["dynamodb"]["Keys"]["pk"]["S"])


def item_identifier(record: dict[str, Any]) -> str:
    """The id a partial batch response names: SQS's messageId, a stream's sequence number."""
    if "messageId" in record:
        return str(record["messageId"])
    if "kinesis" in record:
        return str(record["kinesis"]["sequenceNumber"])
    return str(record["dynamodb"]["SequenceNumber"])


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    records = event["Records"]
    ids = [record_id(r) for r in records]
    source = records[0].get("eventSource") or records[0].get("EventSource", "")
    with open(os.environ["POLLER_SOAK_LOG"], "a", encoding="utf-8") as out:
        out.write(json.dumps({"source": source, "ids": ids}) + "\n")
    if any(i.startswith("final-") for i in ids):
        return {"batchItemFailures": []}
    if random.random() < FUNCTION_ERROR_RATE:
        raise RuntimeError("soak: an injected function error")
    failed = [
        {"itemIdentifier": item_identifier(r)}
        for r in records
        if random.random() < ITEM_FAILURE_RATE
    ]
    return {"batchItemFailures": failed}
