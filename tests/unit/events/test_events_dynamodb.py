"""events.dynamodb: the Lambda DynamoDB Streams record (§5.3) from an aiobotocore stream record."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import DynamoDBStreamModel

from poller.events.dynamodb import build_record, item_key, to_stream_record

STREAM_ARN = "arn:aws:dynamodb:us-east-1:111111111111:table/T/stream/2025-11-25T15:47:40.123"
REGION = "us-east-1"
SEQ = "1405400000000002063282832"
CREATED = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)  # 1700000000.0
RECORD_KEYS = [
    "eventID",
    "eventName",
    "eventVersion",
    "eventSource",
    "awsRegion",
    "dynamodb",
    "eventSourceARN",
]
KEYS = {"my_partition_key": {"S": "hello world"}}
NEW = {"binary_key": {"B": b"foobar"}, "my_partition_key": {"S": "hello world"}}
OLD = {"binary_key": {"B": b"\x00\xff"}, "my_partition_key": {"S": "hello world"}}
NEW_WIRE = {"binary_key": {"B": "Zm9vYmFy"}, "my_partition_key": {"S": "hello world"}}
OLD_WIRE = {"binary_key": {"B": "AP8="}, "my_partition_key": {"S": "hello world"}}
TTL_IDENTITY = {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}


def received(
    view: str = "NEW_IMAGE",
    name: str = "INSERT",
    *,
    new: dict[str, Any] | None = None,
    old: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A record as aiobotocore's GetRecords returns it (binaries decoded, timestamp a datetime)."""
    change: dict[str, Any] = {"ApproximateCreationDateTime": CREATED, "Keys": KEYS}
    if new is not None:
        change["NewImage"] = new
    if old is not None:
        change["OldImage"] = old
    change.update(SequenceNumber=SEQ, SizeBytes=70, StreamViewType=view)
    record: dict[str, Any] = {
        "eventID": "c81e728d9d4c2f636f067f89cc14862c",
        "eventName": name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": change,
    }
    record.update(extra)
    return record


def with_change(api_record: dict[str, Any], **change: Any) -> dict[str, Any]:
    return {**api_record, "dynamodb": {**api_record["dynamodb"], **change}}


REFERENCE_RECORD = {
    "eventID": "c81e728d9d4c2f636f067f89cc14862c",
    "eventName": "INSERT",
    "eventVersion": "1.1",
    "eventSource": "aws:dynamodb",
    "awsRegion": REGION,
    "dynamodb": {
        "ApproximateCreationDateTime": 1700000000.0,
        "Keys": {"my_partition_key": {"S": "hello world"}},
        "NewImage": NEW_WIRE,
        "SequenceNumber": SEQ,
        "SizeBytes": 70,
        "StreamViewType": "NEW_IMAGE",
    },
    "eventSourceARN": STREAM_ARN,
}


def test_build_record_matches_reference() -> None:
    record = build_record(received(new=NEW), STREAM_ARN, REGION)
    assert record == REFERENCE_RECORD
    assert list(record) == RECORD_KEYS
    assert list(record["dynamodb"]["NewImage"]) == ["binary_key", "my_partition_key"]
    assert type(record["dynamodb"]["ApproximateCreationDateTime"]) is float
    assert type(record["dynamodb"]["SizeBytes"]) is int
    assert type(record["dynamodb"]["SequenceNumber"]) is str


IMAGE_CASES = [
    pytest.param("KEYS_ONLY", "INSERT", None, None, id="keys-only-insert"),
    pytest.param("KEYS_ONLY", "MODIFY", None, None, id="keys-only-modify"),
    pytest.param("KEYS_ONLY", "REMOVE", None, None, id="keys-only-remove"),
    pytest.param("NEW_IMAGE", "INSERT", NEW, None, id="new-image-insert"),
    pytest.param("NEW_IMAGE", "MODIFY", NEW, None, id="new-image-modify"),
    pytest.param("NEW_IMAGE", "REMOVE", None, None, id="new-image-remove"),
    pytest.param("OLD_IMAGE", "INSERT", None, None, id="old-image-insert"),
    pytest.param("OLD_IMAGE", "MODIFY", None, OLD, id="old-image-modify"),
    pytest.param("OLD_IMAGE", "REMOVE", None, OLD, id="old-image-remove"),
    pytest.param("NEW_AND_OLD_IMAGES", "INSERT", NEW, None, id="both-insert"),
    pytest.param("NEW_AND_OLD_IMAGES", "MODIFY", NEW, OLD, id="both-modify"),
    pytest.param("NEW_AND_OLD_IMAGES", "REMOVE", None, OLD, id="both-remove"),
]


@pytest.mark.parametrize(("view", "name", "new", "old"), IMAGE_CASES)
def test_images_present_only_when_the_api_record_has_them(
    view: str, name: str, new: dict[str, Any] | None, old: dict[str, Any] | None
) -> None:
    change = build_record(received(view, name, new=new, old=old), STREAM_ARN, REGION)["dynamodb"]
    expected_keys = ["ApproximateCreationDateTime", "Keys"]
    expected_keys += ["NewImage"] if new is not None else []
    expected_keys += ["OldImage"] if old is not None else []
    expected_keys += ["SequenceNumber", "SizeBytes", "StreamViewType"]
    assert list(change) == expected_keys
    assert change["StreamViewType"] == view
    assert change["Keys"] == KEYS
    assert change.get("NewImage") == (NEW_WIRE if new is not None else None)
    assert change.get("OldImage") == (OLD_WIRE if old is not None else None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param({"S": "text ✓"}, {"S": "text ✓"}, id="S"),
        pytest.param({"N": "123.4500"}, {"N": "123.4500"}, id="N-stays-string"),
        pytest.param({"B": b"foobar"}, {"B": "Zm9vYmFy"}, id="B"),
        pytest.param({"B": b"\x00\xff\xfe\x80"}, {"B": "AP/+gA=="}, id="B-non-utf8"),
        pytest.param({"B": b""}, {"B": ""}, id="B-empty"),
        pytest.param({"B": "Zm9vYmFy"}, {"B": "Zm9vYmFy"}, id="B-already-text"),
        pytest.param({"BOOL": False}, {"BOOL": False}, id="BOOL"),
        pytest.param({"NULL": True}, {"NULL": True}, id="NULL"),
        pytest.param({"SS": ["a", "b"]}, {"SS": ["a", "b"]}, id="SS"),
        pytest.param({"NS": ["1", "2.50"]}, {"NS": ["1", "2.50"]}, id="NS-stay-strings"),
        pytest.param({"BS": [b"\x00", b"\xff\xff"]}, {"BS": ["AA==", "//8="]}, id="BS"),
        pytest.param(
            {"M": {"b": {"B": b"\x01"}, "n": {"N": "1"}}},
            {"M": {"b": {"B": "AQ=="}, "n": {"N": "1"}}},
            id="M-with-B",
        ),
        pytest.param(
            {"L": [{"B": b"\x01"}, {"BS": [b"\x02"]}, {"S": "x"}]},
            {"L": [{"B": "AQ=="}, {"BS": ["Ag=="]}, {"S": "x"}]},
            id="L-with-B-and-BS",
        ),
        pytest.param(
            {"M": {"l": {"L": [{"M": {"deep": {"L": [{"B": b"\xff"}]}}}]}}},
            {"M": {"l": {"L": [{"M": {"deep": {"L": [{"B": "/w=="}]}}}]}}},
            id="M-L-M-L-B-nesting",
        ),
        pytest.param({"M": {}}, {"M": {}}, id="empty-M"),
        pytest.param({"L": []}, {"L": []}, id="empty-L"),
    ],
)
def test_attribute_values_are_wire_form(value: dict[str, Any], expected: dict[str, Any]) -> None:
    api_record = received("NEW_AND_OLD_IMAGES", "MODIFY", new={"a": value}, old={"a": value})
    change = build_record(api_record, STREAM_ARN, REGION)["dynamodb"]
    assert change["NewImage"] == {"a": expected}
    assert change["OldImage"] == {"a": expected}
    json.dumps(change)  # everything is JSON-serialisable


def test_binary_keys_are_base64() -> None:
    api_record = with_change(received(), Keys={"pk": {"B": b"\x00\xff"}, "sk": {"N": "7"}})
    keys = build_record(api_record, STREAM_ARN, REGION)["dynamodb"]["Keys"]
    assert keys == {"pk": {"B": "AP8="}, "sk": {"N": "7"}}


@pytest.mark.parametrize("api_version", ["1.0", "1.1", "9.9"])
def test_event_version_is_always_1_1(api_version: str) -> None:
    record = build_record(received(eventVersion=api_version), STREAM_ARN, REGION)
    assert record["eventVersion"] == "1.1"


@pytest.mark.parametrize(
    ("api_record", "region", "expected"),
    [
        pytest.param(received(awsRegion="eu-west-1"), REGION, "eu-west-1", id="from-api-record"),
        pytest.param(
            {k: v for k, v in received().items() if k != "awsRegion"},
            "ap-south-1",
            "ap-south-1",
            id="fallback-to-mapping-region",
        ),
    ],
)
def test_aws_region(api_record: dict[str, Any], region: str, expected: str) -> None:
    assert build_record(api_record, STREAM_ARN, region)["awsRegion"] == expected


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        pytest.param(CREATED, 1700000000.0, id="aware-utc"),
        pytest.param(
            CREATED.astimezone(timezone(timedelta(hours=5, minutes=30))),
            1700000000.0,
            id="aware-plus-5h30",
        ),
        pytest.param(CREATED.replace(tzinfo=None), 1700000000.0, id="naive-is-utc"),
        pytest.param(CREATED.replace(microsecond=123000), 1700000000.123, id="millisecond"),
        pytest.param(1700000000, 1700000000.0, id="int-epoch-seconds"),
        pytest.param(1700000000.5, 1700000000.5, id="float-epoch-seconds"),
    ],
)
def test_creation_time_is_float_epoch_seconds(timestamp: Any, expected: float) -> None:
    api_record = with_change(received(), ApproximateCreationDateTime=timestamp)
    value = build_record(api_record, STREAM_ARN, REGION)["dynamodb"]["ApproximateCreationDateTime"]
    assert type(value) is float
    assert value == expected


def test_sequence_number_and_size_types_are_normalised() -> None:
    api_record = with_change(received(), SequenceNumber=1234, SizeBytes="70")
    change = build_record(api_record, STREAM_ARN, REGION)["dynamodb"]
    assert change["SequenceNumber"] == "1234"
    assert change["SizeBytes"] == 70


@pytest.mark.parametrize(
    ("identity", "expected"),
    [
        pytest.param(
            TTL_IDENTITY,
            {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
            id="botocore-casing",
        ),
        pytest.param(
            {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
            {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
            id="already-lower-case",
        ),
    ],
)
def test_ttl_delete_carries_user_identity(
    identity: dict[str, str], expected: dict[str, str]
) -> None:
    api_record = received("OLD_IMAGE", "REMOVE", old=OLD, userIdentity=identity)
    record = build_record(api_record, STREAM_ARN, REGION)
    assert record["userIdentity"] == expected
    assert list(record["userIdentity"]) == ["type", "principalId"]
    assert list(record) == [*RECORD_KEYS, "userIdentity"]


def test_user_identity_absent_when_api_record_has_none() -> None:
    assert "userIdentity" not in build_record(received("OLD_IMAGE", "REMOVE"), STREAM_ARN, REGION)


def test_item_key_is_canonical_compact_json() -> None:
    keys = {"sk": {"N": "2"}, "pk": {"S": "user#1"}}
    assert item_key(keys) == '{"pk":{"S":"user#1"},"sk":{"N":"2"}}'


@pytest.mark.parametrize(
    ("left", "right"),
    [
        pytest.param(
            {"pk": {"S": "a"}, "sk": {"N": "1"}},
            {"sk": {"N": "1"}, "pk": {"S": "a"}},
            id="dict-order",
        ),
        pytest.param({"pk": {"B": b"\x00\xff"}}, {"pk": {"B": "AP8="}}, id="bytes-vs-base64"),
        pytest.param({"pk": {"S": "clé"}}, {"pk": {"S": "clé"}}, id="non-ascii"),
    ],
)
def test_item_key_equal_for_the_same_item(left: dict[str, Any], right: dict[str, Any]) -> None:
    assert item_key(left) == item_key(right)
    assert item_key(left) == item_key(left)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        pytest.param(
            {"pk": {"S": "a"}, "sk": {"N": "1"}},
            {"pk": {"S": "a"}, "sk": {"N": "2"}},
            id="different-sort-key",
        ),
        pytest.param({"pk": {"S": "a"}}, {"pk": {"S": "b"}}, id="different-partition-key"),
        pytest.param({"pk": {"S": "1"}}, {"pk": {"N": "1"}}, id="S-vs-N"),
        pytest.param({"pk": {"S": "a"}}, {"pk": {"S": "a"}, "sk": {"S": ""}}, id="extra-key"),
        pytest.param(
            {"pk": {"S": "a,b"}, "sk": {"S": "c"}},
            {"pk": {"S": "a"}, "sk": {"S": "b,c"}},
            id="separator-in-value",
        ),
        pytest.param({"pk": {"B": b"\x00"}}, {"pk": {"B": b"\x01"}}, id="different-bytes"),
    ],
)
def test_item_key_distinct_for_different_items(left: dict[str, Any], right: dict[str, Any]) -> None:
    assert item_key(left) != item_key(right)


ALL_TYPES = received(
    "NEW_IMAGE",
    new={
        **NEW,
        "all": {
            "M": {
                "n": {"N": "1.5"},
                "ns": {"NS": ["1", "2"]},
                "bs": {"BS": [b"\x00"]},
                "l": {"L": [{"BOOL": True}, {"NULL": True}, {"SS": ["x"]}]},
            }
        },
    },
)

FIDELITY_CASES = [
    pytest.param(received(new=NEW), id="reference"),
    *[
        pytest.param(received(view, name, new=new, old=old), id=f"{view}-{name}")
        for view, name, new, old in [
            ("KEYS_ONLY", "INSERT", None, None),
            ("NEW_IMAGE", "MODIFY", NEW, None),
            ("OLD_IMAGE", "REMOVE", None, OLD),
            ("NEW_AND_OLD_IMAGES", "MODIFY", NEW, OLD),
        ]
    ],
    pytest.param(
        received("NEW_AND_OLD_IMAGES", "REMOVE", old=OLD, userIdentity=TTL_IDENTITY),
        id="ttl-delete",
    ),
    pytest.param(ALL_TYPES, id="all-types"),
]


@pytest.mark.parametrize("api_record", FIDELITY_CASES)
def test_event_validates_with_powertools_dynamodb_model(api_record: dict[str, Any]) -> None:
    event = {"Records": [build_record(api_record, STREAM_ARN, REGION)]}
    parsed = DynamoDBStreamModel.model_validate(json.loads(json.dumps(event)))
    record = parsed.Records[0]
    change = api_record["dynamodb"]
    assert record.eventID == api_record["eventID"]
    assert record.eventName == api_record["eventName"]
    assert record.eventVersion == 1.1
    assert record.eventSourceARN == STREAM_ARN
    assert record.awsRegion == REGION
    assert record.dynamodb.ApproximateCreationDateTime == CREATED
    assert record.dynamodb.Keys == {"my_partition_key": "hello world"}
    assert record.dynamodb.SequenceNumber == SEQ
    assert record.dynamodb.SizeBytes == 70
    assert record.dynamodb.StreamViewType == change["StreamViewType"]
    assert (record.dynamodb.NewImage is None) == ("NewImage" not in change)
    assert (record.dynamodb.OldImage is None) == ("OldImage" not in change)
    assert (record.userIdentity is None) == ("userIdentity" not in api_record)


def test_powertools_deserialises_nested_values() -> None:
    event = {"Records": [build_record(ALL_TYPES, STREAM_ARN, REGION)]}
    parsed = DynamoDBStreamModel.model_validate(json.loads(json.dumps(event)))
    image = parsed.Records[0].dynamodb.NewImage
    assert isinstance(image, dict)
    assert image["binary_key"] == "Zm9vYmFy"  # Powertools keeps B as the base64 text
    assert image["all"] == {
        "n": Decimal("1.5"),
        "ns": {Decimal("1"), Decimal("2")},
        "bs": {"AA=="},
        "l": [True, None, {"x"}],
    }


@pytest.mark.parametrize(
    "api_record",
    [
        pytest.param(received(new=NEW), id="reference"),
        pytest.param(received("KEYS_ONLY", "REMOVE", userIdentity=TTL_IDENTITY), id="ttl"),
        pytest.param(
            with_change(
                received(new={"s": {"S": "héllo ✓"}}),
                Keys={"pk": {"S": "clé"}, "sk": {"B": b"\xff"}},
            ),
            id="non-ascii-and-binary-key",
        ),
    ],
)
def test_to_stream_record(api_record: dict[str, Any]) -> None:
    wrapped = to_stream_record(api_record, STREAM_ARN, REGION)
    record = build_record(api_record, STREAM_ARN, REGION)
    assert wrapped.record == record
    assert wrapped.sequence_number == SEQ
    assert wrapped.sequence == int(SEQ)
    assert wrapped.key == item_key(api_record["dynamodb"]["Keys"])
    assert wrapped.arrival == 1700000000.0
    compact = json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert wrapped.size == len(compact)
