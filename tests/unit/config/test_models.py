"""The mapping models and PollerConfig (models.py): spellings, defaults, bounds, mapping kinds."""

from __future__ import annotations

import uuid

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
    rng,
    stream_mapping,
)

from poller.config import rules
from poller.config.loader import parse_config
from poller.config.models import SqsMappingConfig, StreamMappingConfig

# --- names: snake_case and PascalCase ----------------------------------------------------------

SNAKE = f"""
functions:
  fn: {{handler: "app:handler"}}
mappings:
  - function: fn
    event_source_arn: {QUEUE}
    enabled: false
    batch_size: 100
    maximum_batching_window_in_seconds: 5
    function_response_types: [ReportBatchItemFailures]
    scaling_config: {{maximum_concurrency: 20}}
"""
PASCAL = f"""
functions:
  fn: {{handler: "app:handler"}}
mappings:
  - FunctionName: fn
    EventSourceArn: {QUEUE}
    Enabled: false
    BatchSize: 100
    MaximumBatchingWindowInSeconds: 5
    FunctionResponseTypes: [ReportBatchItemFailures]
    ScalingConfig: {{MaximumConcurrency: 20}}
"""
MIXED = f"""
functions:
  fn: {{handler: "app:handler"}}
mappings:
  - FunctionName: fn
    event_source_arn: {QUEUE}
    Enabled: false
    batch_size: 100
    MaximumBatchingWindowInSeconds: 5
    function_response_types: [ReportBatchItemFailures]
    ScalingConfig: {{maximum_concurrency: 20}}
"""


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(SNAKE, id="snake_case"),
        pytest.param(PASCAL, id="PascalCase"),
        pytest.param(MIXED, id="mixed"),
    ],
)
def test_mapping_field_spellings(text: str) -> None:
    mapping = parse_config(text, {}).mappings[0]
    assert isinstance(mapping, SqsMappingConfig)
    assert mapping.function == "fn"
    assert mapping.event_source_arn == QUEUE
    assert mapping.enabled is False
    assert mapping.batch_size == 100
    assert mapping.maximum_batching_window_in_seconds == 5
    assert mapping.function_response_types == ["ReportBatchItemFailures"]
    assert mapping.report_batch_item_failures is True
    assert mapping.scaling_config.maximum_concurrency == 20


# --- defaults -----------------------------------------------------------------------------------


def test_defaults() -> None:
    config = parse_config(config_text(f"{{function: fn, event_source_arn: '{QUEUE}'}}"), {})
    assert config.aws.region == "us-east-1"
    assert config.aws.endpoint_url is None
    assert config.aws.profile is None
    assert config.embedded.enabled is False
    assert config.embedded.queues == []
    assert config.http.enabled is True
    assert config.http.listen == "127.0.0.1:9102"
    assert (config.http.host, config.http.port) == ("127.0.0.1", 9102)
    assert config.logging.level == "info"
    assert config.logging.format == "auto"
    assert config.shutdown_timeout == 30.0
    assert config.shutdown_receives == "finish"
    function = config.functions["fn"]
    assert function.timeout == 3
    assert function.memory_size == 128
    assert function.environment == {}
    assert function.code_uri is None
    assert function.max_threads == 64
    mapping = config.mappings[0]
    assert isinstance(mapping, SqsMappingConfig)
    assert mapping.enabled is True
    assert mapping.batch_size == 10
    assert mapping.maximum_batching_window_in_seconds == 0
    assert mapping.function_response_types == []
    assert mapping.report_batch_item_failures is False
    assert mapping.scaling_config.maximum_concurrency is None
    assert mapping.name is None
    assert mapping.uuid is None
    assert mapping.visibility_heartbeat is False
    assert mapping.display_name == "fn-orders"
    assert mapping.mapping_uuid == str(uuid.uuid5(uuid.NAMESPACE_URL, f"fn|{QUEUE}"))


def test_no_mappings_is_valid() -> None:
    config = parse_config("functions: {fn: {handler: 'app:handler'}}", {})
    assert config.mappings == []


def test_mapping_uuid_is_stable_and_overridable() -> None:
    text = config_text(f"{{function: fn, event_source_arn: '{QUEUE}'}}")
    first = parse_config(text, {}).mappings[0].mapping_uuid
    assert parse_config(text, {}).mappings[0].mapping_uuid == first
    uuid.UUID(first)
    named = config_text(f"{{function: fn, event_source_arn: '{QUEUE}', uuid: u-1, name: n}}")
    mapping = parse_config(named, {}).mappings[0]
    assert (mapping.mapping_uuid, mapping.display_name) == ("u-1", "n")


@pytest.mark.parametrize(
    ("function_name", "qualifier"),
    [
        pytest.param("fn", None, id="name"),
        pytest.param("fn:live", "live", id="name-alias"),
        pytest.param("fn:$LATEST", None, id="latest"),
        pytest.param("123456789012:function:fn", None, id="partial-arn"),
        pytest.param("123456789012:function:fn:3", "3", id="partial-arn-version"),
        pytest.param("arn:aws:lambda:us-east-1:123456789012:function:fn", None, id="arn"),
        pytest.param("arn:aws:lambda:us-east-1:123456789012:function:fn:live", "live",
                     id="arn-alias"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("key", ["FunctionName", "function"])
def test_function_name_in_every_form_names_the_function(
    key: str, function_name: str, qualifier: str | None
) -> None:
    """A mapping pasted from Terraform / CloudFormation names its function by ARN, often with an
    alias: it is the function of that name here, the same mapping (UUID) as the bare name."""
    text = config_text(f"{{{key}: '{function_name}', EventSourceArn: '{QUEUE}'}}")
    mapping = parse_config(text, {}).mappings[0]
    assert (mapping.function, mapping.function_qualifier) == ("fn", qualifier)
    assert mapping.display_name == "fn-orders"
    bare = parse_config(config_text(f"{{function: fn, event_source_arn: '{QUEUE}'}}"), {})
    assert mapping.mapping_uuid == bare.mappings[0].mapping_uuid


@pytest.mark.parametrize(
    ("key", "function_name"),
    [
        pytest.param("FunctionName", "fn live", id="space"),
        pytest.param("function", "arn:aws:sqs:us-east-1:123456789012:fn", id="not-lambda"),
        pytest.param("FunctionName", "fn:a:b", id="two-qualifiers"),
    ],
)
def test_malformed_function_name_is_refused_with_its_path(key: str, function_name: str) -> None:
    text = config_text(f"{{{key}: '{function_name}', EventSourceArn: '{QUEUE}'}}")
    [issue] = issues_of(text)
    assert issue.startswith(
        f"mappings[0].{key}: Value '{function_name}' at 'functionName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: "
    )


def test_function_named_by_arn_must_exist() -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:other:live"
    text = config_text(f"{{FunctionName: '{arn}', EventSourceArn: '{QUEUE}'}}")
    assert issues_of(text) == ["mappings[0].FunctionName: no function named 'other' (defined: fn)"]


def test_empty_scaling_config_removes_maximum_concurrency() -> None:
    text = config_text(f"{{function: fn, event_source_arn: '{QUEUE}', ScalingConfig: {{}}}}")
    mapping = parse_config(text, {}).mappings[0]
    assert isinstance(mapping, SqsMappingConfig)
    assert mapping.scaling_config.maximum_concurrency is None


# --- validation errors with their paths -------------------------------------------------------


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        pytest.param(
            f"{{function: fn, event_source_arn: '{QUEUE}', batch_size: 0}}",
            [rng("mappings[0].batch_size", 0, "greater than or equal to 1")],
            id="batch-size-0-snake",
        ),
        pytest.param(
            f"{{FunctionName: fn, EventSourceArn: '{QUEUE}', BatchSize: 0}}",
            [rng("mappings[0].BatchSize", 0, "greater than or equal to 1")],
            id="batch-size-0-pascal",
        ),
        pytest.param(
            f"{{function: fn, event_source_arn: '{QUEUE}', batch_size: 10001, "
            "maximum_batching_window_in_seconds: 1}",
            [rng("mappings[0].batch_size", 10001, "less than or equal to 10000")],
            id="batch-size-10001",
        ),
        pytest.param(
            f"{{function: fn, event_source_arn: '{QUEUE}', MaximumBatchingWindowInSeconds: -1}}",
            [rng("mappings[0].MaximumBatchingWindowInSeconds", -1, "greater than or equal to 0")],
            id="window-negative",
        ),
        pytest.param(
            f"{{function: fn, event_source_arn: '{QUEUE}', "
            "maximum_batching_window_in_seconds: 301}",
            [
                rng(
                    "mappings[0].maximum_batching_window_in_seconds",
                    301,
                    "less than or equal to 300",
                )
            ],
            id="window-301",
        ),
        pytest.param(
            f"{{function: fn, event_source_arn: '{QUEUE}', "
            "ScalingConfig: {MaximumConcurrency: 1}}",
            [
                rng(
                    "mappings[0].ScalingConfig.MaximumConcurrency",
                    1,
                    "greater than or equal to 2",
                )
            ],
            id="max-concurrency-1-pascal",
        ),
        pytest.param(
            f"{{function: fn, event_source_arn: '{QUEUE}', "
            "scaling_config: {maximum_concurrency: 1001}}",
            [
                rng(
                    "mappings[0].scaling_config.maximum_concurrency",
                    1001,
                    "less than or equal to 1000",
                )
            ],
            id="max-concurrency-1001-snake",
        ),
        pytest.param(
            f"{{function: fn, event_source_arn: '{QUEUE}', bogus: 1}}",
            ["mappings[0].bogus: unknown field"],
            id="unknown-field",
        ),
        pytest.param(
            f"{{function: fn, event_source_arn: '{QUEUE}', FunctionNam: fn}}",
            ["mappings[0].FunctionNam: unknown field"],
            id="unknown-field-typo",
        ),
        pytest.param(
            f"{{function: fn, event_source_arn: '{QUEUE}', batch_size: abc}}",
            [
                "mappings[0].batch_size: Input should be a valid integer, unable to parse "
                "string as an integer"
            ],
            id="wrong-type-string",
        ),
        pytest.param(
            f"{{function: fn, event_source_arn: '{QUEUE}', BatchSize: 1.5}}",
            ["mappings[0].BatchSize: Input should be a valid integer, got a number with a "
             "fractional part"],
            id="wrong-type-float",
        ),
        pytest.param(
            f"{{function: fn, event_source_arn: '{QUEUE}', enabled: maybe}}",
            ["mappings[0].enabled: Input should be a valid boolean, unable to interpret input"],
            id="wrong-type-bool",
        ),
        pytest.param(
            f"{{function: 123, event_source_arn: '{QUEUE}'}}",
            ["mappings[0].function: Input should be a valid string"],
            id="wrong-type-function-snake",
        ),
        pytest.param(
            f"{{FunctionName: 123, event_source_arn: '{QUEUE}'}}",
            ["mappings[0].FunctionName: Input should be a valid string"],
            id="wrong-type-function-pascal",
        ),
        pytest.param(
            f"{{function: fn, event_source_arn: '{QUEUE}', function_response_types: [Foo]}}",
            ["mappings[0].function_response_types[0]: Input should be 'ReportBatchItemFailures'"],
            id="function-response-type-unknown",
        ),
        pytest.param(
            f"{{function: fn, event_source_arn: '{QUEUE}', FunctionResponseTypes: "
            "[ReportBatchItemFailures, ReportBatchItemFailures]}",
            ["mappings[0].FunctionResponseTypes: List should have at most 1 item after "
             "validation, not 2"],
            id="function-response-types-two",
        ),
        pytest.param(
            "{function: fn}",
            ["mappings[0].EventSourceArn: Field required"],
            id="missing-event-source-arn",
        ),
        pytest.param(
            f"{{event_source_arn: '{QUEUE}'}}",
            ["mappings[0].FunctionName: Field required"],
            id="missing-function",
        ),
        pytest.param(
            f"{{function: fn, event_source_arn: '{QUEUE}', batch_size: 0, "
            "maximum_batching_window_in_seconds: 301, x: 1}",
            [
                rng("mappings[0].batch_size", 0, "greater than or equal to 1"),
                rng(
                    "mappings[0].maximum_batching_window_in_seconds",
                    301,
                    "less than or equal to 300",
                ),
                "mappings[0].x: unknown field",
            ],
            id="every-error-listed",
        ),
    ],
)  # fmt: skip
def test_mapping_validation_errors(mapping: str, expected: list[str]) -> None:
    assert issues_of(config_text(mapping)) == expected


@pytest.mark.parametrize(
    ("batch_size", "window"),
    [
        pytest.param(1, 0, id="batch-1"),
        pytest.param(10, 0, id="batch-10-window-0"),
        pytest.param(11, 1, id="batch-11-window-1"),
        pytest.param(10000, 300, id="batch-10000-window-300"),
        pytest.param(10, 300, id="window-300"),
    ],
)
def test_valid_ranges(batch_size: int, window: int) -> None:
    text = config_text(
        f"{{function: fn, event_source_arn: '{QUEUE}', batch_size: {batch_size}, "
        f"maximum_batching_window_in_seconds: {window}}}"
    )
    mapping = parse_config(text, {}).mappings[0]
    assert (mapping.batch_size, mapping.maximum_batching_window_in_seconds) == (batch_size, window)


@pytest.mark.parametrize(
    "maximum",
    [pytest.param(2, id="2"), pytest.param(1000, id="1000")],
)
def test_maximum_concurrency_bounds_accepted(maximum: int) -> None:
    text = config_text(
        f"{{function: fn, event_source_arn: '{QUEUE}', "
        f"ScalingConfig: {{MaximumConcurrency: {maximum}}}}}"
    )
    mapping = parse_config(text, {}).mappings[0]
    assert isinstance(mapping, SqsMappingConfig)
    assert mapping.scaling_config.maximum_concurrency == maximum


# --- stream mappings: Kinesis and DynamoDB Streams (§1.1, §1.2) -------------------------------


@pytest.mark.parametrize(
    ("arn", "dynamodb", "display_name"),
    [
        pytest.param(KINESIS, False, "fn-clicks", id="kinesis"),
        pytest.param(DDB_STREAM, True, "fn-Orders", id="dynamodb-stream"),
        pytest.param(DDB_TABLE, True, "fn-Orders", id="dynamodb-table"),
    ],
)
def test_stream_mapping_defaults(arn: str, dynamodb: bool, display_name: str) -> None:
    text = config_text(f"{{function: fn, event_source_arn: '{arn}', StartingPosition: LATEST}}")
    mapping = parse_config(text, {}).mappings[0]
    assert isinstance(mapping, StreamMappingConfig)
    assert mapping.batch_size == 100
    assert mapping.parallelization_factor == 1
    assert mapping.maximum_batching_window_in_seconds == 0
    assert mapping.shard_refresh_seconds == 10.0
    assert mapping.starting_position == "LATEST"
    assert mapping.starting_position_timestamp is None
    assert mapping.enabled is True
    assert mapping.function_response_types == []
    assert mapping.is_dynamodb is dynamodb
    assert mapping.display_name == display_name
    assert mapping.mapping_uuid == str(uuid.uuid5(uuid.NAMESPACE_URL, f"fn|{arn}"))


@pytest.mark.parametrize(
    ("mapping", "kind"),
    [
        pytest.param(f"{{function: fn, event_source_arn: '{QUEUE}'}}", SqsMappingConfig,
                     id="sqs-snake"),
        pytest.param(f"{{FunctionName: fn, EventSourceArn: '{QUEUE}'}}", SqsMappingConfig,
                     id="sqs-pascal"),
        pytest.param(f"{{function: fn, event_source_arn: '{KINESIS}', starting_position: LATEST}}",
                     StreamMappingConfig, id="kinesis-snake"),
        pytest.param(f"{{FunctionName: fn, EventSourceArn: '{KINESIS}', StartingPosition: LATEST}}",
                     StreamMappingConfig, id="kinesis-pascal"),
        pytest.param(f"{{FunctionName: fn, EventSourceArn: '{DDB_STREAM}', "
                     "StartingPosition: LATEST}", StreamMappingConfig, id="dynamodb-stream"),
        pytest.param(f"{{FunctionName: fn, EventSourceArn: '{DDB_TABLE}', "
                     "StartingPosition: LATEST}", StreamMappingConfig, id="dynamodb-table"),
    ],
)  # fmt: skip
def test_mapping_kind_chosen_by_arn(mapping: str, kind: type) -> None:
    assert type(parse_config(config_text(mapping), {}).mappings[0]) is kind


STREAM_SNAKE = (
    f"{{function: fn, event_source_arn: '{KINESIS}', parallelization_factor: 4, "
    "starting_position: AT_TIMESTAMP, starting_position_timestamp: '2023-11-14T22:13:20Z'}"
)
STREAM_PASCAL = (
    f"{{FunctionName: fn, EventSourceArn: '{KINESIS}', ParallelizationFactor: 4, "
    "StartingPosition: AT_TIMESTAMP, StartingPositionTimestamp: '2023-11-14T22:13:20Z'}"
)
STREAM_MIXED = (
    f"{{FunctionName: fn, event_source_arn: '{KINESIS}', ParallelizationFactor: 4, "
    "starting_position: AT_TIMESTAMP, StartingPositionTimestamp: 1700000000}"
)


@pytest.mark.parametrize(
    "mapping",
    [
        pytest.param(STREAM_SNAKE, id="snake_case"),
        pytest.param(STREAM_PASCAL, id="PascalCase"),
        pytest.param(STREAM_MIXED, id="mixed-unix-seconds"),
    ],
)
def test_stream_field_spellings(mapping: str) -> None:
    parsed = parse_config(config_text(mapping), {}).mappings[0]
    assert isinstance(parsed, StreamMappingConfig)
    assert parsed.parallelization_factor == 4
    assert parsed.starting_position == "AT_TIMESTAMP"
    assert parsed.starting_position_timestamp is not None
    assert parsed.starting_position_timestamp.timestamp() == 1_700_000_000


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param("ParallelizationFactor: 0",
                     [rng("mappings[0].ParallelizationFactor", 0, "greater than or equal to 1")],
                     id="parallelization-0"),
        pytest.param("ParallelizationFactor: 11",
                     [rng("mappings[0].ParallelizationFactor", 11, "less than or equal to 10")],
                     id="parallelization-11"),
        pytest.param("parallelization_factor: 11",
                     [rng("mappings[0].parallelization_factor", 11, "less than or equal to 10")],
                     id="parallelization-11-snake"),
        pytest.param("BatchSize: 0",
                     [rng("mappings[0].BatchSize", 0, "greater than or equal to 1")],
                     id="batch-size-0"),
        pytest.param("BatchSize: 10001",
                     [rng("mappings[0].BatchSize", 10001, "less than or equal to 10000")],
                     id="batch-size-10001"),
        pytest.param("MaximumBatchingWindowInSeconds: 301",
                     [rng("mappings[0].MaximumBatchingWindowInSeconds", 301,
                          "less than or equal to 300")],
                     id="window-301"),
        pytest.param("shard_refresh_seconds: 0",
                     [rng("mappings[0].shard_refresh_seconds", 0, "greater than 0.0")],
                     id="shard-refresh-0"),
        pytest.param("StartingPosition: NOW",
                     ["mappings[0].StartingPosition: Input should be 'TRIM_HORIZON', 'LATEST' or "
                      "'AT_TIMESTAMP'"],
                     id="starting-position-unknown"),
        pytest.param("ParallelizationFactor: 11, BatchSize: 10001",
                     [rng("mappings[0].BatchSize", 10001, "less than or equal to 10000"),
                      rng("mappings[0].ParallelizationFactor", 11, "less than or equal to 10")],
                     id="every-error-listed"),
    ],
)  # fmt: skip
def test_stream_validation_errors(fields: str, expected: list[str]) -> None:
    text = config_text(f"{{function: fn, event_source_arn: '{KINESIS}', {fields}}}")
    assert issues_of(text) == expected


@pytest.mark.parametrize(
    ("factor", "batch_size", "window"),
    [
        pytest.param(1, 1, 0, id="minimums"),
        pytest.param(10, 10000, 300, id="maximums"),
    ],
)
def test_stream_valid_ranges(factor: int, batch_size: int, window: int) -> None:
    text = config_text(
        f"{{function: fn, event_source_arn: '{KINESIS}', StartingPosition: LATEST, "
        f"ParallelizationFactor: {factor}, BatchSize: {batch_size}, "
        f"MaximumBatchingWindowInSeconds: {window}}}"
    )
    mapping = parse_config(text, {}).mappings[0]
    assert isinstance(mapping, StreamMappingConfig)
    assert (mapping.parallelization_factor, mapping.batch_size) == (factor, batch_size)
    assert mapping.maximum_batching_window_in_seconds == window


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        pytest.param(
            f"{{function: fn, event_source_arn: '{KINESIS}', StartingPosition: LATEST, "
            "ScalingConfig: {MaximumConcurrency: 2}}",
            ["mappings[0].ScalingConfig: unknown field"],
            id="scaling-config-on-kinesis",
        ),
        pytest.param(
            f"{{function: fn, event_source_arn: '{DDB_STREAM}', StartingPosition: LATEST, "
            "scaling_config: {}}",
            ["mappings[0].scaling_config: unknown field"],
            id="scaling-config-on-dynamodb",
        ),
        pytest.param(
            f"{{function: fn, event_source_arn: '{KINESIS}', StartingPosition: LATEST, "
            "visibility_heartbeat: true}",
            ["mappings[0].visibility_heartbeat: unknown field"],
            id="visibility-heartbeat-on-kinesis",
        ),
        pytest.param(
            f"{{function: fn, event_source_arn: '{KINESIS}', StartingPosition: LATEST, bogus: 1}}",
            ["mappings[0].bogus: unknown field"],
            id="bogus-on-kinesis",
        ),
        pytest.param(
            f"{{function: fn, event_source_arn: '{QUEUE}', StartingPosition: LATEST}}",
            ["mappings[0].StartingPosition: unknown field"],
            id="starting-position-on-sqs",
        ),
        pytest.param(
            f"{{function: fn, event_source_arn: '{QUEUE}', parallelization_factor: 2}}",
            ["mappings[0].parallelization_factor: unknown field"],
            id="parallelization-factor-on-sqs",
        ),
        pytest.param(
            f"{{function: fn, event_source_arn: '{QUEUE}', ShardRefreshSeconds: 5}}",
            ["mappings[0].ShardRefreshSeconds: unknown field"],
            id="shard-refresh-on-sqs",
        ),
    ],
)
def test_fields_of_the_other_kind_are_unknown(mapping: str, expected: list[str]) -> None:
    assert issues_of(config_text(mapping)) == expected


def test_naive_starting_position_timestamp_is_utc() -> None:
    text = config_text(
        f"{{function: fn, event_source_arn: '{KINESIS}', StartingPosition: AT_TIMESTAMP, "
        "StartingPositionTimestamp: '2024-01-02T03:04:05'}"
    )
    mapping = parse_config(text, {}).mappings[0]
    assert isinstance(mapping, StreamMappingConfig)
    assert mapping.starting_position_timestamp is not None
    assert mapping.starting_position_timestamp.timestamp() == 1704164645.0


# --- stream failure settings: retries, record age, bisect, on-failure destination (§1, §4.5) ----


def test_stream_failure_defaults() -> None:
    mapping = parse_config(config_text(f"{{{STREAM}}}"), {}).mappings[0]
    assert isinstance(mapping, StreamMappingConfig)
    assert mapping.maximum_retry_attempts == -1
    assert mapping.maximum_record_age_in_seconds == -1
    assert mapping.bisect_batch_on_function_error is False
    assert mapping.on_failure is None


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param("MaximumRetryAttempts: 3, MaximumRecordAgeInSeconds: 3600, "
                     "BisectBatchOnFunctionError: true, "
                     f"DestinationConfig: {{OnFailure: {{Destination: '{SQS_DESTINATION}'}}}}",
                     id="PascalCase"),
        pytest.param("maximum_retry_attempts: 3, maximum_record_age_in_seconds: 3600, "
                     "bisect_batch_on_function_error: true, "
                     f"destination_config: {{on_failure: {{destination: '{SQS_DESTINATION}'}}}}",
                     id="snake_case"),
        pytest.param("MaximumRetryAttempts: 3, maximum_record_age_in_seconds: 3600, "
                     "BisectBatchOnFunctionError: true, "
                     f"destination_config: {{OnFailure: {{destination: '{SQS_DESTINATION}'}}}}",
                     id="mixed"),
    ],
)  # fmt: skip
def test_stream_failure_field_spellings(fields: str) -> None:
    mapping = stream_mapping(fields)
    assert mapping.maximum_retry_attempts == 3
    assert mapping.maximum_record_age_in_seconds == 3600
    assert mapping.bisect_batch_on_function_error is True
    assert mapping.destination_config.on_failure.destination == SQS_DESTINATION
    assert mapping.on_failure == SQS_DESTINATION


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param("MaximumRecordAgeInSeconds: 0",
                     [f"mappings[0].MaximumRecordAgeInSeconds: {rules.RECORD_AGE_MINIMUM}"],
                     id="record-age-0"),
        pytest.param("MaximumRecordAgeInSeconds: 59",
                     [f"mappings[0].MaximumRecordAgeInSeconds: {rules.RECORD_AGE_MINIMUM}"],
                     id="record-age-59"),
        pytest.param("maximum_record_age_in_seconds: 59",
                     [f"mappings[0].maximum_record_age_in_seconds: {rules.RECORD_AGE_MINIMUM}"],
                     id="record-age-59-snake"),
        pytest.param("MaximumRecordAgeInSeconds: 604801",
                     [rng("mappings[0].MaximumRecordAgeInSeconds", 604801,
                          "less than or equal to 604800")],
                     id="record-age-604801"),
        pytest.param("MaximumRecordAgeInSeconds: -2",
                     [rng("mappings[0].MaximumRecordAgeInSeconds", -2,
                          "greater than or equal to -1")],
                     id="record-age-minus-2"),
        pytest.param("MaximumRetryAttempts: -2",
                     [rng("mappings[0].MaximumRetryAttempts", -2, "greater than or equal to -1")],
                     id="retry-attempts-minus-2"),
        pytest.param("MaximumRetryAttempts: 10001",
                     [rng("mappings[0].MaximumRetryAttempts", 10001,
                          "less than or equal to 10000")],
                     id="retry-attempts-10001"),
        pytest.param("maximum_retry_attempts: 10001",
                     [rng("mappings[0].maximum_retry_attempts", 10001,
                          "less than or equal to 10000")],
                     id="retry-attempts-10001-snake"),
        pytest.param("MaximumRetryAttempts: true",
                     ["mappings[0].MaximumRetryAttempts: Input should be a valid integer, "
                      "not a boolean"],
                     id="retry-attempts-boolean"),
    ],
)  # fmt: skip
def test_stream_failure_setting_errors(fields: str, expected: list[str]) -> None:
    assert issues_of(config_text(f"{{{STREAM}, {fields}}}")) == expected


@pytest.mark.parametrize("age", [-1, 60, 61, 86400, 604800])
def test_record_age_accepted(age: int) -> None:
    assert stream_mapping(f"MaximumRecordAgeInSeconds: {age}").maximum_record_age_in_seconds == age


@pytest.mark.parametrize("attempts", [-1, 0, 1, 10000])
def test_retry_attempts_accepted(attempts: int) -> None:
    assert stream_mapping(f"MaximumRetryAttempts: {attempts}").maximum_retry_attempts == attempts


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param("DestinationConfig: {OnFailure: {Destination: ''}}", id="empty-string"),
        pytest.param("destination_config: {on_failure: {destination: ''}}", id="empty-snake"),
        pytest.param("DestinationConfig: {OnFailure: {Destination: null}}", id="null"),
        pytest.param("DestinationConfig: {OnFailure: {}}", id="empty-on-failure"),
        pytest.param("DestinationConfig: {}", id="empty-destination-config"),
    ],
)
def test_empty_destination_means_none(fields: str) -> None:
    assert stream_mapping(fields).on_failure is None


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param("DestinationConfig: {OnSuccess: {Destination: x}}",
                     ["mappings[0].DestinationConfig.OnSuccess: unknown field"],
                     id="on-success-unknown"),
        pytest.param("DestinationConfig: {OnFailure: {Destination: x, Extra: 1}}",
                     ["mappings[0].DestinationConfig.OnFailure.Extra: unknown field"],
                     id="extra-in-on-failure"),
    ],
)  # fmt: skip
def test_destination_config_unknown_fields(fields: str, expected: list[str]) -> None:
    assert issues_of(config_text(f"{{{STREAM}, {fields}}}")) == expected
