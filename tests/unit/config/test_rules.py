"""Configuration: loader (YAML, ${ENV}, error paths), config models and AWS's mapping rules (§1)."""

from __future__ import annotations

import textwrap
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from poller.arns import Arn
from poller.config import rules
from poller.config.loader import load_config, parse_config
from poller.config.models import PollerConfig, SqsMappingConfig, StreamMappingConfig
from poller.config.settings import DynamoDbState, FunctionConfig, HttpConfig, SqliteState
from poller.errors import ConfigError

QUEUE = "arn:aws:sqs:us-east-1:123456789012:orders"
FIFO_QUEUE = "arn:aws:sqs:us-east-1:123456789012:orders.fifo"
EXAMPLE = Path(__file__).resolve().parents[3] / "config" / "poller.example.yaml"


def config_text(mapping: str, functions: str = "fn: {handler: 'app:handler'}") -> str:
    """A config with one function section and one mapping given as a YAML flow mapping."""
    return f"functions:\n  {functions}\nmappings:\n  - {mapping}\n"


def issues_of(text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, environ or {})
    assert str(info.value) == "\n".join(info.value.issues)
    return info.value.issues


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


def test_empty_scaling_config_removes_maximum_concurrency() -> None:
    text = config_text(f"{{function: fn, event_source_arn: '{QUEUE}', ScalingConfig: {{}}}}")
    mapping = parse_config(text, {}).mappings[0]
    assert isinstance(mapping, SqsMappingConfig)
    assert mapping.scaling_config.maximum_concurrency is None


# --- ${ENV} interpolation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "environ", "expected"),
    [
        pytest.param("${QUEUE}", {"QUEUE": QUEUE}, QUEUE, id="set"),
        pytest.param("${QUEUE:-" + QUEUE + "}", {}, QUEUE, id="default-used"),
        pytest.param("${QUEUE:-arn:x}", {"QUEUE": QUEUE}, QUEUE, id="default-ignored"),
        pytest.param(
            "arn:aws:sqs:${REGION}:${ACCOUNT}:orders",
            {"REGION": "us-east-1", "ACCOUNT": "123456789012"},
            QUEUE,
            id="several-in-one-string",
        ),
        pytest.param(
            "arn:aws:sqs:${REGION:-us-east-1}:123456789012:${NAME:-orders}",
            {},
            QUEUE,
            id="several-defaults",
        ),
    ],
)
def test_interpolation_in_arn(value: str, environ: dict[str, str], expected: str) -> None:
    text = config_text(f"{{function: fn, event_source_arn: '{value}'}}")
    assert parse_config(text, environ).mappings[0].event_source_arn == expected


@pytest.mark.parametrize(
    ("value", "environ", "expected"),
    [
        pytest.param("$$", {}, "$", id="dollar-dollar"),
        pytest.param("price: $$5", {}, "price: $5", id="escaped-in-text"),
        pytest.param("$${NOT_A_VAR}", {}, "${NOT_A_VAR}", id="escaped-braces-not-interpolated"),
        pytest.param("$$${X}", {"X": "y"}, "$y", id="escape-then-variable"),
        pytest.param("$HOME", {"HOME": "/root"}, "$HOME", id="bare-dollar-untouched"),
        pytest.param("${X:-}", {}, "", id="empty-default"),
        pytest.param("${X:-a b c}", {}, "a b c", id="default-with-spaces"),
        pytest.param("${X}", {"X": ""}, "", id="set-empty"),
        pytest.param("a${X}b", {"X": "-"}, "a-b", id="embedded"),
    ],
)
def test_interpolation_in_strings(value: str, environ: dict[str, str], expected: str) -> None:
    text = config_text(
        f"{{function: fn, event_source_arn: '{QUEUE}'}}",
        functions=f"fn: {{handler: 'app:handler', environment: {{V: '{value}'}}}}",
    )
    assert parse_config(text, environ).functions["fn"].environment["V"] == expected


def test_interpolation_default_used_when_set_but_empty() -> None:
    text = config_text(
        f"{{function: fn, event_source_arn: '{QUEUE}'}}",
        functions="fn: {handler: 'app:handler', environment: {V: '${X:-fallback}'}}",
    )
    assert parse_config(text, {"X": ""}).functions["fn"].environment["V"] == "fallback"


def test_interpolated_numbers_are_converted() -> None:
    text = config_text(
        f"{{function: fn, event_source_arn: '{QUEUE}', batch_size: '${{BS}}', "
        "MaximumBatchingWindowInSeconds: '${WINDOW:-2}'}"
    )
    mapping = parse_config(text, {"BS": "50"}).mappings[0]
    assert (mapping.batch_size, mapping.maximum_batching_window_in_seconds) == (50, 2)


def test_interpolation_does_not_touch_keys_or_non_strings() -> None:
    text = "functions:\n  fn: {handler: 'app:handler', timeout: 5, environment: {'${K}': v}}\n"
    function = parse_config(text, {"K": "other"}).functions["fn"]
    assert function.environment == {"${K}": "v"}
    assert function.timeout == 5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            config_text("{function: fn, event_source_arn: '${QUEUE_ARN}'}"),
            ["mappings[0].event_source_arn: environment variable QUEUE_ARN is not set"],
            id="snake-path",
        ),
        pytest.param(
            config_text("{FunctionName: fn, EventSourceArn: '${QUEUE_ARN}'}"),
            ["mappings[0].EventSourceArn: environment variable QUEUE_ARN is not set"],
            id="pascal-path",
        ),
        pytest.param(
            config_text(
                "{function: '${FN}', event_source_arn: '${QUEUE_ARN}'}",
                functions="fn: {handler: 'app:handler', environment: {A: '${SECRET}'}}",
            ),
            [
                "functions.fn.environment.A: environment variable SECRET is not set",
                "mappings[0].function: environment variable FN is not set",
                "mappings[0].event_source_arn: environment variable QUEUE_ARN is not set",
            ],
            id="every-missing-variable-listed",
        ),
        pytest.param(
            "functions: {fn: {handler: 'app:handler'}}\nembedded:\n  queues:\n"
            "    - {name: a}\n    - {name: '${Q2}'}\n",
            ["embedded.queues[1].name: environment variable Q2 is not set"],
            id="list-index-in-path",
        ),
    ],
)
def test_missing_environment_variable(text: str, expected: list[str]) -> None:
    assert issues_of(text) == expected


# --- validation errors with their paths -------------------------------------------------------

RANGE = "Value '{v}' failed to satisfy constraint: Member must have value {bound}"


def rng(path: str, value: object, bound: str) -> str:
    return f"{path}: " + RANGE.format(v=value, bound=bound)


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


def test_boolean_batch_size_is_rejected() -> None:
    text = config_text(f"{{function: fn, event_source_arn: '{QUEUE}', batch_size: true}}")
    with pytest.raises(ConfigError):
        parse_config(text, {})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", ["<config>: the top level must be a mapping of sections"], id="empty"),
        pytest.param(
            "- a\n- b\n", ["<config>: the top level must be a mapping of sections"], id="list"
        ),
        pytest.param("aws: {}\n", ["functions: Field required"], id="no-functions"),
        pytest.param(
            "functions: {}\n",
            ["functions: Dictionary should have at least 1 item after validation, not 0"],
            id="empty-functions",
        ),
        pytest.param(
            "functions: {fn: {handler: app}}\n",
            [
                "functions.fn.handler: Value error, must be 'module:function' (or Lambda's "
                "'module.function')"
            ],
            id="bad-handler",
        ),
        pytest.param(
            "functions: {fn: {handler: 'a:b', timeout: 901, memory_size: 127}}\n",
            [
                rng("functions.fn.timeout", 901, "less than or equal to 900"),
                rng("functions.fn.memory_size", 127, "greater than or equal to 128"),
            ],
            id="function-ranges",
        ),
        pytest.param(
            "functions: {fn: {handler: 'a:b'}}\nshutdown_timeout: 0\n",
            [rng("shutdown_timeout", 0, "greater than 0.0")],
            id="shutdown-timeout",
        ),
        pytest.param(
            "functions: {fn: {handler: 'a:b'}}\nshutdown_receives: drop\n",
            ["shutdown_receives: Input should be 'finish' or 'cancel'"],
            id="shutdown-receives",
        ),
        pytest.param(
            "functions: {fn: {handler: 'a:b'}}\nextra: 1\n",
            ["extra: unknown field"],
            id="unknown-section",
        ),
        pytest.param(
            "functions: {fn: {handler: 'a:b'}}\naws: {regoin: eu-west-1}\n",
            ["aws.regoin: unknown field"],
            id="unknown-aws-field",
        ),
        pytest.param(
            "functions: {fn: {handler: 'a:b', Timeout: 3}}\n",
            ["functions.fn.Timeout: unknown field"],
            id="function-fields-are-snake-only",
        ),
        pytest.param(
            "functions: {fn: {handler: 'a:b'}}\nhttp: {listen: nope}\n",
            ["http.listen: Value error, must be HOST:PORT, for example 127.0.0.1:9102"],
            id="bad-listen",
        ),
        pytest.param(
            "functions: {fn: {handler: 'a:b'}}\nlogging: {level: loud}\n",
            ["logging.level: Input should be 'debug', 'info', 'warning' or 'error'"],
            id="bad-log-level",
        ),
    ],
)
def test_file_level_errors(text: str, expected: list[str]) -> None:
    assert issues_of(text) == expected


def test_invalid_yaml_names_source() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("a: [", {}, source="my.yaml")
    assert len(info.value.issues) == 1
    assert info.value.issues[0].startswith("my.yaml: invalid YAML: ")


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


# --- model details ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        pytest.param("app:handler", ("app", "handler"), id="colon"),
        pytest.param("pkg.mod:fn", ("pkg.mod", "fn"), id="colon-dotted-module"),
        pytest.param("lambda_function.lambda_handler", ("lambda_function", "lambda_handler"),
                     id="lambda-dot-form"),
        pytest.param("pkg.mod.fn", ("pkg.mod", "fn"), id="lambda-dot-form-package"),
    ],
)  # fmt: skip
def test_handler_forms(handler: str, expected: tuple[str, str]) -> None:
    assert FunctionConfig(handler=handler).module_and_attr == expected


@pytest.mark.parametrize(
    "handler",
    [
        pytest.param("app", id="no-separator"),
        pytest.param("app:", id="no-function"),
        pytest.param(":fn", id="no-module"),
        pytest.param("1app:fn", id="module-starts-with-digit"),
        pytest.param("app:fn()", id="call"),
        pytest.param("app/handler.fn", id="path"),
    ],
)
def test_bad_handlers_rejected(handler: str) -> None:
    text = f"functions: {{fn: {{handler: '{handler}'}}}}\n"
    assert issues_of(text) == [
        "functions.fn.handler: Value error, must be 'module:function' (or Lambda's "
        "'module.function')"
    ]


@pytest.mark.parametrize(
    ("listen", "host", "port"),
    [
        pytest.param("127.0.0.1:9102", "127.0.0.1", 9102, id="ipv4"),
        pytest.param("0.0.0.0:0", "0.0.0.0", 0, id="any-port-0"),
        pytest.param("localhost:8080", "localhost", 8080, id="hostname"),
        pytest.param("[::1]:9102", "::1", 9102, id="ipv6"),
    ],
)
def test_http_listen(listen: str, host: str, port: int) -> None:
    http = HttpConfig(listen=listen)
    assert (http.host, http.port) == (host, port)


@pytest.mark.parametrize(
    "listen",
    [
        pytest.param("localhost", id="no-port"),
        pytest.param("localhost:99999", id="port-too-big"),
        pytest.param(":9102", id="no-host"),
        pytest.param("::1:9102", id="ipv6-without-brackets"),
    ],
)
def test_http_listen_rejected(listen: str) -> None:
    text = f"functions: {{fn: {{handler: 'a:b'}}}}\nhttp: {{listen: '{listen}'}}\n"
    assert issues_of(text) == [
        "http.listen: Value error, must be HOST:PORT, for example 127.0.0.1:9102"
    ]


def test_config_is_frozen() -> None:
    config = parse_config("functions: {fn: {handler: 'a:b'}}", {})
    with pytest.raises(ValueError, match="frozen"):
        config.shutdown_timeout = 1.0


# --- files ---------------------------------------------------------------------------------------


def test_load_config_reads_file(tmp_path: Path) -> None:
    path = tmp_path / "poller.yaml"
    path.write_text(config_text("{function: fn, event_source_arn: '${Q}'}"), encoding="utf-8")
    config = load_config(path, {"Q": QUEUE})
    assert isinstance(config, PollerConfig)
    assert config.mappings[0].event_source_arn == QUEUE


def test_load_config_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert info.value.issues == [f"{path}: cannot read: No such file or directory"]


def test_load_config_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    # A reload reads the file again: a stray Latin-1 byte must be refused, not crash.
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"functions: {fn: {handler: 'caf\xe9:handler'}}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert info.value.issues == [f"{path}: cannot read: not UTF-8 text (byte 30)"]


def test_load_config_invalid_yaml_names_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("a: [", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert info.value.issues[0].startswith(f"{path}: invalid YAML: ")


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(EXAMPLE, id="poller.example.yaml"),
        pytest.param(EXAMPLE.parents[1] / "poller" / "demo" / "demo.yaml", id="demo.yaml"),
    ],
)
def test_shipped_config_loads(path: Path) -> None:
    config = load_config(path, {})
    assert config.functions


# --- stream mappings: Kinesis and DynamoDB Streams (§1.1, §1.2) -------------------------------

KINESIS = "arn:aws:kinesis:us-east-1:123456789012:stream/clicks"
DDB_STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/Orders/stream/2024-01-01T00:00:00.000"
DDB_TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/Orders"
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


def test_unknown_key_named_like_the_union_tag() -> None:
    # Regression: only the tag pydantic inserts after `mappings[i]` is dropped, not a user key.
    text = config_text(f"{{function: fn, event_source_arn: '{KINESIS}', stream: 1}}")
    assert issues_of(text) == ["mappings[0].stream: unknown field"]


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


# --- state and function role --------------------------------------------------------------------


def test_state_defaults() -> None:
    state = parse_config("functions: {fn: {handler: 'a:b'}}", {}).state
    assert isinstance(state, SqliteState)
    assert (state.backend, state.path) == ("sqlite", ".poller/state.db")


def test_state_path_is_configurable() -> None:
    text = "functions: {fn: {handler: 'a:b'}}\nstate: {backend: sqlite, path: /var/lib/p.db}\n"
    state = parse_config(text, {}).state
    assert isinstance(state, SqliteState)
    assert state.path == "/var/lib/p.db"


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        pytest.param("{backend: redis}", ["state.backend: must be sqlite or dynamodb"],
                     id="unknown-backend"),
        pytest.param("{Backend: sqlite}", ["state.Backend: unknown field"], id="unknown-field"),
    ],
)  # fmt: skip
def test_state_errors(state: str, expected: list[str]) -> None:
    assert issues_of(f"functions: {{fn: {{handler: 'a:b'}}}}\nstate: {state}\n") == expected


@pytest.mark.parametrize(
    "role",
    [
        pytest.param("arn:aws:iam::123456789012:role/poller", id="role"),
        pytest.param("arn:aws:iam::123456789012:role/service-role/poller", id="role-with-path"),
        pytest.param("arn:aws-cn:iam::123456789012:role/poller", id="china-partition"),
        pytest.param("arn:aws-us-gov:iam::123456789012:role/poller", id="govcloud-partition"),
    ],
)
def test_function_role_accepted(role: str) -> None:
    text = f"functions: {{fn: {{handler: 'a:b', role: '{role}'}}}}\n"
    assert parse_config(text, {}).functions["fn"].role == role


def test_function_role_defaults_to_none() -> None:
    assert parse_config("functions: {fn: {handler: 'a:b'}}", {}).functions["fn"].role is None


@pytest.mark.parametrize(
    "role",
    [
        pytest.param("poller", id="bare-name"),
        pytest.param("arn:aws:iam::123456789012:user/poller", id="user-arn"),
        pytest.param("arn:aws:iam::123456789012:role/", id="no-role-name"),
        pytest.param("arn:aws:iam::12345:role/poller", id="short-account"),
        pytest.param("arn:aws:iam:us-east-1:123456789012:role/poller", id="with-region"),
        pytest.param("arn:aws:sts::123456789012:assumed-role/poller/s", id="assumed-role"),
        pytest.param("arn:aws:lambda:us-east-1:123456789012:function:fn", id="function-arn"),
    ],
)
def test_function_role_must_be_an_iam_role_arn(role: str) -> None:
    text = f"functions: {{fn: {{handler: 'a:b', role: '{role}'}}}}\n"
    assert issues_of(text) == [
        "functions.fn.role: String should match pattern '^arn:[\\w-]+:iam::\\d{12}:role/.+$'"
    ]


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

STREAM = f"function: fn, event_source_arn: '{KINESIS}', StartingPosition: LATEST"
SQS_DESTINATION = "arn:aws:sqs:us-east-1:123456789012:failures"
SNS_DESTINATION = "arn:aws:sns:us-east-1:123456789012:failures"
S3_DESTINATION = "arn:aws:s3:::failure-bucket"


def stream_mapping(fields: str) -> StreamMappingConfig:
    mapping = parse_config(config_text(f"{{{STREAM}, {fields}}}"), {}).mappings[0]
    assert isinstance(mapping, StreamMappingConfig)
    return mapping


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


def test_dynamodb_state() -> None:
    text = "functions: {fn: {handler: 'a:b'}}\nstate: {backend: dynamodb, table: poller-leases}\n"
    state = parse_config(text, {}).state
    assert isinstance(state, DynamoDbState)
    assert (state.table, state.failover_seconds, state.worker_id) == ("poller-leases", 10.0, None)


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ("{backend: dynamodb}", "state.table: Field required"),
        ("{backend: dynamodb, table: ab}", "state.table: String should match pattern"),
        ("{backend: dynamodb, table: 'a b c'}", "state.table: String should match pattern"),
        (
            "{backend: dynamodb, table: t1x, failover_seconds: 0.5}",
            "state.failover_seconds: Value '0.5' failed to satisfy constraint: Member must "
            "have value greater than or equal to 1",
        ),
        (
            "{backend: dynamodb, table: t1x, failover_seconds: 601}",
            "state.failover_seconds: Value '601' failed to satisfy constraint",
        ),
        ("{backend: dynamodb, table: t1x, worker_id: ''}", "state.worker_id: String should"),
        ("{backend: dynamodb, table: t1x, path: x.db}", "state.path: unknown field"),
        ("{backend: sqlite, table: t1x}", "state.table: unknown field"),
        ("{backend: redis}", "state.backend: must be sqlite or dynamodb"),
    ],
    ids=[
        "table-missing",
        "table-short",
        "table-space",
        "failover-low",
        "failover-high",
        "worker-empty",
        "path-on-dynamodb",
        "table-on-sqlite",
        "unknown-backend",
    ],
)
def test_bad_state(state: str, message: str) -> None:
    text = f"functions: {{fn: {{handler: 'a:b'}}}}\nstate: {state}\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, {})
    assert any(issue.startswith(message) for issue in caught.value.issues), caught.value.issues
