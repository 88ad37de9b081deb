"""events.failure: the on-failure destination record of a discarded stream batch (§5.6, §5.7)."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from poller.events.failure import (
    RECORD_AGE_EXCEEDED,
    RETRY_ATTEMPTS_EXHAUSTED,
    Discard,
    failure_record,
    iso_millis,
    iso_seconds,
    s3_key,
    with_payload,
)
from poller.model import StreamRecord


def epoch(text: str) -> float:
    """An ISO-8601 UTC time (no zone suffix) as epoch seconds."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


FUNCTION_ARN = "arn:aws:lambda:us-east-2:123456789012:function:myfunction"
KINESIS_ARN = "arn:aws:kinesis:us-east-2:123456789012:stream/mystream"
DDB_ARN = "arn:aws:dynamodb:us-east-2:123456789012:table/mytable/stream/2019-11-14T00:04:06.388"
KINESIS_SHARD = "shardId-000000000001"
DDB_SHARD = "shardId-00000001573689847184-864758bb"
KINESIS_FIRST = "49601189658422359378836298521827638475320189012309704722"
KINESIS_LAST = "49601189658422359378836298522902373528957594348623495186"
DDB_SEQ = "800000000003126276362"

TOP_KEYS = ["requestContext", "responseContext", "version", "timestamp"]
REQUEST_KEYS = ["requestId", "functionArn", "condition", "approximateInvokeCount"]
RESPONSE_KEYS = ["statusCode", "executedVersion", "functionError"]
BATCH_KEYS = [
    "shardId",
    "startSequenceNumber",
    "endSequenceNumber",
    "approximateArrivalOfFirstRecord",
    "approximateArrivalOfLastRecord",
    "batchSize",
    "streamArn",
]


def rec(sequence_number: str, arrival: float) -> StreamRecord:
    record = {"kinesis": {"sequenceNumber": sequence_number}, "eventID": f"s:{sequence_number}"}
    return StreamRecord(sequence_number, "pk", record, 100, arrival)


KINESIS_RECORDS = (
    rec(KINESIS_FIRST, epoch("2019-11-14T00:38:04.835")),
    rec("49601189658422359378836298522000000000000000000000000000", epoch("2019-11-14T00:38:05")),
    rec(KINESIS_LAST, epoch("2019-11-14T00:38:05.580")),
)
KINESIS = Discard(
    records=KINESIS_RECORDS,
    condition=RETRY_ATTEMPTS_EXHAUSTED,
    invokes=1,
    request_id="c9b8fa9f-5a7f-xmpl-af9c-0c604cde93a5",
    function_arn=FUNCTION_ARN,
    function_error=True,
    shard_id=KINESIS_SHARD,
    stream_arn=KINESIS_ARN,
    dynamodb=False,
)
KINESIS_NOW = epoch("2019-11-14T00:38:06.021")
DDB = Discard(
    records=(rec(DDB_SEQ, epoch("2019-11-14T00:13:19")),),
    condition=RETRY_ATTEMPTS_EXHAUSTED,
    invokes=1,
    request_id="316aa6d0-8154-xmpl-9af7-85d5f4a6bc81",
    function_arn=FUNCTION_ARN,
    function_error=True,
    shard_id=DDB_SHARD,
    stream_arn=DDB_ARN,
    dynamodb=True,
)
DDB_NOW = epoch("2019-11-14T00:13:49.717")


def keys(value: Any) -> list[str]:
    assert isinstance(value, dict)
    return list(value)


# --- the reference records, key order included ------------------------------------------------


def test_kinesis_record_matches_reference() -> None:
    record = failure_record(KINESIS, KINESIS_NOW)
    assert record == {
        "requestContext": {
            "requestId": "c9b8fa9f-5a7f-xmpl-af9c-0c604cde93a5",
            "functionArn": FUNCTION_ARN,
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 1,
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "version": "1.0",
        "timestamp": "2019-11-14T00:38:06.021Z",
        "KinesisBatchInfo": {
            "shardId": KINESIS_SHARD,
            "startSequenceNumber": KINESIS_FIRST,
            "endSequenceNumber": KINESIS_LAST,
            "approximateArrivalOfFirstRecord": "2019-11-14T00:38:04.835Z",
            "approximateArrivalOfLastRecord": "2019-11-14T00:38:05.580Z",
            "batchSize": 3,
            "streamArn": KINESIS_ARN,
        },
    }
    assert keys(record) == [*TOP_KEYS, "KinesisBatchInfo"]
    assert keys(record["requestContext"]) == REQUEST_KEYS
    assert keys(record["responseContext"]) == RESPONSE_KEYS
    assert keys(record["KinesisBatchInfo"]) == BATCH_KEYS


def test_dynamodb_record_matches_reference() -> None:
    record = failure_record(DDB, DDB_NOW)
    assert record == {
        "requestContext": {
            "requestId": "316aa6d0-8154-xmpl-9af7-85d5f4a6bc81",
            "functionArn": FUNCTION_ARN,
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 1,
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "version": "1.0",
        "timestamp": "2019-11-14T00:13:49.717Z",
        "DDBStreamBatchInfo": {
            "shardId": DDB_SHARD,
            "startSequenceNumber": DDB_SEQ,
            "endSequenceNumber": DDB_SEQ,
            "approximateArrivalOfFirstRecord": "2019-11-14T00:13:19Z",
            "approximateArrivalOfLastRecord": "2019-11-14T00:13:19Z",
            "batchSize": 1,
            "streamArn": DDB_ARN,
        },
    }
    assert keys(record) == [*TOP_KEYS, "DDBStreamBatchInfo"]
    assert keys(record["requestContext"]) == REQUEST_KEYS
    assert keys(record["responseContext"]) == RESPONSE_KEYS
    assert keys(record["DDBStreamBatchInfo"]) == BATCH_KEYS


def test_record_is_json_serialisable_in_order() -> None:
    text = json.dumps(failure_record(KINESIS, KINESIS_NOW))
    assert text.index('"requestContext"') < text.index('"responseContext"') < text.index(
        '"version"'
    ) < text.index('"timestamp"') < text.index('"KinesisBatchInfo"')  # fmt: skip
    assert json.loads(text) == failure_record(KINESIS, KINESIS_NOW)


# --- variants observed on AWS (§5.7) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("discard", "batch_info"),
    [pytest.param(KINESIS, "KinesisBatchInfo", id="kinesis"),
     pytest.param(DDB, "DDBStreamBatchInfo", id="dynamodb")],
)  # fmt: skip
def test_record_age_exceeded_has_no_response_context(discard: Discard, batch_info: str) -> None:
    for function_error in (True, False):
        aged = replace(
            discard, condition=RECORD_AGE_EXCEEDED, invokes=0, function_error=function_error
        )
        record = failure_record(aged, KINESIS_NOW)
        assert "responseContext" not in record
        assert keys(record) == ["requestContext", "version", "timestamp", batch_info]
        assert record["requestContext"]["condition"] == "RecordAgeExceeded"
        # AWS reported 1 even for a record that expired while being retried (LS-AWS
        # test_kinesis_maximum_record_age_exceeded[expire-while-retrying]).
        assert record["requestContext"]["approximateInvokeCount"] == 1


@pytest.mark.parametrize(
    ("function_error", "expected"),
    [pytest.param(True, "Unhandled", id="function-error"),
     pytest.param(False, None, id="partial-or-invalid-response-null")],
)  # fmt: skip
@pytest.mark.parametrize("discard", [pytest.param(KINESIS, id="kinesis"),
                                     pytest.param(DDB, id="dynamodb")])  # fmt: skip
def test_function_error(discard: Discard, function_error: bool, expected: str | None) -> None:
    record = failure_record(replace(discard, function_error=function_error), KINESIS_NOW)
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": expected,
    }
    assert keys(record["responseContext"]) == RESPONSE_KEYS  # the key is present even when null


@pytest.mark.parametrize(
    ("invokes", "expected"),
    [pytest.param(0, 1, id="never-invoked-counts-1"),
     pytest.param(1, 1, id="r0"),
     pytest.param(2, 2, id="r1"),
     pytest.param(4, 4, id="r3"),
     pytest.param(10_001, 10_001, id="r10000")],
)  # fmt: skip
def test_approximate_invoke_count(invokes: int, expected: int) -> None:
    record = failure_record(replace(KINESIS, invokes=invokes), KINESIS_NOW)
    assert record["requestContext"]["approximateInvokeCount"] == expected


@pytest.mark.parametrize(
    ("records", "start", "end", "size"),
    [pytest.param(KINESIS_RECORDS[:1], KINESIS_FIRST, KINESIS_FIRST, 1, id="one-record"),
     pytest.param(KINESIS_RECORDS[1:], KINESIS_RECORDS[1].sequence_number, KINESIS_LAST, 2,
                  id="two-records"),
     pytest.param(KINESIS_RECORDS, KINESIS_FIRST, KINESIS_LAST, 3, id="three-records")],
)  # fmt: skip
def test_batch_info_range(
    records: tuple[StreamRecord, ...], start: str, end: str, size: int
) -> None:
    info = failure_record(replace(KINESIS, records=records), KINESIS_NOW)["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (
        start,
        end,
        size,
    )
    assert info["approximateArrivalOfFirstRecord"] == iso_millis(records[0].arrival)
    assert info["approximateArrivalOfLastRecord"] == iso_millis(records[-1].arrival)


MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.mark.parametrize(
    "arrival", [0.0, 1573691884.0, 1573691884.5, 1573691884.999, 1_700_000_000.123456]
)
def test_arrival_precision(arrival: float) -> None:
    """Kinesis arrivals and every timestamp have milliseconds; DynamoDB arrivals whole seconds."""
    for discard, info_key, pattern in (
        (KINESIS, "KinesisBatchInfo", MILLIS),
        (DDB, "DDBStreamBatchInfo", SECONDS),
    ):
        one = (rec("1", arrival),)
        record = failure_record(replace(discard, records=one), arrival)
        assert MILLIS.match(record["timestamp"])
        info = record[info_key]
        assert pattern.match(info["approximateArrivalOfFirstRecord"])
        assert pattern.match(info["approximateArrivalOfLastRecord"])


@pytest.mark.parametrize(
    ("moment", "millis", "seconds"),
    [
        pytest.param(0.0, "1970-01-01T00:00:00.000Z", "1970-01-01T00:00:00Z", id="epoch"),
        pytest.param(epoch("2019-11-14T00:38:06.021"), "2019-11-14T00:38:06.021Z",
                     "2019-11-14T00:38:06Z", id="millis"),
        pytest.param(epoch("2019-11-14T00:38:05.580"), "2019-11-14T00:38:05.580Z",
                     "2019-11-14T00:38:05Z", id="trailing-zero-kept"),
        pytest.param(epoch("2019-11-14T00:13:19"), "2019-11-14T00:13:19.000Z",
                     "2019-11-14T00:13:19Z", id="whole-second"),
        pytest.param(epoch("2024-02-29T23:59:59.999"), "2024-02-29T23:59:59.999Z",
                     "2024-02-29T23:59:59Z", id="not-rounded-up"),
    ],
)  # fmt: skip
def test_iso_formats(moment: float, millis: str, seconds: str) -> None:
    assert iso_millis(moment) == millis
    assert iso_seconds(moment) == seconds


# --- S3: payload and object key (§4.5) ---------------------------------------------------------


@pytest.mark.parametrize("discard", [pytest.param(KINESIS, id="kinesis"),
                                     pytest.param(DDB, id="dynamodb")])  # fmt: skip
def test_with_payload(discard: Discard) -> None:
    record = failure_record(discard, KINESIS_NOW)
    original = json.loads(json.dumps(record))
    s3_object = with_payload(record, discard)
    assert keys(s3_object) == [*keys(record), "payload"]
    assert {k: v for k, v in s3_object.items() if k != "payload"} == record
    assert isinstance(s3_object["payload"], str)  # an escaped JSON string, not an object
    event = json.loads(s3_object["payload"])
    assert event == {"Records": [r.record for r in discard.records]}
    assert [list(r) for r in event["Records"]] == [["kinesis", "eventID"]] * len(discard.records)
    assert record == original  # the metadata-only record (SQS, SNS) is left as it was
    assert json.loads(json.dumps(s3_object)) == s3_object  # survives being written as JSON


UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
MAPPING_UUID = "a1b2c3d4-e5f6-4789-8abc-def012345678"


def test_s3_key_format() -> None:
    key = s3_key(MAPPING_UUID, KINESIS_SHARD, KINESIS_NOW)
    pattern = (
        rf"^aws/lambda/{MAPPING_UUID}/{KINESIS_SHARD}/(\d{{4}})/(\d\d)/(\d\d)/"
        rf"(\d{{4}})-(\d\d)-(\d\d)T\d\d\.\d\d\.\d\d-({UUID})$"
    )
    match = re.match(pattern, key)
    assert match is not None, key
    assert match.group(1, 2, 3) == match.group(4, 5, 6) == ("2019", "11", "14")
    assert str(uuid.UUID(match[7])) == match[7]
    assert key != s3_key(MAPPING_UUID, KINESIS_SHARD, KINESIS_NOW)  # a random suffix each time


@pytest.mark.parametrize(
    ("shard", "now", "expected"),
    [
        pytest.param(KINESIS_SHARD, KINESIS_NOW,
                     f"aws/lambda/{MAPPING_UUID}/{KINESIS_SHARD}/2019/11/14/"
                     "2019-11-14T00.38.06-suffix", id="kinesis"),
        pytest.param(DDB_SHARD, epoch("2024-01-02T03:04:05.999"),
                     f"aws/lambda/{MAPPING_UUID}/{DDB_SHARD}/2024/01/02/"
                     "2024-01-02T03.04.05-suffix", id="dynamodb-zero-padded"),
    ],
)  # fmt: skip
def test_s3_key_with_suffix(shard: str, now: float, expected: str) -> None:
    assert s3_key(MAPPING_UUID, shard, now, suffix="suffix") == expected
