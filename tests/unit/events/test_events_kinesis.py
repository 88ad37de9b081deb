"""events.kinesis: the Lambda Kinesis record (§5.2) built from an aiobotocore GetRecords record."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import KinesisDataStreamModel

from poller.events.kinesis import build_record, to_stream_record

STREAM_ARN = "arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream"
ROLE_ARN = "arn:aws:iam::123456789012:role/lambda-role"
REGION = "us-east-2"
SHARD = "shardId-000000000006"
SEQ = "49590338271490256608559692538361571095921575989136588898"
ARRIVED = datetime(2018, 12, 17, 22, 10, 50, 987000, tzinfo=UTC)  # 1545084650.987
RECORD_KEYS = [
    "kinesis",
    "eventSource",
    "eventVersion",
    "eventID",
    "eventName",
    "invokeIdentityArn",
    "awsRegion",
    "eventSourceARN",
]
PAYLOAD_KEYS = [
    "kinesisSchemaVersion",
    "partitionKey",
    "sequenceNumber",
    "data",
    "approximateArrivalTimestamp",
]


def received(**extra: Any) -> dict[str, Any]:
    """A record as aiobotocore's GetRecords returns it (Data decoded, timestamp a datetime)."""
    record: dict[str, Any] = {
        "SequenceNumber": SEQ,
        "ApproximateArrivalTimestamp": ARRIVED,
        "Data": b"Hello, this is a test.",
        "PartitionKey": "1",
    }
    record.update(extra)
    return record


def build(api_record: dict[str, Any], shard_id: str = SHARD) -> dict[str, Any]:
    return build_record(api_record, shard_id, STREAM_ARN, REGION, ROLE_ARN)


REFERENCE_RECORD = {
    "kinesis": {
        "kinesisSchemaVersion": "1.0",
        "partitionKey": "1",
        "sequenceNumber": SEQ,
        "data": "SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==",
        "approximateArrivalTimestamp": 1545084650.987,
    },
    "eventSource": "aws:kinesis",
    "eventVersion": "1.0",
    "eventID": f"{SHARD}:{SEQ}",
    "eventName": "aws:kinesis:record",
    "invokeIdentityArn": ROLE_ARN,
    "awsRegion": REGION,
    "eventSourceARN": STREAM_ARN,
}


@pytest.mark.parametrize(
    "api_record",
    [
        pytest.param(received(), id="reference-example"),
        pytest.param(received(EncryptionType="KMS"), id="encryption-type-not-carried"),
        pytest.param(received(EncryptionType="NONE"), id="encryption-type-none"),
    ],
)
def test_build_record_matches_reference(api_record: dict[str, Any]) -> None:
    record = build(api_record)
    assert record == REFERENCE_RECORD
    assert list(record) == RECORD_KEYS
    assert list(record["kinesis"]) == PAYLOAD_KEYS


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b"Hello, this is a test.", "SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==", id="ascii"),
        pytest.param(b"", "", id="empty"),
        pytest.param(b"\x00\xff\xfe\x80", "AP/+gA==", id="non-utf8-bytes"),
        pytest.param(bytearray(b"\x01\x02"), "AQI=", id="bytearray"),
        pytest.param("Hello, this is a test.", "SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==", id="str-data"),
        pytest.param("héllo ✓", "aMOpbGxvIOKckw==", id="str-data-utf8"),
        pytest.param(b'{"a": 1}', "eyJhIjogMX0=", id="json-stays-opaque"),
    ],
)
def test_data_is_base64_of_the_bytes(data: bytes | bytearray | str, expected: str) -> None:
    encoded = build(received(Data=data))["kinesis"]["data"]
    assert encoded == expected
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    assert base64.b64decode(encoded) == raw


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        pytest.param(ARRIVED, 1545084650.987, id="aware-utc"),
        pytest.param(
            ARRIVED.astimezone(timezone(timedelta(hours=2))), 1545084650.987, id="aware-plus-2h"
        ),
        pytest.param(
            ARRIVED.astimezone(timezone(timedelta(hours=-8))), 1545084650.987, id="aware-minus-8h"
        ),
        pytest.param(ARRIVED.replace(tzinfo=None), 1545084650.987, id="naive-is-utc"),
        pytest.param(ARRIVED.replace(microsecond=987654), 1545084650.988, id="rounds-to-ms"),
        pytest.param(ARRIVED.replace(microsecond=0), 1545084650.0, id="whole-second"),
        pytest.param(1545084650, 1545084650.0, id="int-epoch-seconds"),
        pytest.param(1545084650.98749, 1545084650.987, id="float-epoch-seconds"),
    ],
)
def test_arrival_timestamp_is_epoch_seconds_with_ms(timestamp: Any, expected: float) -> None:
    value = build(received(ApproximateArrivalTimestamp=timestamp))["kinesis"][
        "approximateArrivalTimestamp"
    ]
    assert type(value) is float
    assert value == expected


@pytest.mark.parametrize(
    ("shard_id", "sequence_number", "event_id"),
    [
        pytest.param(SHARD, SEQ, f"{SHARD}:{SEQ}", id="reference"),
        pytest.param("shardId-000000000000", "1", "shardId-000000000000:1", id="short-sequence"),
    ],
)
def test_event_id_and_sequence_number(shard_id: str, sequence_number: str, event_id: str) -> None:
    record = build(received(SequenceNumber=sequence_number), shard_id)
    assert record["eventID"] == event_id
    assert record["kinesis"]["sequenceNumber"] == sequence_number
    assert isinstance(record["kinesis"]["sequenceNumber"], str)


def test_partition_key_is_carried_verbatim() -> None:
    record = build(received(PartitionKey="user/42 ✓"))
    assert record["kinesis"]["partitionKey"] == "user/42 ✓"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"Hello, this is a test.", id="ascii"),
        pytest.param(b"\x00\xff\xfe\x80", id="non-utf8"),
        pytest.param(b"", id="empty"),
        pytest.param(bytes(range(256)) * 4, id="all-byte-values"),
    ],
)
def test_event_validates_with_powertools_kinesis_model(data: bytes) -> None:
    event = {"Records": [build(received(Data=data))]}
    parsed = KinesisDataStreamModel.model_validate(json.loads(json.dumps(event)))
    record = parsed.Records[0]
    assert record.kinesis.data == data
    assert record.kinesis.partitionKey == "1"
    assert record.kinesis.sequenceNumber == SEQ
    assert record.kinesis.approximateArrivalTimestamp == 1545084650.987
    assert record.eventID == f"{SHARD}:{SEQ}"
    assert record.invokeIdentityArn == ROLE_ARN
    assert record.awsRegion == REGION
    assert record.eventSourceARN == STREAM_ARN


def test_event_with_many_records_validates() -> None:
    records = [build(received(SequenceNumber=str(100 + i), Data=bytes([i]))) for i in range(10)]
    parsed = KinesisDataStreamModel.model_validate(json.loads(json.dumps({"Records": records})))
    assert [r.kinesis.data for r in parsed.Records] == [bytes([i]) for i in range(10)]
    assert [r.eventID for r in parsed.Records] == [f"{SHARD}:{100 + i}" for i in range(10)]


@pytest.mark.parametrize(
    "api_record",
    [
        pytest.param(received(), id="reference"),
        pytest.param(received(PartitionKey="clé-✓", Data="héllo"), id="non-ascii"),
        pytest.param(received(Data=bytes(range(256))), id="binary"),
    ],
)
def test_to_stream_record(api_record: dict[str, Any]) -> None:
    wrapped = to_stream_record(api_record, SHARD, STREAM_ARN, REGION, ROLE_ARN)
    record = build(api_record)
    assert wrapped.record == record
    assert wrapped.sequence_number == api_record["SequenceNumber"]
    assert wrapped.sequence == int(api_record["SequenceNumber"])
    assert wrapped.key == api_record["PartitionKey"]
    assert wrapped.arrival == 1545084650.987
    compact = json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert wrapped.size == len(compact)
