"""Build the DynamoDB Streams event record Lambda sends (reference §5.3) from a stream record."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from poller.model import StreamRecord


def _b64(value: Any) -> str:
    # botocore decodes "B" values to bytes; text is taken to be base64 already.
    if isinstance(value, str):
        return value
    return base64.b64encode(bytes(value)).decode("ascii")


def _attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    # One DynamoDB JSON attribute value back to its wire form: binaries as base64 text, through
    # maps and lists; numbers stay the decimal strings DynamoDB sent.
    out: dict[str, Any] = {}
    for kind, inner in value.items():
        if kind == "B":
            out[kind] = _b64(inner)
        elif kind == "BS":
            out[kind] = [_b64(item) for item in inner]
        elif kind == "M":
            out[kind] = _image(inner)
        elif kind == "L":
            out[kind] = [_attribute(item) for item in inner]
        elif isinstance(inner, list):
            out[kind] = list(inner)
        else:
            out[kind] = inner
    return out


def _image(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _attribute(value) for name, value in attributes.items()}


def _epoch_seconds(timestamp: Any) -> float:
    # A naive datetime is UTC; numbers (or numeric text) are epoch seconds already.
    if isinstance(timestamp, datetime):
        aware = timestamp if timestamp.tzinfo is not None else timestamp.replace(tzinfo=UTC)
        return aware.timestamp()
    return float(timestamp)


def _change(change: Mapping[str, Any]) -> dict[str, Any]:
    # Lambda's key order; images appear only when the stream view type carries them.
    out: dict[str, Any] = {
        "ApproximateCreationDateTime": _epoch_seconds(change["ApproximateCreationDateTime"]),
        "Keys": _image(change["Keys"]),
    }
    for name in ("NewImage", "OldImage"):
        if name in change:
            out[name] = _image(change[name])
    out["SequenceNumber"] = str(change["SequenceNumber"])
    out["SizeBytes"] = int(change["SizeBytes"])
    out["StreamViewType"] = change["StreamViewType"]
    return out


def build_record(api_record: Mapping[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """One `Records[]` entry, keys in AWS's order.

    `eventVersion` is always "1.1", as real AWS sends; `awsRegion` is the record's own, else
    `region`; `userIdentity` (TTL deletions) is carried with Lambda's lower-case keys.
    """
    record: dict[str, Any] = {
        "eventID": api_record["eventID"],
        "eventName": api_record["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": api_record.get("awsRegion") or region,
        "dynamodb": _change(api_record["dynamodb"]),
        "eventSourceARN": stream_arn,
    }
    identity = api_record.get("userIdentity")
    if identity:
        record["userIdentity"] = {
            "type": identity.get("Type", identity.get("type")),
            "principalId": identity.get("PrincipalId", identity.get("principalId")),
        }
    return record


def item_key(keys: Mapping[str, Any]) -> str:
    """The item's primary key (partition + sort) as canonical text, equal across processes."""
    return json.dumps(_image(keys), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def to_stream_record(api_record: Mapping[str, Any], stream_arn: str, region: str) -> StreamRecord:
    """Wrap a GetRecords record with its event record; routing by item key keeps per-item order."""
    record = build_record(api_record, stream_arn, region)
    change = record["dynamodb"]
    size = len(json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    return StreamRecord(
        sequence_number=change["SequenceNumber"],
        key=item_key(api_record["dynamodb"]["Keys"]),
        record=record,
        size=size,
        arrival=change["ApproximateCreationDateTime"],
    )
