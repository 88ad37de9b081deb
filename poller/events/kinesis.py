"""Build the Kinesis event record Lambda sends (reference §5.2) from a GetRecords record."""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from poller.events import Base64Text
from poller.model import StreamRecord


def _data_text(data: Any) -> str:
    # Base64 text as the wire carried it (poller's clients, see Base64Text); bytes, as
    # botocore decodes blobs by default; or plain text, which some servers hand back.
    if isinstance(data, Base64Text):
        return data
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.b64encode(bytes(data)).decode("ascii")


def _arrival_seconds(timestamp: Any) -> float:
    # botocore gives an aware datetime; a naive one is UTC; some servers give epoch seconds.
    if isinstance(timestamp, datetime):
        aware = timestamp if timestamp.tzinfo is not None else timestamp.replace(tzinfo=UTC)
        return round(aware.timestamp(), 3)
    return round(float(timestamp), 3)


def build_record(
    api_record: Mapping[str, Any],
    shard_id: str,
    stream_arn: str,
    region: str,
    identity_arn: str,
) -> dict[str, Any]:
    """One `Records[]` entry, keys in AWS's order; `data` is base64 text of the record's bytes.

    `identity_arn` is the function's execution role; `stream_arn` is the stream's ARN even when
    reading through an enhanced fan-out consumer.
    """
    sequence_number = str(api_record["SequenceNumber"])
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": api_record["PartitionKey"],
            "sequenceNumber": sequence_number,
            "data": _data_text(api_record["Data"]),
            "approximateArrivalTimestamp": _arrival_seconds(
                api_record["ApproximateArrivalTimestamp"]
            ),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{sequence_number}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": identity_arn,
        "awsRegion": region,
        "eventSourceARN": stream_arn,
    }


def to_stream_record(
    api_record: Mapping[str, Any],
    shard_id: str,
    stream_arn: str,
    region: str,
    identity_arn: str,
) -> StreamRecord:
    """Wrap a GetRecords record with its event record; it routes by partition key."""
    record = build_record(api_record, shard_id, stream_arn, region, identity_arn)
    payload = record["kinesis"]
    size = _overhead(shard_id, identity_arn, region, stream_arn) + _variable_size(payload)
    return StreamRecord(
        sequence_number=payload["sequenceNumber"],
        key=payload["partitionKey"],
        record=record,
        size=size,
        arrival=payload["approximateArrivalTimestamp"],
    )


def record_size(record: dict[str, Any]) -> int:
    """The record's compact JSON size in UTF-8 bytes, without serialising it.

    Only four fields vary between records of one shard; the rest is measured once per shard.
    Equal to `len(json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode())`.
    """
    overhead = _overhead(
        record["eventID"].rsplit(":", 1)[0],
        record["invokeIdentityArn"],
        record["awsRegion"],
        record["eventSourceARN"],
    )
    return overhead + _variable_size(record["kinesis"])


def _variable_size(payload: dict[str, Any]) -> int:
    return (
        _text_size(payload["partitionKey"])
        + 2 * len(payload["sequenceNumber"])  # also inside eventID
        + len(payload["data"])  # base64: ASCII, nothing to escape
        + len(repr(payload["approximateArrivalTimestamp"]))
    )


@functools.lru_cache(maxsize=65536)  # partition keys repeat: a dict lookup per record
def _text_size(text: str) -> int:
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return len(text) + 2
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8"))


@functools.lru_cache(maxsize=4096)
def _overhead(shard_id: str, identity_arn: str, region: str, stream_arn: str) -> int:
    template = build_record(
        {"SequenceNumber": "", "PartitionKey": "", "Data": b"", "ApproximateArrivalTimestamp": 0},
        shard_id,
        stream_arn,
        region,
        identity_arn,
    )
    encoded = json.dumps(template, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    # Take out the template's own empty partition key ("") and timestamp (0.0).
    return len(encoded) - 2 - len(repr(0.0))
