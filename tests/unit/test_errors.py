"""errors: the retry contract of poller's errors and the classification of botocore errors."""

from __future__ import annotations

from typing import Any, cast

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    ReadTimeoutError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from poller.errors import (
    MISSING_QUEUE_CODES,
    ConfigError,
    DeliveryFailed,
    InvalidPattern,
    InvokeError,
    LeaseLost,
    PollerError,
    StartupError,
    Throttled,
    error_code,
    is_retriable,
    source_refused,
)


def client_error(code: str, status: int | None = 400) -> ClientError:
    response: dict[str, Any] = {"Error": {"Code": code, "Message": f"{code} happened"}}
    if status is not None:
        response["ResponseMetadata"] = {"HTTPStatusCode": status}
    return ClientError(cast(Any, response), "ReceiveMessage")


@pytest.mark.parametrize(
    ("cls", "retriable"),
    [
        pytest.param(PollerError, False, id="PollerError"),
        pytest.param(ConfigError, False, id="ConfigError"),
        pytest.param(StartupError, False, id="StartupError"),
        pytest.param(LeaseLost, False, id="LeaseLost"),
        pytest.param(InvalidPattern, False, id="InvalidPattern"),
        pytest.param(DeliveryFailed, False, id="DeliveryFailed"),
        pytest.param(InvokeError, True, id="InvokeError"),
        pytest.param(Throttled, True, id="Throttled"),
    ],
)
def test_retry_contract(cls: type[PollerError], retriable: bool) -> None:
    assert cls.retriable is retriable
    assert issubclass(cls, PollerError)


@pytest.mark.parametrize(
    ("exc", "retriable"),
    [
        pytest.param(ConfigError(["a: b"]), False, id="ConfigError"),
        pytest.param(StartupError("missing queue"), False, id="StartupError"),
        pytest.param(LeaseLost("shardId-1"), False, id="LeaseLost"),
        pytest.param(DeliveryFailed("gone", {}), False, id="DeliveryFailed"),
        pytest.param(InvokeError("connection refused"), True, id="InvokeError"),
        pytest.param(Throttled("reserved concurrency"), True, id="Throttled"),
    ],
)
def test_the_retry_policy_reads_the_contract(exc: PollerError, retriable: bool) -> None:
    """`is_retriable`, on which every retry policy is built, answers what the class says."""
    assert is_retriable(exc) is retriable


def test_config_error_keeps_issues_and_joins_them() -> None:
    error = ConfigError(["a.b: bad", "c[0]: worse"])
    assert error.issues == ["a.b: bad", "c[0]: worse"]
    assert str(error) == "a.b: bad\nc[0]: worse"


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        pytest.param(client_error("ThrottlingException"), "ThrottlingException", id="client"),
        pytest.param(
            client_error("AWS.SimpleQueueService.NonExistentQueue"),
            "AWS.SimpleQueueService.NonExistentQueue",
            id="dotted-code",
        ),
        pytest.param(
            ClientError({"Error": {}}, "ReceiveMessage"), "Unknown", id="client-without-code"
        ),
        pytest.param(ClientError({}, "ReceiveMessage"), "Unknown", id="client-without-error"),
        pytest.param(
            EndpointConnectionError(endpoint_url="http://x"),
            "EndpointConnectionError",
            id="botocore-class-name",
        ),
        pytest.param(ValueError("x"), "ValueError", id="other-class-name"),
    ],
)
def test_error_code(exc: BaseException, expected: str) -> None:
    assert error_code(exc) == expected


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        # Network faults.
        pytest.param(EndpointConnectionError(endpoint_url="http://x"), True, id="endpoint"),
        pytest.param(
            BotoConnectionError(error=ConnectionResetError("reset")), True, id="connection"
        ),
        pytest.param(ConnectTimeoutError(endpoint_url="http://x"), True, id="connect-timeout"),
        pytest.param(ReadTimeoutError(endpoint_url="http://x"), True, id="read-timeout"),
        pytest.param(ConnectionResetError(), True, id="os-connection-reset"),
        pytest.param(TimeoutError(), True, id="timeout"),
        # Throttles and server faults.
        pytest.param(client_error("Throttling"), True, id="Throttling"),
        pytest.param(client_error("ThrottlingException"), True, id="ThrottlingException"),
        pytest.param(client_error("RequestThrottled"), True, id="RequestThrottled"),
        pytest.param(client_error("TooManyRequestsException"), True, id="TooManyRequests"),
        pytest.param(client_error("KMS.ThrottlingException"), True, id="KMS-throttling"),
        pytest.param(client_error("RequestTimeout"), True, id="RequestTimeout"),
        pytest.param(client_error("SlowDown", 503), True, id="SlowDown"),
        pytest.param(client_error("ServiceUnavailable", 503), True, id="ServiceUnavailable"),
        pytest.param(client_error("InternalError", 500), True, id="InternalError"),
        pytest.param(client_error("Whatever", 500), True, id="any-500"),
        pytest.param(client_error("Whatever", 502), True, id="any-502"),
        # Client errors that will not heal by retrying the same call.
        pytest.param(
            client_error("AWS.SimpleQueueService.NonExistentQueue"), False, id="missing-queue"
        ),
        pytest.param(client_error("AccessDenied", 403), False, id="access-denied"),
        pytest.param(client_error("InvalidParameterValue"), False, id="invalid-parameter"),
        pytest.param(client_error("ReceiptHandleIsInvalid"), False, id="receipt-handle"),
        pytest.param(client_error("Whatever", None), False, id="no-status"),
        # Not AWS errors at all.
        pytest.param(ValueError("x"), False, id="ValueError"),
        pytest.param(KeyError("x"), False, id="KeyError"),
        pytest.param(ConfigError(["x"]), False, id="ConfigError"),
    ],
)
def test_is_retriable(exc: BaseException, expected: bool) -> None:
    assert is_retriable(exc) is expected


@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(ParamValidationError(report="Invalid type for parameter"), id="param"),
        pytest.param(NoRegionError(), id="no-region"),
    ],
)
def test_client_side_botocore_errors_are_not_retriable(exc: BaseException) -> None:
    assert is_retriable(exc) is False


def test_missing_queue_codes() -> None:
    assert (
        frozenset(
            {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "NonExistentQueue"}
        )
        == MISSING_QUEUE_CODES
    )
    assert not any(is_retriable(client_error(code)) for code in MISSING_QUEUE_CODES)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        # Waiting will not help: the mapping cannot start (exit 2 at start-up).
        pytest.param(StartupError("Stream not found: s"), "m.arn: Stream not found: s", id="own"),
        pytest.param(
            client_error("AccessDeniedException", 400),
            "m.arn: AccessDeniedException: An error occurred (AccessDeniedException) when "
            "calling the ReceiveMessage operation: AccessDeniedException happened",
            id="access-denied",
        ),
        pytest.param(
            client_error("ExpiredTokenException", 400),
            "m.arn: ExpiredTokenException: An error occurred (ExpiredTokenException) when "
            "calling the ReceiveMessage operation: ExpiredTokenException happened",
            id="expired-token",
        ),
        pytest.param(
            NoCredentialsError(),
            "m.arn: NoCredentialsError: Unable to locate credentials",
            id="no-credentials",
        ),
        # May heal: retried by the caller, so not turned into a StartupError.
        pytest.param(client_error("ThrottlingException"), None, id="throttled"),
        pytest.param(client_error("InternalError", 500), None, id="server-error"),
        pytest.param(EndpointConnectionError(endpoint_url="http://x"), None, id="unreachable"),
        # Not AWS at all: a bug, re-raised as it is.
        pytest.param(KeyError("x"), None, id="KeyError"),
    ],
)
def test_source_refused(exc: Exception, expected: str | None) -> None:
    refused = source_refused("m.arn", exc)
    assert (str(refused) if refused is not None else None) == expected
