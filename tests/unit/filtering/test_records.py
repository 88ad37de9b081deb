"""records.py: each source's keep test and record_filter (§3.6, §4.8, §8.13-15)."""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from filter_cases import DOCUMENT, HUGE, TINY, VALID_PATTERN, pattern_of
from hypothesis import given, settings
from hypothesis import strategies as st

from poller.events import dynamodb, kinesis, sqs
from poller.filtering.criteria import Criteria, compile_criteria
from poller.filtering.parsing import parse_json
from poller.filtering.pattern import INVALID, MAX_LENGTH, compile_pattern, stream_pattern_issue
from poller.filtering.records import KEEP, dynamodb_keep, kinesis_keep, record_filter, sqs_keep

# ---------------------------------------------------------------------------------------------
# SQS: the body-format table of §3.6 (filtered-out messages are deleted, §8.13)

QUEUE_ARN = "arn:aws:sqs:us-east-2:123456789012:my-queue"
REGION = "us-east-2"


def sqs_record(body: str) -> dict[str, Any]:
    message = {
        "MessageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
        "ReceiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
        "MD5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "Body": body,
        "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1545082649183"},
        "MessageAttributes": {"kind": {"StringValue": "order", "DataType": "String"}},
    }
    return sqs.build_record(message, QUEUE_ARN, REGION)


PLAIN = "plain text, not JSON"
JSON_BODY = '{"my-key": "my-value", "n": 3.0e2, "items": [{"sku": "a-1"}]}'


@pytest.mark.parametrize(
    ("body", "pattern", "kept"),
    [
        # plain string body, plain string pattern: filter on criteria
        pytest.param(PLAIN, {"body": [PLAIN]}, True, id="plain-plain-match"),
        pytest.param(PLAIN, {"body": [{"prefix": "plain "}]}, True, id="plain-plain-prefix"),
        pytest.param(PLAIN, {"body": ["other"]}, False, id="plain-plain-mismatch"),
        pytest.param("", {"body": [""]}, True, id="plain-empty-body"),
        # plain string body, no pattern for body: metadata only
        pytest.param(PLAIN, {"eventSource": ["aws:sqs"]}, True, id="plain-none-metadata"),
        pytest.param(PLAIN, {"awsRegion": ["eu-west-1"]}, False, id="plain-none-mismatch"),
        # plain string body, JSON pattern: dropped
        pytest.param(PLAIN, {"body": {"my-key": ["my-value"]}}, False, id="plain-json-dropped"),
        pytest.param(PLAIN, {"body": {"k": [{"exists": False}]}}, False, id="plain-json-absent"),
        # JSON body, plain string pattern: dropped, even when the text is equal
        pytest.param(JSON_BODY, {"body": [JSON_BODY]}, False, id="json-plain-dropped"),
        pytest.param("123", {"body": ["123"]}, False, id="json-number-plain-dropped"),
        pytest.param('"quoted"', {"body": [{"prefix": '"'}]}, False, id="json-string-plain"),
        # JSON body, no pattern for body: metadata only
        pytest.param(JSON_BODY, {"eventSource": ["aws:sqs"]}, True, id="json-none-metadata"),
        pytest.param(
            JSON_BODY, {"eventSourceARN": [{"suffix": ":other"}]}, False, id="json-none-no"
        ),
        # JSON body, JSON pattern: filter on criteria (LS-AWS valid-json-filter)
        pytest.param(JSON_BODY, {"body": {"my-key": ["my-value"]}}, True, id="json-json-match"),
        pytest.param(JSON_BODY, {"body": {"my-key": ["other"]}}, False, id="json-json-mismatch"),
        pytest.param(
            JSON_BODY, {"body": {"items": {"sku": [{"prefix": "a-"}]}}}, True, id="json-array"
        ),
        pytest.param(
            JSON_BODY, {"body": {"n": [{"numeric": ["=", 300]}]}}, True, id="json-numeric"
        ),
        pytest.param(JSON_BODY, {"body": {"n": [300]}}, False, id="json-number-as-written"),
        pytest.param('  {"a": 1}', {"body": {"a": [1]}}, True, id="json-leading-space"),
        pytest.param("[1, 2]", {"body": {"a": [{"exists": False}]}}, False, id="json-array-body"),
        pytest.param('{"a": NaN}', {"body": ['{"a": NaN}']}, True, id="nan-body-is-plain"),
        # a number Decimal cannot hold: the body does not parse, so it is a plain string
        pytest.param(HUGE, {"body": [HUGE]}, True, id="huge-number-body-is-plain"),
        pytest.param(HUGE, {"body": [{"prefix": '{"order"'}]}, True, id="huge-number-prefix"),
        pytest.param(
            HUGE, {"body": {"order": {"total": [{"exists": True}]}}}, False, id="huge-json"
        ),
        pytest.param(
            TINY, {"body": {"order": {"total": [{"exists": True}]}}}, False, id="tiny-json"
        ),
        pytest.param(HUGE, {"eventSource": ["aws:sqs"]}, True, id="huge-number-metadata"),
        # metadata and body together
        pytest.param(
            JSON_BODY,
            {
                "body": {"my-key": ["my-value"]},
                "messageAttributes": {"kind": {"stringValue": ["order"]}},
            },
            True,
            id="json-and-metadata",
        ),
        pytest.param(
            JSON_BODY,
            {"body": {"my-key": ["my-value"]}, "attributes": {"ApproximateReceiveCount": ["2"]}},
            False,
            id="json-and-metadata-mismatch",
        ),
    ],
)
def test_sqs_body_table(body: str, pattern: dict[str, Any], kept: bool) -> None:
    record = sqs_record(body)
    before = copy.deepcopy(record)
    assert sqs_keep(Criteria([pattern_of(pattern)]), record) is kept
    assert record == before  # the record delivered keeps its body as the original string


def test_sqs_filters_ored_across_body_kinds() -> None:
    criteria = Criteria([pattern_of({"body": ["x"]}), pattern_of({"body": {"a": ["b"]}})])
    assert sqs_keep(criteria, sqs_record("x"))
    assert sqs_keep(criteria, sqs_record('{"a": "b"}'))
    assert not sqs_keep(criteria, sqs_record('{"a": "c"}'))


def test_sqs_body_used_both_ways_in_or() -> None:
    criteria = Criteria([pattern_of({"$or": [{"body": ["x"]}, {"body": {"a": ["b"]}}]})])
    assert sqs_keep(criteria, sqs_record("x"))
    assert sqs_keep(criteria, sqs_record('{"a": "b"}'))
    assert not sqs_keep(criteria, sqs_record("5"))


# ---------------------------------------------------------------------------------------------
# Kinesis and DynamoDB: the streams table of §4.8

STREAM_ARN = "arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream"
ROLE_ARN = "arn:aws:iam::123456789012:role/lambda-role"
SEQ = "49590338271490256608559692538361571095921575989136588898"


def kinesis_record(data: bytes, partition_key: str = "1") -> dict[str, Any]:
    api_record = {
        "SequenceNumber": SEQ,
        "ApproximateArrivalTimestamp": datetime(2018, 12, 17, 22, 10, 50, 987000, tzinfo=UTC),
        "Data": data,
        "PartitionKey": partition_key,
    }
    return kinesis.build_record(api_record, "shardId-000000000006", STREAM_ARN, REGION, ROLE_ARN)


ORDER = b'{"record": 12345, "order": {"type": "buy", "stock": "ANYCO", "quantity": 1000}}'
NOT_JSON_DATA = b"Hello, this is a test."
BUY = {"data": {"order": {"type": ["buy"]}}}
TOTAL = {"data": {"order": {"total": [{"exists": True}]}}}


@pytest.mark.parametrize(
    ("data", "pattern", "kept"),
    [
        # valid JSON data, JSON pattern: filter on criteria
        pytest.param(ORDER, BUY, True, id="json-json-match"),
        pytest.param(
            ORDER, {"data": {"order": {"type": ["sell"]}}}, False, id="json-json-mismatch"
        ),
        pytest.param(
            ORDER,
            {"data": {"order": {"quantity": [{"numeric": [">=", 1000]}]}, "record": [12345]}},
            True,
            id="json-json-numeric",
        ),
        # valid JSON data, no pattern for data: metadata only
        pytest.param(ORDER, {"kinesis": {"partitionKey": ["1"]}}, True, id="json-none-metadata"),
        pytest.param(ORDER, {"kinesis": {"partitionKey": ["2"]}}, False, id="json-none-mismatch"),
        pytest.param(ORDER, {"eventName": ["aws:kinesis:record"]}, True, id="json-none-event"),
        # non-JSON data, JSON pattern: dropped
        pytest.param(NOT_JSON_DATA, BUY, False, id="plain-json-dropped"),
        pytest.param(NOT_JSON_DATA, {"data": {"a": [{"exists": False}]}}, False, id="plain-absent"),
        pytest.param(b"\xff\xfe", {"data": {"a": [{"exists": False}]}}, False, id="not-utf8"),
        pytest.param(b"[1, 2]", {"data": {"a": [{"exists": False}]}}, False, id="json-not-object"),
        # a number Decimal cannot hold: the data does not parse, so it is not JSON
        pytest.param(HUGE.encode(), TOTAL, False, id="huge-number-dropped"),
        pytest.param(TINY.encode(), TOTAL, False, id="tiny-number-dropped"),
        pytest.param(HUGE.encode(), {"kinesis": {"partitionKey": ["1"]}}, True, id="huge-meta"),
        # non-JSON data, no pattern for data: metadata only
        pytest.param(
            NOT_JSON_DATA, {"kinesis": {"partitionKey": ["1"]}}, True, id="plain-none-meta"
        ),
        pytest.param(
            NOT_JSON_DATA,
            {"kinesis": {"approximateArrivalTimestamp": [{"numeric": [">", 1545084650]}]}},
            True,
            id="plain-none-numeric-metadata",
        ),
    ],
)
def test_kinesis_data_table(data: bytes, pattern: dict[str, Any], kept: bool) -> None:
    record = kinesis_record(data)
    before = copy.deepcopy(record)
    compiled = pattern_of(pattern)
    assert stream_pattern_issue(compiled) is None
    assert kinesis_keep(Criteria([compiled]), record) is kept
    assert record == before  # `data` stays base64 in the delivered record


@pytest.mark.parametrize(
    "pattern",
    [
        # valid JSON data or not, a non-JSON pattern for data: an error at create/update
        pytest.param({"data": ["Hello, this is a test."]}, id="plain-string"),
        pytest.param({"data": [{"prefix": "Hello"}]}, id="plain-prefix"),
        pytest.param({"$or": [{"data": ["x"]}, {"data": {"a": ["b"]}}]}, id="mixed-in-or"),
    ],
)
def test_kinesis_non_json_data_pattern_refused_at_load(pattern: dict[str, Any]) -> None:
    compiled = pattern_of(pattern)
    issue = stream_pattern_issue(compiled)
    assert issue is not None
    assert issue.startswith(INVALID)
    for data in (ORDER, NOT_JSON_DATA):  # and, should one slip through, it never matches
        assert not kinesis_keep(Criteria([compiled]), kinesis_record(data))


def test_kinesis_data_decoded_once_for_all_filters(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def counting(text: Any) -> Any:
        calls.append(text)
        return parse_json(text)

    monkeypatch.setattr("poller.filtering.records.parse_json", counting)
    criteria = Criteria(
        [
            pattern_of({"data": {"record": [1]}}),
            pattern_of({"data": {"order": {"stock": [{"anything-but": "ANYCO"}]}}}),
            pattern_of({"kinesis": {"partitionKey": ["9"]}}),
            pattern_of(BUY),
        ]
    )
    assert kinesis_keep(criteria, kinesis_record(ORDER))
    assert len(calls) == 1


def test_kinesis_malformed_base64_is_not_json() -> None:
    record = kinesis_record(ORDER)
    record["kinesis"]["data"] = "%%%not base64é"
    assert not kinesis_keep(Criteria([pattern_of(BUY)]), record)
    assert kinesis_keep(Criteria([pattern_of({"eventSource": ["aws:kinesis"]})]), record)


DDB_ARN = "arn:aws:dynamodb:us-east-1:111111111111:table/T/stream/2025-11-25T15:47:40.123"


def ddb_record(name: str = "INSERT", new: dict[str, Any] | None = None) -> dict[str, Any]:
    change: dict[str, Any] = {
        "ApproximateCreationDateTime": datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
        "Keys": {"id": {"S": "item-1"}},
        "SequenceNumber": "1405400000000002063282832",
        "SizeBytes": 70,
        "StreamViewType": "NEW_IMAGE",
    }
    if new is not None:
        change["NewImage"] = new
    api_record = {
        "eventID": "c81e728d",
        "eventName": name,
        "awsRegion": "us-east-1",
        "dynamodb": change,
    }
    return dynamodb.build_record(api_record, DDB_ARN, "us-east-1")


IMAGE = {
    "id": {"S": "item-1"},
    "Organizations": {"L": [{"S": "Acme"}, {"S": "Globex"}]},
    "presentKey": {"S": "here"},
    "count": {"N": "5"},
}


@pytest.mark.parametrize(
    ("record", "pattern", "kept"),
    [
        # `dynamodb` is valid JSON: a JSON pattern filters on criteria
        pytest.param(
            ddb_record(new=IMAGE),
            {"dynamodb": {"NewImage": {"id": {"S": ["item-1"]}}}},
            True,
            id="json-json-match",
        ),
        pytest.param(
            ddb_record(new=IMAGE),
            {"dynamodb": {"Keys": {"id": {"S": [{"prefix": "other"}]}}}},
            False,
            id="json-json-mismatch",
        ),
        # exists must target the leaf type key (DDB-FILT), not the attribute (LS-AWS)
        pytest.param(
            ddb_record(new=IMAGE),
            {"dynamodb": {"NewImage": {"Organizations": {"L": {"S": [{"exists": True}]}}}}},
            True,
            id="exists-on-type-key",
        ),
        pytest.param(
            ddb_record(new=IMAGE),
            {"dynamodb": {"NewImage": {"presentKey": [{"exists": True}]}}},
            False,
            id="exists-on-attribute-does-not-match",
        ),
        pytest.param(
            ddb_record(new=IMAGE),
            {"dynamodb": {"NewImage": {"presentKey": {"S": [{"exists": True}]}}}},
            True,
            id="exists-on-attribute-type",
        ),
        pytest.param(
            ddb_record(new=IMAGE),
            {"dynamodb": {"NewImage": {"Organizations": {"L": {"S": ["Globex"]}}}}},
            True,
            id="list-attribute-any-element",
        ),
        # numbers in items are strings in the record: numeric does not work on them (DDB-FILT)
        pytest.param(
            ddb_record(new=IMAGE),
            {"dynamodb": {"NewImage": {"count": {"N": [{"numeric": [">", 1]}]}}}},
            False,
            id="numeric-on-attribute-value",
        ),
        pytest.param(
            ddb_record(new=IMAGE),
            {"dynamodb": {"NewImage": {"count": {"N": ["5"]}}}},
            True,
            id="attribute-number-as-string",
        ),
        # ApproximateCreationDateTime is a number (LS-AWS date_time_conversion)
        pytest.param(
            ddb_record(),
            {"dynamodb": {"ApproximateCreationDateTime": [{"numeric": [">", 0]}]}},
            True,
            id="numeric-creation-time",
        ),
        pytest.param(
            ddb_record(),
            {"dynamodb": {"ApproximateCreationDateTime": [{"numeric": ["<", 1700000000]}]}},
            False,
            id="numeric-creation-time-below",
        ),
        # no pattern for `dynamodb`: metadata only; eventName works on AWS (LS-AWS, §8.15)
        pytest.param(ddb_record("INSERT"), {"eventName": ["INSERT"]}, True, id="event-name"),
        pytest.param(ddb_record("MODIFY"), {"eventName": ["INSERT"]}, False, id="event-name-other"),
        pytest.param(
            ddb_record("REMOVE"),
            {"eventName": ["REMOVE"], "dynamodb": {"NewImage": [{"exists": False}]}},
            True,
            id="event-name-and-no-image",
        ),
    ],
)
def test_dynamodb_table(record: dict[str, Any], pattern: dict[str, Any], kept: bool) -> None:
    before = copy.deepcopy(record)
    compiled = pattern_of(pattern)
    assert stream_pattern_issue(compiled) is None
    assert dynamodb_keep(Criteria([compiled]), record) is kept
    assert record == before


@pytest.mark.parametrize(
    "pattern",
    [
        pytest.param({"dynamodb": ["INSERT"]}, id="plain-string"),
        pytest.param({"eventName": ["INSERT"], "dynamodb": [{"exists": True}]}, id="exists-leaf"),
    ],
)
def test_dynamodb_non_json_data_pattern_refused_at_load(pattern: dict[str, Any]) -> None:
    # the §4.8 row "valid JSON data / non-JSON filter": an exception at create or update
    compiled = pattern_of(pattern)
    for issue in (stream_pattern_issue(compiled), stream_pattern_issue(compiled, ["dynamodb"])):
        assert issue is not None
        assert issue.startswith(INVALID)
    assert stream_pattern_issue(compiled, ["data"]) is None


# ---------------------------------------------------------------------------------------------
# Properties: the source helpers never raise, whatever the pattern and body


@settings(max_examples=200)
@given(
    pattern=VALID_PATTERN,
    body=st.text(max_size=20) | DOCUMENT.map(lambda d: json.dumps(d, default=str)),
)
def test_source_helpers_never_raise(pattern: dict[str, Any], body: str) -> None:
    text = json.dumps(pattern)
    if len(text) > MAX_LENGTH:
        return
    criteria = Criteria([compile_pattern(text)])
    record = sqs_record(body)
    assert isinstance(sqs_keep(criteria, record), bool)
    assert isinstance(
        kinesis_keep(criteria, kinesis_record(body.encode("utf-8", "surrogatepass"))), bool
    )
    assert record["body"] == body


def test_base64_helper_roundtrip() -> None:
    # the records above carry `data` exactly as Lambda delivers it
    assert kinesis_record(ORDER)["kinesis"]["data"] == base64.b64encode(ORDER).decode("ascii")


def test_no_filters_keep_everything() -> None:
    assert Criteria().keep({"anything": 1})
    assert sqs_keep(Criteria(), sqs_record("x"))
    assert kinesis_keep(Criteria(), kinesis_record(b"x"))


# record_filter: the one table from a source's service to its keep test


@pytest.mark.parametrize(
    ("service", "pattern", "record", "kept"),
    [
        ("sqs", {"body": {"kind": ["order"]}}, sqs_record('{"kind": "order"}'), True),
        ("sqs", {"body": {"kind": ["order"]}}, sqs_record('{"kind": "refund"}'), False),
        ("sqs", {"body": {"kind": ["order"]}}, sqs_record("kind=order"), False),
        ("kinesis", BUY, kinesis_record(ORDER), True),
        ("kinesis", BUY, kinesis_record(NOT_JSON_DATA), False),
        ("dynamodb", {"eventName": ["INSERT"]}, ddb_record("INSERT"), True),
        ("dynamodb", {"eventName": ["INSERT"]}, ddb_record("REMOVE"), False),
    ],
)
def test_record_filter_applies_the_sources_rules(
    service: str, pattern: dict[str, Any], record: dict[str, Any], kept: bool
) -> None:
    keep = record_filter([json.dumps(pattern)], service)
    assert keep is not None
    assert keep(record) is kept
    assert KEEP[service](Criteria([pattern_of(pattern)]), record) is kept


@pytest.mark.parametrize("service", ["sqs", "kinesis", "dynamodb"])
def test_record_filter_without_patterns_keeps_everything(service: str) -> None:
    assert record_filter([], service) is None
    assert compile_criteria([]) is None


def test_record_filter_ors_the_patterns() -> None:
    keep = record_filter(['{"body": ["a"]}', '{"body": ["b"]}'], "sqs")
    assert keep is not None
    assert [keep(sqs_record(body)) for body in ("a", "b", "c")] == [True, True, False]
