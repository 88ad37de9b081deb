"""Build the SQS event record Lambda sends (reference §5.1) from a ReceiveMessage message."""

from __future__ import annotations

from typing import Any

from poller.events import base64_text, json_size
from poller.model import SqsMessage


def _attribute_value(value: dict[str, Any]) -> dict[str, Any]:
    # The Lambda event uses lower-camel keys and always carries both list keys; binary values
    # travel base64-encoded as in the wire format (poller's clients keep them so, Base64Text).
    out: dict[str, Any] = {}
    if "StringValue" in value:
        out["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        out["binaryValue"] = base64_text(value["BinaryValue"])
    out["stringListValues"] = list(value.get("StringListValues", []))
    out["binaryListValues"] = [base64_text(item) for item in value.get("BinaryListValues", [])]
    out["dataType"] = value["DataType"]
    return out


def build_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One `Records[]` entry, keys in AWS's order; `md5OfMessageAttributes` is null if absent."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": {k: str(v) for k, v in message.get("Attributes", {}).items()},
        "messageAttributes": {
            name: _attribute_value(value)
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfMessageAttributes": message.get("MD5OfMessageAttributes"),
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def to_message(message: dict[str, Any], queue_arn: str, region: str) -> SqsMessage:
    """Wrap a received message with its event record and the record's serialised size."""
    record = build_record(message, queue_arn, region)
    return SqsMessage(
        message_id=record["messageId"],
        receipt_handle=record["receiptHandle"],
        record=record,
        size=json_size(record),
        group_id=record["attributes"].get("MessageGroupId"),
    )
