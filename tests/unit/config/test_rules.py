"""AWS's cross-field mapping rules (rules.py): the checks themselves and the messages they give."""

from __future__ import annotations

import textwrap
import uuid
from datetime import UTC, datetime

import pytest
from config_cases import (
    DDB_STREAM,
    DDB_TABLE,
    KINESIS,
    QUEUE,
    SQS_DESTINATION,
    STREAM,
    config_text,
    issues_of,
    stream_mapping,
)

from poller.arns import Arn
from poller.config import rules
from poller.config.loader import parse_config
from poller.config.models import PollerConfig

FIFO_QUEUE = "arn:aws:sqs:us-east-1:123456789012:orders.fifo"


# --- AWS's cross-field rules (rules.py) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        pytest.param(
            f"{{function: fn, event_source_arn: '{FIFO_QUEUE}', batch_size: 11}}",
            [f"mappings[0].batch_size: {rules.FIFO_BATCH_SIZE}"],
            id="fifo-batch-11",
        ),
        pytest.param(
            f"{{function: fn, event_source_arn: '{FIFO_QUEUE}', "
            "maximum_batching_window_in_seconds: 1}",
            [f"mappings[0].maximum_batching_window_in_seconds: {rules.FIFO_WINDOW}"],
            id="fifo-window-1",
        ),
        pytest.param(
            f"{{function: fn, event_source_arn: '{FIFO_QUEUE}', batch_size: 20, "
            "maximum_batching_window_in_seconds: 5}",
            [
                f"mappings[0].batch_size: {rules.FIFO_BATCH_SIZE}",
                f"mappings[0].maximum_batching_window_in_seconds: {rules.FIFO_WINDOW}",
            ],
            id="fifo-both",
        ),
        pytest.param(
            f"{{function: fn, event_source_arn: '{QUEUE}', batch_size: 11}}",
            [f"mappings[0].maximum_batching_window_in_seconds: {rules.WINDOW_REQUIRED}"],
            id="standard-batch-11-window-0",
        ),
        pytest.param(
            f"{{function: fn, event_source_arn: '{QUEUE}', batch_size: 10000, "
            "maximum_batching_window_in_seconds: 0}",
            [f"mappings[0].maximum_batching_window_in_seconds: {rules.WINDOW_REQUIRED}"],
            id="standard-batch-10000-window-0",
        ),
        pytest.param(
            f"{{function: nope, event_source_arn: '{QUEUE}'}}",
            ["mappings[0].function: no function named 'nope' (defined: fn)"],
            id="unknown-function",
        ),
        pytest.param(
            "{function: fn, event_source_arn: 'arn:aws:kinesis:us-east-1:123456789012:stream/s'}",
            [f"mappings[0].starting_position: {rules.POSITION_REQUIRED}"],
            id="kinesis-without-starting-position",
        ),
        pytest.param(
            "{function: fn, event_source_arn: "
            "'arn:aws:dynamodb:us-east-1:123456789012:table/T/stream/2024-01-01T00:00:00.000', "
            "name: m, StartingPosition: AT_TIMESTAMP}",
            [f"mappings[0].StartingPosition: {rules.UNSUPPORTED_POSITION}"],
            id="dynamodb-at-timestamp",
        ),
        pytest.param(
            f"{{function: nope, event_source_arn: '{FIFO_QUEUE}', batch_size: 11}}",
            [
                "mappings[0].function: no function named 'nope' (defined: fn)",
                f"mappings[0].batch_size: {rules.FIFO_BATCH_SIZE}",
            ],
            id="every-rule-listed",
        ),
    ],
)
def test_rules(mapping: str, expected: list[str]) -> None:
    assert issues_of(config_text(mapping)) == expected


def test_unknown_function_lists_defined_functions() -> None:
    text = config_text(
        f"{{function: nope, event_source_arn: '{QUEUE}'}}",
        functions="b: {handler: 'app:b'}\n  a: {handler: 'app:a'}",
    )
    assert issues_of(text) == ["mappings[0].function: no function named 'nope' (defined: a, b)"]


@pytest.mark.parametrize(
    ("arn", "expected"),
    [
        pytest.param("nonsense", "not an ARN: 'nonsense'", id="not-an-arn"),
        pytest.param(
            "arn:aws:sqs:us-east-1:123456789012:",
            "not an ARN: 'arn:aws:sqs:us-east-1:123456789012:'",
            id="empty-resource",
        ),
    ],
)
def test_malformed_arn_with_name_is_reported(arn: str, expected: str) -> None:
    text = config_text(f"{{function: fn, event_source_arn: '{arn}', name: m}}")
    assert issues_of(text) == [f"mappings[0].event_source_arn: {expected}"]


def test_malformed_arn_without_name_is_reported() -> None:
    text = config_text("{function: fn, event_source_arn: nonsense}")
    assert issues_of(text) == ["mappings[0].event_source_arn: not an ARN: 'nonsense'"]


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        pytest.param(
            f"{{FunctionName: fn, EventSourceArn: '{FIFO_QUEUE}', BatchSize: 11}}",
            [f"mappings[0].BatchSize: {rules.FIFO_BATCH_SIZE}"],
            id="fifo-batch-size",
        ),
        pytest.param(
            f"{{FunctionName: fn, EventSourceArn: '{QUEUE}', BatchSize: 11, "
            "MaximumBatchingWindowInSeconds: 0}",
            [f"mappings[0].MaximumBatchingWindowInSeconds: {rules.WINDOW_REQUIRED}"],
            id="window-required",
        ),
        pytest.param(
            f"{{FunctionName: nope, EventSourceArn: '{QUEUE}'}}",
            ["mappings[0].FunctionName: no function named 'nope' (defined: fn)"],
            id="unknown-function",
        ),
        pytest.param(
            "{FunctionName: fn, EventSourceArn: 'arn:aws:sns:us-east-1:123456789012:t'}",
            [
                "mappings[0].EventSourceArn: unsupported event source service 'sns': "
                f"{rules.SOURCES}"
            ],
            id="non-sqs-arn",
        ),
    ],
)
def test_rule_paths_use_the_spelling_the_user_wrote(mapping: str, expected: list[str]) -> None:
    assert issues_of(config_text(mapping)) == expected


@pytest.mark.parametrize(
    ("batch_size", "window", "fifo", "expected"),
    [
        pytest.param(10, 0, True, [], id="fifo-10-ok"),
        pytest.param(11, 0, True, [("m.batch_size", rules.FIFO_BATCH_SIZE)], id="fifo-11"),
        pytest.param(
            1, 1, True, [("m.maximum_batching_window_in_seconds", rules.FIFO_WINDOW)],
            id="fifo-window",
        ),
        pytest.param(10, 0, False, [], id="standard-10-ok"),
        pytest.param(
            11, 0, False, [("m.maximum_batching_window_in_seconds", rules.WINDOW_REQUIRED)],
            id="standard-11-no-window",
        ),
        pytest.param(11, 1, False, [], id="standard-11-window-1"),
        pytest.param(10000, 300, False, [], id="standard-max"),
    ],
)  # fmt: skip
def test_sqs_batching_issues(
    batch_size: int, window: int, fifo: bool, expected: list[tuple[str, str]]
) -> None:
    assert list(rules.sqs_batching_issues("m", batch_size, window, fifo)) == expected


def test_rule_messages_quote_aws() -> None:
    assert rules.WINDOW_REQUIRED == (
        "Maximum batch window in seconds must be greater than 0 if maximum batch size is "
        "greater than 10"
    )
    assert rules.FIFO_BATCH_SIZE == "Batch size for FIFO queues must be less than or equal to 10"
    assert rules.FIFO_WINDOW == "Batching window is not supported for FIFO queues"


def test_duplicate_mapping() -> None:
    text = f"""
functions:
  fn: {{handler: "app:handler"}}
mappings:
  - {{function: fn, event_source_arn: {QUEUE}, name: first}}
  - {{FunctionName: fn, EventSourceArn: {QUEUE}, name: second}}
"""
    first_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"fn|{QUEUE}"))
    assert issues_of(text) == [
        f'mappings[1]: An event source mapping with SQS arn (" {QUEUE} ") and function '
        f'(" fn ") already exists. Please update or delete the existing mapping with UUID '
        f"{first_uuid}"
    ]


def test_duplicate_mapping_by_function_arn() -> None:
    """The same function named two ways (a name, an alias ARN) is the same mapping, as on AWS."""
    arn = "arn:aws:lambda:us-east-1:123456789012:function:fn:live"
    text = f"""
functions:
  fn: {{handler: "app:handler"}}
mappings:
  - {{function: fn, event_source_arn: {QUEUE}, name: first}}
  - {{FunctionName: "{arn}", EventSourceArn: {QUEUE}, name: second}}
"""
    [issue] = issues_of(text)
    assert issue.startswith(f'mappings[1]: An event source mapping with SQS arn (" {QUEUE} ")')


def test_duplicate_mapping_names_existing_explicit_uuid() -> None:
    text = f"""
functions:
  fn: {{handler: "app:handler"}}
mappings:
  - {{function: fn, event_source_arn: {QUEUE}, uuid: abc, name: a}}
  - {{function: fn, event_source_arn: {QUEUE}, name: b}}
"""
    assert issues_of(text)[0].endswith("Please update or delete the existing mapping with UUID abc")


def test_same_queue_for_two_functions_is_not_a_duplicate() -> None:
    text = f"""
functions:
  a: {{handler: "app:a"}}
  b: {{handler: "app:b"}}
mappings:
  - {{function: a, event_source_arn: {QUEUE}}}
  - {{function: b, event_source_arn: {QUEUE}}}
"""
    assert [m.display_name for m in parse_config(text, {}).mappings] == ["a-orders", "b-orders"]


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        pytest.param("name: x", "name: x", ["mappings[1].name: duplicate mapping name 'x'"],
                     id="same-name"),
        pytest.param("", "name: fn-orders",
                     ["mappings[1].name: duplicate mapping name 'fn-orders'"],
                     id="name-equals-derived-name"),
        pytest.param("name: x", "name: y", [], id="different-names"),
    ],
)  # fmt: skip
def test_duplicate_names(first: str, second: str, expected: list[str]) -> None:
    other = "arn:aws:sqs:us-east-1:123456789012:other"
    text = f"""
functions:
  fn: {{handler: "app:handler"}}
mappings:
  - {{function: fn, event_source_arn: {QUEUE}, {first}}}
  - {{function: fn, event_source_arn: {other}, {second}}}
"""
    if expected:
        assert issues_of(text) == expected
    else:
        assert len(parse_config(text, {}).mappings) == 2


@pytest.mark.parametrize(
    ("a_env", "b_env", "expected"),
    [
        pytest.param(
            "{TABLE: orders}",
            "{TABLE: clicks}",
            [
                "functions.b.environment.TABLE: conflicts with functions.a.environment.TABLE: "
                "in-process handlers share one environment"
            ],
            id="conflict",
        ),
        pytest.param("{TABLE: orders}", "{TABLE: orders}", [], id="same-value-ok"),
        pytest.param("{A: '1'}", "{B: '2'}", [], id="different-keys-ok"),
    ],
)
def test_environment_conflicts(a_env: str, b_env: str, expected: list[str]) -> None:
    text = textwrap.dedent(
        f"""
        functions:
          a: {{handler: "app:a", environment: {a_env}}}
          b: {{handler: "app:b", environment: {b_env}}}
        """
    )
    if expected:
        assert issues_of(text) == expected
    else:
        assert set(parse_config(text, {}).functions) == {"a", "b"}


@pytest.mark.parametrize(
    ("visibility", "timeout", "expected"),
    [
        pytest.param(30, 3, None, id="ok"),
        pytest.param(30, 30, None, id="equal-ok"),
        pytest.param(
            30,
            31,
            "Queue visibility timeout: 30 seconds is less than Function timeout: 31 seconds",
            id="function-longer",
        ),
        pytest.param(
            0,
            1,
            "Queue visibility timeout: 0 seconds is less than Function timeout: 1 seconds",
            id="zero-visibility",
        ),
    ],
)
def test_visibility_timeout_issue(visibility: int, timeout: int, expected: str | None) -> None:
    assert rules.visibility_timeout_issue(visibility, timeout) == expected


# --- stream mappings: Kinesis and DynamoDB Streams (§1.1, §1.2) -------------------------------

CONSUMER = "arn:aws:kinesis:us-east-1:123456789012:stream/clicks/consumer/c:1700000000"
NOW = 1_700_000_000.0


def at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def check_stream(fields: dict[str, object], now: float = NOW) -> list[tuple[str, str]]:
    """rules.check on one mapping of function `fn`, with a fixed clock."""
    config = PollerConfig.model_validate(
        {
            "functions": {"fn": {"handler": "app:handler"}},
            "mappings": [{"function": "fn", **fields}],
        }
    )
    return rules.check(config, now=now)


FUTURE = "cannot be in the future"
NEEDS_TIMESTAMP = "required when StartingPosition is AT_TIMESTAMP"
ONLY_AT_TIMESTAMP = "only valid with StartingPosition AT_TIMESTAMP"
NOT_KINESIS = "not a Kinesis stream ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME)"
NOT_DYNAMODB = (
    "not a DynamoDB stream ARN (arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL) "
    "or table ARN (arn:aws:dynamodb:REGION:ACCOUNT:table/NAME)"
)
NO_CONSUMERS = (
    "enhanced fan-out consumer ARNs are not supported: use the stream's ARN "
    "(arn:aws:kinesis:REGION:ACCOUNT:stream/NAME)"
)
P = "mappings[0]"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({"event_source_arn": KINESIS, "starting_position": "TRIM_HORIZON"}, [],
                     id="kinesis-trim-horizon"),
        pytest.param({"event_source_arn": KINESIS, "starting_position": "LATEST"}, [],
                     id="kinesis-latest"),
        pytest.param({"event_source_arn": KINESIS, "starting_position": "AT_TIMESTAMP",
                      "starting_position_timestamp": at(NOW - 3600)}, [],
                     id="kinesis-at-timestamp-past"),
        pytest.param({"event_source_arn": KINESIS, "starting_position": "AT_TIMESTAMP",
                      "starting_position_timestamp": at(NOW)}, [],
                     id="kinesis-at-timestamp-now"),
        pytest.param({"event_source_arn": DDB_STREAM, "starting_position": "TRIM_HORIZON"}, [],
                     id="dynamodb-stream-arn-accepted"),
        pytest.param({"event_source_arn": DDB_TABLE, "starting_position": "LATEST"}, [],
                     id="dynamodb-table-arn-accepted"),
        # StartingPosition is required for streams.
        pytest.param({"event_source_arn": KINESIS},
                     [(f"{P}.starting_position", rules.POSITION_REQUIRED)],
                     id="kinesis-position-missing"),
        pytest.param({"event_source_arn": DDB_STREAM},
                     [(f"{P}.starting_position", rules.POSITION_REQUIRED)],
                     id="dynamodb-position-missing"),
        # AT_TIMESTAMP: Kinesis only, with a timestamp that is not in the future.
        pytest.param({"event_source_arn": DDB_STREAM, "starting_position": "AT_TIMESTAMP"},
                     [(f"{P}.starting_position", rules.UNSUPPORTED_POSITION)],
                     id="dynamodb-at-timestamp"),
        pytest.param({"event_source_arn": DDB_TABLE, "starting_position": "AT_TIMESTAMP",
                      "starting_position_timestamp": at(NOW - 3600)},
                     [(f"{P}.starting_position", rules.UNSUPPORTED_POSITION)],
                     id="dynamodb-table-at-timestamp-with-timestamp"),
        pytest.param({"event_source_arn": KINESIS, "starting_position": "AT_TIMESTAMP"},
                     [(f"{P}.starting_position_timestamp", NEEDS_TIMESTAMP)],
                     id="at-timestamp-without-timestamp"),
        pytest.param({"event_source_arn": KINESIS, "starting_position": "AT_TIMESTAMP",
                      "starting_position_timestamp": at(NOW + 1)},
                     [(f"{P}.starting_position_timestamp", FUTURE)],
                     id="timestamp-in-the-future"),
        pytest.param({"event_source_arn": KINESIS, "starting_position": "LATEST",
                      "starting_position_timestamp": at(NOW - 3600)},
                     [(f"{P}.starting_position_timestamp", ONLY_AT_TIMESTAMP)],
                     id="timestamp-with-latest"),
        pytest.param({"event_source_arn": KINESIS, "starting_position": "TRIM_HORIZON",
                      "starting_position_timestamp": at(NOW - 3600)},
                     [(f"{P}.starting_position_timestamp", ONLY_AT_TIMESTAMP)],
                     id="timestamp-with-trim-horizon"),
        pytest.param({"event_source_arn": DDB_STREAM, "starting_position": "LATEST",
                      "starting_position_timestamp": at(NOW - 3600)},
                     [(f"{P}.starting_position_timestamp", ONLY_AT_TIMESTAMP)],
                     id="timestamp-on-dynamodb"),
        # Source ARNs.
        pytest.param({"event_source_arn": CONSUMER, "starting_position": "LATEST"},
                     [(f"{P}.event_source_arn", NO_CONSUMERS)], id="kinesis-consumer-arn"),
        pytest.param({"event_source_arn": "arn:aws:kinesis:us-east-1:123456789012:clicks",
                      "starting_position": "LATEST"},
                     [(f"{P}.event_source_arn", NOT_KINESIS)], id="kinesis-resource-without-type"),
        pytest.param({"event_source_arn": "arn:aws:kinesis:us-east-1:123456789012:stream/",
                      "starting_position": "LATEST"},
                     [(f"{P}.event_source_arn", NOT_KINESIS)], id="kinesis-stream-without-name"),
        pytest.param({"event_source_arn": "arn:aws:dynamodb:us-east-1:123456789012:table/Orders"
                                          "/index/ByDate",
                      "starting_position": "LATEST"},
                     [(f"{P}.event_source_arn", NOT_DYNAMODB)], id="dynamodb-index-arn-rejected"),
        pytest.param({"event_source_arn": CONSUMER},
                     [(f"{P}.event_source_arn", NO_CONSUMERS),
                      (f"{P}.starting_position", rules.POSITION_REQUIRED)],
                     id="every-stream-rule-listed"),
        # A batch window is not required for a stream batch over 10 (AWS's defaults: 100 and 0).
        pytest.param({"event_source_arn": KINESIS, "starting_position": "LATEST",
                      "batch_size": 10000, "maximum_batching_window_in_seconds": 0}, [],
                     id="kinesis-batch-10000-window-0"),
        pytest.param({"event_source_arn": DDB_STREAM, "starting_position": "LATEST",
                      "batch_size": 11}, [], id="dynamodb-batch-11-window-0"),
    ],
)  # fmt: skip
def test_stream_rules(fields: dict[str, object], expected: list[tuple[str, str]]) -> None:
    assert check_stream(fields) == expected


@pytest.mark.parametrize(
    ("resource", "service", "expected"),
    [
        pytest.param("stream/clicks", "kinesis", None, id="kinesis-stream"),
        pytest.param("stream/clicks/consumer/c:1700000000", "kinesis", NO_CONSUMERS,
                     id="kinesis-consumer"),
        pytest.param("clicks", "kinesis", NOT_KINESIS, id="kinesis-bare-name"),
        pytest.param("stream", "kinesis", NOT_KINESIS, id="kinesis-type-only"),
        pytest.param("stream/", "kinesis", NOT_KINESIS, id="kinesis-empty-name"),
        pytest.param("stream/a/b", "kinesis", NOT_KINESIS, id="kinesis-three-parts"),
        pytest.param("table/Orders", "kinesis", NOT_KINESIS, id="kinesis-table-resource"),
        pytest.param("table/Orders", "dynamodb", None, id="dynamodb-table"),
        pytest.param("table/Orders/stream/2024-01-01T00:00:00.000", "dynamodb", None,
                     id="dynamodb-stream"),
        pytest.param("table/Orders/index/ByDate", "dynamodb", NOT_DYNAMODB, id="dynamodb-index"),
        pytest.param("table/Orders/backup/01", "dynamodb", NOT_DYNAMODB, id="dynamodb-backup"),
        pytest.param("table/", "dynamodb", NOT_DYNAMODB, id="dynamodb-empty-table"),
        pytest.param("table/Orders/stream/", "dynamodb", NOT_DYNAMODB,
                     id="dynamodb-empty-label"),
        pytest.param("table/Orders/stream", "dynamodb", NOT_DYNAMODB, id="dynamodb-no-label"),
        pytest.param("stream/clicks", "dynamodb", NOT_DYNAMODB, id="dynamodb-stream-resource"),
    ],
)  # fmt: skip
def test_stream_arn_issue(resource: str, service: str, expected: str | None) -> None:
    arn = Arn.parse(f"arn:aws:{service}:us-east-1:123456789012:{resource}")
    assert rules.stream_arn_issue(arn) == expected


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        pytest.param(
            f"{{FunctionName: fn, EventSourceArn: '{CONSUMER}', StartingPosition: LATEST}}",
            [f"mappings[0].EventSourceArn: {NO_CONSUMERS}"],
            id="event-source-arn-pascal",
        ),
        pytest.param(
            f"{{FunctionName: fn, EventSourceArn: '{KINESIS}', StartingPosition: LATEST, "
            "StartingPositionTimestamp: '2023-11-14T22:13:20Z'}",
            [f"mappings[0].StartingPositionTimestamp: {ONLY_AT_TIMESTAMP}"],
            id="timestamp-pascal",
        ),
        pytest.param(
            f"{{function: fn, event_source_arn: '{KINESIS}', starting_position: LATEST, "
            "starting_position_timestamp: '2023-11-14T22:13:20Z'}",
            [f"mappings[0].starting_position_timestamp: {ONLY_AT_TIMESTAMP}"],
            id="timestamp-snake",
        ),
        pytest.param(
            f"{{FunctionName: fn, EventSourceArn: '{KINESIS}', StartingPosition: AT_TIMESTAMP, "
            "StartingPositionTimestamp: '2999-01-01T00:00:00Z'}",
            [f"mappings[0].StartingPositionTimestamp: {FUTURE}"],
            id="future-timestamp-pascal",
        ),
        pytest.param(
            f"{{FunctionName: nope, EventSourceArn: '{DDB_STREAM}', StartingPosition: LATEST}}",
            ["mappings[0].FunctionName: no function named 'nope' (defined: fn)"],
            id="unknown-function-pascal",
        ),
    ],
)
def test_stream_rule_paths_use_the_spelling_the_user_wrote(
    mapping: str, expected: list[str]
) -> None:
    assert issues_of(config_text(mapping)) == expected


@pytest.mark.parametrize("arn", [pytest.param(KINESIS, id="kinesis"),
                                 pytest.param(DDB_STREAM, id="dynamodb-stream"),
                                 pytest.param(DDB_TABLE, id="dynamodb-table")])  # fmt: skip
def test_duplicate_stream_mapping(arn: str) -> None:
    text = f"""
functions:
  fn: {{handler: "app:handler"}}
mappings:
  - {{function: fn, event_source_arn: '{arn}', StartingPosition: LATEST, name: first}}
  - {{FunctionName: fn, EventSourceArn: '{arn}', StartingPosition: TRIM_HORIZON, name: second}}
"""
    first_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"fn|{arn}"))
    assert issues_of(text) == [
        f'mappings[1]: The event source arn (" {arn} ") and function (" fn ") provided mapping '
        f"already exists. Please update or delete the existing mapping with UUID {first_uuid}"
    ]


def test_stream_and_queue_for_one_function_are_not_duplicates() -> None:
    text = f"""
functions:
  fn: {{handler: "app:handler"}}
mappings:
  - {{function: fn, event_source_arn: '{KINESIS}', StartingPosition: LATEST}}
  - {{function: fn, event_source_arn: '{DDB_TABLE}', StartingPosition: LATEST}}
  - {{function: fn, event_source_arn: '{QUEUE}'}}
"""
    names = [m.display_name for m in parse_config(text, {}).mappings]
    assert names == ["fn-clicks", "fn-Orders", "fn-orders"]


@pytest.mark.parametrize(
    ("arn", "batch_size"),
    [
        pytest.param(KINESIS, 11, id="kinesis-11"),
        pytest.param(KINESIS, 10000, id="kinesis-10000"),
        pytest.param(DDB_STREAM, 500, id="dynamodb-500"),
    ],
)
def test_stream_batch_over_10_needs_no_window(arn: str, batch_size: int) -> None:
    text = config_text(
        f"{{function: fn, event_source_arn: '{arn}', StartingPosition: LATEST, "
        f"BatchSize: {batch_size}, MaximumBatchingWindowInSeconds: 0}}"
    )
    mapping = parse_config(text, {}).mappings[0]
    assert (mapping.batch_size, mapping.maximum_batching_window_in_seconds) == (batch_size, 0)


# --- stream failure settings: retries, record age, bisect, on-failure destination (§1, §4.5) ----

SNS_DESTINATION = "arn:aws:sns:us-east-1:123456789012:failures"
S3_DESTINATION = "arn:aws:s3:::failure-bucket"


@pytest.mark.parametrize(
    "destination",
    [
        pytest.param(SQS_DESTINATION, id="sqs-queue"),
        pytest.param("arn:aws:sqs:us-east-1:123456789012:failures.fifo", id="sqs-fifo-queue"),
        pytest.param(SNS_DESTINATION, id="sns-topic"),
        pytest.param(S3_DESTINATION, id="s3-bucket"),
        pytest.param("arn:aws-cn:s3:::failure-bucket", id="s3-bucket-china"),
    ],
)
def test_on_failure_destination_accepted(destination: str) -> None:
    text = f"DestinationConfig: {{OnFailure: {{Destination: '{destination}'}}}}"
    assert stream_mapping(text).on_failure == destination


DESTINATION_PATH = "mappings[0].DestinationConfig.OnFailure.Destination"


@pytest.mark.parametrize(
    ("destination", "message"),
    [
        pytest.param("arn:aws:lambda:us-east-1:123456789012:function:on-failure",
                     f"{rules.DESTINATIONS}, not 'lambda'", id="lambda-function"),
        pytest.param("arn:aws:kinesis:us-east-1:123456789012:stream/failures",
                     f"{rules.DESTINATIONS}, not 'kinesis'", id="kinesis-stream"),
        pytest.param("nonsense", "not an ARN: 'nonsense'", id="malformed"),
        pytest.param("arn:aws:sqs:us-east-1:123456789012:",
                     "not an ARN: 'arn:aws:sqs:us-east-1:123456789012:'", id="empty-resource"),
        pytest.param("arn:aws:s3:::failure-bucket/key",
                     f"{rules.DESTINATIONS}: a bucket ARN is arn:aws:s3:::BUCKET",
                     id="s3-object"),
        pytest.param("arn:aws:s3:::failure-bucket/",
                     f"{rules.DESTINATIONS}: a bucket ARN is arn:aws:s3:::BUCKET",
                     id="s3-bucket-trailing-slash"),
    ],
)  # fmt: skip
def test_on_failure_destination_rejected(destination: str, message: str) -> None:
    text = f"DestinationConfig: {{OnFailure: {{Destination: '{destination}'}}}}"
    assert issues_of(config_text(f"{{{STREAM}, {text}}}")) == [f"{DESTINATION_PATH}: {message}"]


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        pytest.param("destination_config: {on_failure: {destination: nonsense}}",
                     "mappings[0].destination_config.on_failure.destination", id="snake_case"),
        pytest.param("destination_config: {OnFailure: {Destination: nonsense}}",
                     "mappings[0].destination_config.OnFailure.Destination", id="mixed"),
        pytest.param("DestinationConfig: {on_failure: {destination: nonsense}}",
                     "mappings[0].DestinationConfig.on_failure.destination", id="mixed-inner"),
    ],
)  # fmt: skip
def test_destination_paths_use_the_spelling_the_user_wrote(fields: str, path: str) -> None:
    text = config_text(f"{{{STREAM}, {fields}}}")
    assert issues_of(text) == [f"{path}: not an ARN: 'nonsense'"]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({"maximum_record_age_in_seconds": 59},
                     [(f"{P}.maximum_record_age_in_seconds", rules.RECORD_AGE_MINIMUM)],
                     id="record-age-59"),
        pytest.param({"maximum_record_age_in_seconds": 60}, [], id="record-age-60"),
        pytest.param({"destination_config": {"on_failure": {"destination": "nonsense"}}},
                     [(f"{P}.destination_config.on_failure.destination",
                       "not an ARN: 'nonsense'")],
                     id="destination-malformed"),
        pytest.param({"destination_config": {"on_failure": {"destination": S3_DESTINATION}}},
                     [], id="destination-s3-bucket"),
    ],
)  # fmt: skip
def test_stream_failure_rules(fields: dict[str, object], expected: list[tuple[str, str]]) -> None:
    base: dict[str, object] = {"event_source_arn": KINESIS, "starting_position": "LATEST"}
    assert check_stream({**base, **fields}) == expected


def test_destination_rules_on_dynamodb() -> None:
    text = config_text(
        f"{{function: fn, event_source_arn: '{DDB_STREAM}', StartingPosition: LATEST, "
        "DestinationConfig: {OnFailure: {Destination: 'arn:aws:lambda:us-east-1:123456789012:"
        "function:f'}}}"
    )
    assert issues_of(text) == [f"{DESTINATION_PATH}: {rules.DESTINATIONS}, not 'lambda'"]


def test_s3_destination_arn_has_no_region_or_account() -> None:
    text = config_text(
        f"{{function: fn, event_source_arn: '{KINESIS}', StartingPosition: LATEST, "
        "DestinationConfig: {OnFailure: {Destination: 'arn:aws:s3:us-east-1:123456789012:b'}}}"
    )
    [issue] = issues_of(text)
    assert issue.startswith("mappings[0].DestinationConfig.OnFailure.Destination: ")
    assert "arn:aws:s3:::BUCKET" in issue


def test_in_process_handlers_of_one_module_name_from_two_directories_conflict() -> None:
    from poller.config.loader import parse_config
    from poller.errors import ConfigError

    text = """
functions:
  a: {handler: "app.handler", code_uri: "fa"}
  b: {handler: "app.handler", code_uri: "fb"}
  c: {handler: "app.handler", code_uri: "./fa"}
  d: {handler: "app.handler", code_uri: "fd", isolation: process}
mappings:
  - {function: a, event_source_arn: "arn:aws:sqs:us-east-1:123456789012:q"}
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, {})
    assert caught.value.issues == [
        "functions.b.handler: module 'app' is also functions.a's, from another code_uri: "
        "in-process handlers share one set of modules (isolation: process gives each function "
        "its own)"
    ]
