"""events.sqs: the Lambda SQS record (§5.1) built from a boto3 ReceiveMessage message."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import SqsModel

from poller.events.sqs import build_record, to_message

ARN = "arn:aws:sqs:us-east-2:123456789012:my-queue"
FIFO_ARN = "arn:aws:sqs:us-east-2:123456789012:my-queue.fifo"
REGION = "us-east-2"
RECORD_KEYS = [
    "messageId",
    "receiptHandle",
    "body",
    "attributes",
    "messageAttributes",
    "md5OfMessageAttributes",
    "md5OfBody",
    "eventSource",
    "eventSourceARN",
    "awsRegion",
]
SYSTEM_ATTRIBUTES = {
    "ApproximateReceiveCount": "1",
    "SentTimestamp": "1545082649183",
    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
    "ApproximateFirstReceiveTimestamp": "1545082649185",
}


def received(**extra: Any) -> dict[str, Any]:
    """A message as boto3's ReceiveMessage returns it (binary values already decoded)."""
    message: dict[str, Any] = {
        "MessageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
        "ReceiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
        "MD5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "Body": "Test message.",
        "Attributes": dict(SYSTEM_ATTRIBUTES),
    }
    message.update(extra)
    return message


PLAIN = received()
WITH_STRING_ATTRIBUTE = received(
    MD5OfMessageAttributes="d25a6aea97eb8f585bfa92d314504a92",
    MessageAttributes={"myAttribute": {"StringValue": "myValue", "DataType": "String"}},
)
WITH_ALL_ATTRIBUTE_TYPES = received(
    MD5OfMessageAttributes="0123456789abcdef0123456789abcdef",
    MessageAttributes={
        "count": {"StringValue": "42", "DataType": "Number"},
        "blob": {"BinaryValue": b"\x00\x01\xfehello", "DataType": "Binary"},
        "labelled": {"StringValue": "x", "DataType": "String.custom"},
        "image": {"BinaryValue": b"\x89PNG", "DataType": "Binary.png"},
    },
)
FIFO = received(
    Attributes={
        **SYSTEM_ATTRIBUTES,
        "SequenceNumber": "18849496460467696128",
        "MessageGroupId": "1",
        "MessageDeduplicationId": "1",
    }
)
TRACED = received(
    Attributes={**SYSTEM_ATTRIBUTES, "AWSTraceHeader": "Root=1-5e1b4151-5ac6c58239c1e5b4"}
)


def expected_record(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
        "body": "Test message.",
        "attributes": dict(SYSTEM_ATTRIBUTES),
        "messageAttributes": {},
        "md5OfMessageAttributes": None,
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": ARN,
        "awsRegion": REGION,
    }
    record.update(overrides)
    return record


@pytest.mark.parametrize(
    ("message", "arn", "expected"),
    [
        pytest.param(PLAIN, ARN, expected_record(), id="no-message-attributes"),
        pytest.param(
            WITH_STRING_ATTRIBUTE,
            ARN,
            expected_record(
                messageAttributes={
                    "myAttribute": {
                        "stringValue": "myValue",
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": "String",
                    }
                },
                md5OfMessageAttributes="d25a6aea97eb8f585bfa92d314504a92",
            ),
            id="string-attribute-reference-example",
        ),
        pytest.param(
            WITH_ALL_ATTRIBUTE_TYPES,
            ARN,
            expected_record(
                messageAttributes={
                    "count": {
                        "stringValue": "42",
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": "Number",
                    },
                    "blob": {
                        "binaryValue": "AAH+aGVsbG8=",
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": "Binary",
                    },
                    "labelled": {
                        "stringValue": "x",
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": "String.custom",
                    },
                    "image": {
                        "binaryValue": "iVBORw==",
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": "Binary.png",
                    },
                },
                md5OfMessageAttributes="0123456789abcdef0123456789abcdef",
            ),
            id="number-binary-custom-attributes",
        ),
        pytest.param(
            FIFO,
            FIFO_ARN,
            expected_record(
                attributes={
                    **SYSTEM_ATTRIBUTES,
                    "SequenceNumber": "18849496460467696128",
                    "MessageGroupId": "1",
                    "MessageDeduplicationId": "1",
                },
                eventSourceARN=FIFO_ARN,
            ),
            id="fifo-attributes",
        ),
        pytest.param(
            TRACED,
            ARN,
            expected_record(
                attributes={
                    **SYSTEM_ATTRIBUTES,
                    "AWSTraceHeader": "Root=1-5e1b4151-5ac6c58239c1e5b4",
                }
            ),
            id="trace-header",
        ),
        pytest.param(
            received(Body='{"json": "is not parsed"}'),
            ARN,
            expected_record(body='{"json": "is not parsed"}'),
            id="json-body-stays-a-string",
        ),
    ],
)
def test_build_record(message: dict[str, Any], arn: str, expected: dict[str, Any]) -> None:
    record = build_record(message, arn, REGION)
    assert record == expected
    assert list(record) == RECORD_KEYS
    for name, value in record["messageAttributes"].items():
        assert list(value) == list(expected["messageAttributes"][name]), name
    assert list(record["attributes"]) == list(expected["attributes"])


def test_md5_of_message_attributes_is_present_as_null() -> None:
    record = build_record(PLAIN, ARN, REGION)
    assert "md5OfMessageAttributes" in record
    assert record["md5OfMessageAttributes"] is None
    assert json.dumps(record["md5OfMessageAttributes"]) == "null"


def test_attribute_values_are_strings() -> None:
    record = build_record(FIFO, FIFO_ARN, REGION)
    assert all(isinstance(value, str) for value in record["attributes"].values())


def test_list_values_are_carried_and_binary_lists_base64() -> None:
    message = received(
        MessageAttributes={
            "l": {
                "StringListValues": ["a", "b"],
                "BinaryListValues": [b"\x00", b"\xff\xff"],
                "DataType": "String",
            }
        }
    )
    assert build_record(message, ARN, REGION)["messageAttributes"] == {
        "l": {
            "stringListValues": ["a", "b"],
            "binaryListValues": ["AA==", "//8="],
            "dataType": "String",
        }
    }


@pytest.mark.parametrize(
    ("message", "arn"),
    [
        pytest.param(PLAIN, ARN, id="plain"),
        pytest.param(WITH_STRING_ATTRIBUTE, ARN, id="string-attribute"),
        pytest.param(WITH_ALL_ATTRIBUTE_TYPES, ARN, id="all-attribute-types"),
        pytest.param(FIFO, FIFO_ARN, id="fifo"),
        pytest.param(TRACED, ARN, id="trace-header"),
    ],
)
def test_event_validates_with_powertools_sqs_model(message: dict[str, Any], arn: str) -> None:
    event = {"Records": [build_record(message, arn, REGION)]}
    parsed = SqsModel.model_validate(json.loads(json.dumps(event)))
    record = parsed.Records[0]
    assert record.messageId == message["MessageId"]
    assert record.body == message["Body"]
    assert record.eventSource == "aws:sqs"
    assert record.eventSourceARN == arn
    assert record.awsRegion == REGION
    assert record.md5OfMessageAttributes == message.get("MD5OfMessageAttributes")
    assert record.attributes.SentTimestamp.timestamp() == 1545082649.183
    assert record.attributes.MessageGroupId == message["Attributes"].get("MessageGroupId")
    for name, value in message.get("MessageAttributes", {}).items():
        assert record.messageAttributes[name].dataType == value["DataType"]


def test_event_with_many_records_validates() -> None:
    records = [
        build_record(received(MessageId=f"id-{i}", ReceiptHandle=f"h-{i}"), ARN, REGION)
        for i in range(10)
    ]
    parsed = SqsModel.model_validate(json.loads(json.dumps({"Records": records})))
    assert [r.messageId for r in parsed.Records] == [f"id-{i}" for i in range(10)]


@pytest.mark.parametrize(
    ("message", "arn", "group_id"),
    [
        pytest.param(PLAIN, ARN, None, id="standard"),
        pytest.param(FIFO, FIFO_ARN, "1", id="fifo"),
        pytest.param(received(Body="héllo ✓"), ARN, None, id="non-ascii-body"),
    ],
)
def test_to_message(message: dict[str, Any], arn: str, group_id: str | None) -> None:
    wrapped = to_message(message, arn, REGION)
    record = build_record(message, arn, REGION)
    assert wrapped.record == record
    assert wrapped.message_id == message["MessageId"]
    assert wrapped.receipt_handle == message["ReceiptHandle"]
    assert wrapped.group_id == group_id
    compact = json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert wrapped.size == len(compact)
