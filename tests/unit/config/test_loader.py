"""Loading a config (loader.py): YAML, ${ENV} interpolation, error paths and messages, files."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_cases import KINESIS, QUEUE, config_text, issues_of, rng

from poller.config.loader import load_config, parse_config
from poller.config.models import PollerConfig
from poller.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[3] / "config" / "poller.example.yaml"


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


def test_unknown_key_named_like_the_union_tag() -> None:
    # Regression: only the tag pydantic inserts after `mappings[i]` is dropped, not a user key.
    text = config_text(f"{{function: fn, event_source_arn: '{KINESIS}', stream: 1}}")
    assert issues_of(text) == ["mappings[0].stream: unknown field"]
