"""The on-failure destination record of a discarded stream batch (reference §5.6 / §5.7).

SQS and SNS destinations get the record; S3 gets it with `payload`, the whole invocation event
as a JSON string, under `aws/lambda/<mapping-uuid>/<shardId>/YYYY/MM/DD/...`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from poller.model import StreamRecord

# The conditions a failure record names (requestContext.condition).
RETRY_ATTEMPTS_EXHAUSTED = "RetryAttemptsExhausted"
RECORD_AGE_EXCEEDED = "RecordAgeExceeded"


@dataclass(frozen=True, slots=True)
class Discard:
    """Everything a destination record says about one discarded batch."""

    records: Sequence[StreamRecord]
    condition: str
    invokes: int
    request_id: str
    function_arn: str
    function_error: bool
    shard_id: str
    stream_arn: str
    dynamodb: bool


def iso_millis(moment: float) -> str:
    """2019-11-14T00:38:06.021Z"""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def iso_seconds(moment: float) -> str:
    """2019-11-14T00:13:19Z (DynamoDB's arrival times have no milliseconds)"""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def failure_record(discard: Discard, now: float) -> dict[str, Any]:
    """The record in AWS's key order. No responseContext for RecordAgeExceeded (the batch was
    never sent); `functionError` is "Unhandled" after a function error, null after a response
    read as a failure (partial batch responses)."""
    arrival = iso_seconds if discard.dynamodb else iso_millis
    first, last = discard.records[0], discard.records[-1]
    record: dict[str, Any] = {
        "requestContext": {
            "requestId": discard.request_id,
            "functionArn": discard.function_arn,
            "condition": discard.condition,
            "approximateInvokeCount": max(discard.invokes, 1),
        }
    }
    if discard.condition != RECORD_AGE_EXCEEDED:
        record["responseContext"] = {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled" if discard.function_error else None,
        }
    record["version"] = "1.0"
    record["timestamp"] = iso_millis(now)
    record["DDBStreamBatchInfo" if discard.dynamodb else "KinesisBatchInfo"] = {
        "shardId": discard.shard_id,
        "startSequenceNumber": first.sequence_number,
        "endSequenceNumber": last.sequence_number,
        "approximateArrivalOfFirstRecord": arrival(first.arrival),
        "approximateArrivalOfLastRecord": arrival(last.arrival),
        "batchSize": len(discard.records),
        "streamArn": discard.stream_arn,
    }
    return record


def with_payload(record: dict[str, Any], discard: Discard) -> dict[str, Any]:
    """The S3 object: the record plus the invocation event as an escaped JSON string."""
    event = {"Records": [r.record for r in discard.records]}
    return {**record, "payload": json.dumps(event, separators=(",", ":"))}


def s3_key(mapping_uuid: str, shard_id: str, now: float, suffix: str | None = None) -> str:
    """aws/lambda/<ESM-UUID>/<shardID>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<random UUID>"""
    moment = datetime.fromtimestamp(now, UTC)
    return (
        f"aws/lambda/{mapping_uuid}/{shard_id}/{moment:%Y/%m/%d}/"
        f"{moment:%Y-%m-%dT%H.%M.%S}-{suffix or uuid.uuid4()}"
    )
