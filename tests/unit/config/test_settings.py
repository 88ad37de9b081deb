"""Daemon settings (settings.py): function handlers and roles, the HTTP listen address, state."""

from __future__ import annotations

import pytest
from config_cases import issues_of

from poller.config.loader import parse_config
from poller.config.settings import DynamoDbState, FunctionConfig, HttpConfig, SqliteState
from poller.errors import ConfigError

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
