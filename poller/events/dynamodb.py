"""Build the DynamoDB Streams event record Lambda sends (reference §5.3) from a stream record."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from poller.events import base64_text, json_size
from poller.model import StreamRecord


def _attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    # One DynamoDB JSON attribute value back to its wire form: binaries as base64 text, through
    # maps and lists; numbers stay the decimal strings DynamoDB sent.
    out: dict[str, Any] = {}
    for kind, inner in value.items():
        if kind == "B":
            out[kind] = base64_text(inner)
        elif kind == "BS":
            out[kind] = [base64_text(item) for item in inner]
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


ImageForm = Callable[[Mapping[str, Any]], Mapping[str, Any]]


def _epoch_seconds(timestamp: Any) -> float:
    # A naive datetime is UTC; numbers (or numeric text) are epoch seconds already.
    if isinstance(timestamp, datetime):
        aware = timestamp if timestamp.tzinfo is not None else timestamp.replace(tzinfo=UTC)
        return aware.timestamp()
    return float(timestamp)


def _change(change: Mapping[str, Any], image: ImageForm) -> dict[str, Any]:
    # Lambda's key order; images appear only when the stream view type carries them.
    out: dict[str, Any] = {
        "ApproximateCreationDateTime": _epoch_seconds(change["ApproximateCreationDateTime"]),
        "Keys": image(change["Keys"]),
    }
    for name in ("NewImage", "OldImage"):
        if name in change:
            out[name] = image(change[name])
    out["SequenceNumber"] = str(change["SequenceNumber"])
    out["SizeBytes"] = int(change["SizeBytes"])
    out["StreamViewType"] = change["StreamViewType"]
    return out


def build_record(
    api_record: Mapping[str, Any], stream_arn: str, region: str, image: ImageForm = _image
) -> dict[str, Any]:
    """One `Records[]` entry, keys in AWS's order.

    `eventVersion` is always "1.1", as real AWS sends; `awsRegion` is the record's own, else
    `region`; `userIdentity` (TTL deletions) is carried with Lambda's lower-case keys. `image`
    gives each image's wire form (the default converts binaries to base64 text, a copy).
    """
    record: dict[str, Any] = {
        "eventID": api_record["eventID"],
        "eventName": api_record["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": api_record.get("awsRegion") or region,
        "dynamodb": _change(api_record["dynamodb"], image),
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
    try:
        return orjson.dumps(keys, option=orjson.OPT_SORT_KEYS).decode("utf-8")
    except TypeError:  # binary key attributes as bytes: their base64 text, as on the wire
        return json.dumps(_image(keys), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _as_is(image: Mapping[str, Any]) -> Mapping[str, Any]:
    return image


def to_stream_record(api_record: Mapping[str, Any], stream_arn: str, region: str) -> StreamRecord:
    """Wrap a GetRecords record with its event record; routing by item key keeps per-item order.

    Images are passed through as botocore parsed them when they hold no bytes (poller's clients
    keep binaries as base64 text, see Base64Text): they are the wire form already. Measuring the
    record's size finds out, since bytes are not JSON; only then are the images converted.
    """
    record = build_record(api_record, stream_arn, region, _as_is)
    try:
        size = json_size(record)
    except TypeError:  # bytes are not JSON: the converted copy, measured
        record = build_record(api_record, stream_arn, region)
        size = json_size(record)
    change = record["dynamodb"]
    return StreamRecord(
        sequence_number=change["SequenceNumber"],
        key=item_key(change["Keys"]),
        record=record,
        size=size,
        arrival=change["ApproximateCreationDateTime"],
    )
