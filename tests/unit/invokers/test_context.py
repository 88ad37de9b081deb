"""invokers.context.LambdaContext: every attribute of the Python runtime's context (§5.8)."""

from __future__ import annotations

import time
import types

import pytest

from poller.invokers import context as context_module
from poller.invokers.context import CognitoIdentity, FunctionIdentity, LambdaContext

IDENTITY = FunctionIdentity(
    function_name="orders",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:orders",
    memory_limit_in_mb="512",
    log_group_name="/aws/lambda/orders",
    log_stream_name="2024/01/14/[$LATEST]425d2a34d1f34d1f8b4b4b4b4b4b4b4b",
)
REQUEST_ID = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
NOW = 1_700_000_000.0


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(context_module, "time", types.SimpleNamespace(time=lambda: NOW))


def make(deadline_ms: int = int(NOW * 1000) + 3000) -> LambdaContext:
    return LambdaContext(IDENTITY, REQUEST_ID, deadline_ms)


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        pytest.param("aws_request_id", REQUEST_ID, id="aws_request_id"),
        pytest.param("function_name", "orders", id="function_name"),
        pytest.param("function_version", "$LATEST", id="function_version"),
        pytest.param(
            "invoked_function_arn",
            "arn:aws:lambda:us-east-1:123456789012:function:orders",
            id="invoked_function_arn",
        ),
        pytest.param("memory_limit_in_mb", "512", id="memory_limit_in_mb-is-str"),
        pytest.param("log_group_name", "/aws/lambda/orders", id="log_group_name"),
        pytest.param(
            "log_stream_name",
            "2024/01/14/[$LATEST]425d2a34d1f34d1f8b4b4b4b4b4b4b4b",
            id="log_stream_name",
        ),
        pytest.param("client_context", None, id="client_context-none"),
        pytest.param("tenant_id", None, id="tenant_id-none"),
    ],
)
def test_attribute(attribute: str, expected: object) -> None:
    value = getattr(make(), attribute)
    assert value == expected
    assert type(value) is type(expected)


def test_memory_limit_is_a_string_not_an_int() -> None:
    memory = make().memory_limit_in_mb
    assert isinstance(memory, str)
    assert int(memory) == 512


def test_function_version_can_be_set() -> None:
    identity = FunctionIdentity("f", "arn", "128", "/aws/lambda/f", "s", function_version="7")
    assert LambdaContext(identity, REQUEST_ID, 0).function_version == "7"


@pytest.mark.parametrize(
    "attribute",
    [
        pytest.param("cognito_identity_id", id="cognito_identity_id"),
        pytest.param("cognito_identity_pool_id", id="cognito_identity_pool_id"),
    ],
)
def test_identity_attributes_are_none(attribute: str) -> None:
    identity = make().identity
    assert isinstance(identity, CognitoIdentity)
    assert getattr(identity, attribute) is None


@pytest.mark.usefixtures("frozen_clock")
@pytest.mark.parametrize(
    ("deadline_ms", "expected"),
    [
        pytest.param(int(NOW * 1000) + 3000, 3000, id="three-seconds-left"),
        pytest.param(int(NOW * 1000) + 1, 1, id="one-ms-left"),
        pytest.param(int(NOW * 1000), 0, id="at-deadline"),
        pytest.param(int(NOW * 1000) - 5000, 0, id="past-deadline-clamped"),
        pytest.param(0, 0, id="epoch-deadline-clamped"),
    ],
)
def test_get_remaining_time_in_millis(deadline_ms: int, expected: int) -> None:
    remaining = make(deadline_ms).get_remaining_time_in_millis()
    assert remaining == expected
    assert type(remaining) is int


def test_remaining_time_uses_real_clock() -> None:
    context = LambdaContext(IDENTITY, REQUEST_ID, int(time.time() * 1000) + 10_000)
    assert 9_000 < context.get_remaining_time_in_millis() <= 10_000


def test_w3c_returns_empty_dict() -> None:
    assert make().w3c() == {}


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param("hello", "hello", id="str"),
        pytest.param("line\n", "line\n", id="newline-kept"),
        pytest.param(42, "42", id="non-str"),
    ],
)
def test_log_writes_to_stdout(
    message: object, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    make().log(message)
    captured = capsys.readouterr()
    assert captured.out == expected
    assert captured.err == ""


def test_repr_names_request_and_function() -> None:
    text = repr(make())
    assert text.startswith("LambdaContext([")
    assert f"aws_request_id={REQUEST_ID}" in text
    assert "function_name=orders" in text
    assert "memory_limit_in_mb=512" in text
