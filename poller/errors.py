"""Errors that carry their retry contract, and the one place botocore errors are classified.

botocore is imported inside the functions that classify its errors, not here: the configuration
layer raises ConfigError and InvalidPattern, and `poller validate` must not load botocore for
them (tests/unit/test_cli_imports.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class PollerError(Exception):
    """Base of poller's own errors. `retriable`: whether the same operation may succeed later;
    `is_retriable` reads it, and so every retry policy built on it."""

    retriable = False


class ConfigError(PollerError):
    """The configuration is invalid; each issue is `path: message`. Exit code 2."""

    def __init__(self, issues: list[str]) -> None:
        super().__init__("\n".join(issues))
        self.issues = issues


class StartupError(PollerError):
    """A mapping cannot start and waiting will not help (missing queue, bad handler). Exit 2."""


class SourceMissing(StartupError):
    """The event source an ARN names does not exist where it was looked for (AWS's words)."""


def leaves(group: BaseExceptionGroup[StartupError]) -> list[BaseException]:
    """The StartupErrors inside (possibly nested) task-group exception groups."""
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out


class LeaseLost(PollerError):
    """This replica no longer holds a shard's lease: another took it, or it expired here.

    Nothing more of that shard may be invoked or checkpointed by this replica.
    """

    def __init__(self, shard_id: str) -> None:
        super().__init__(f"the lease of shard {shard_id} is no longer held by this replica")
        self.shard_id = shard_id


class InvokeError(PollerError):
    """The event never reached the function (target unreachable, refused, timed out before the
    function ran). Retriable; never a function error, never counts as a stream retry."""

    retriable = True


class Throttled(InvokeError):
    """The invocation was refused for concurrency (TooManyRequestsException, a full
    concurrency limit): Lambda's Throttles metric."""


INVALID_PATTERN = "Invalid filter pattern definition."


class InvalidPattern(PollerError, ValueError):
    """A filter pattern Lambda would refuse: INVALID_PATTERN, then the reason in parentheses.

    Raised while a configuration loads; the loader reports it with the filter's path (exit 2).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"{INVALID_PATTERN} ({reason})")
        self.reason = reason


class DeliveryFailed(PollerError):
    """The on-failure destination did not take `record`, and retrying it is over (the cause is
    chained): the records are dropped, counted and logged whole."""

    def __init__(self, message: str, record: dict[str, Any]) -> None:
        super().__init__(message)
        self.record = record


# Codes for which retrying the same call later can succeed.
_RETRIABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "RequestThrottled",
        "TooManyRequestsException",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
        "KMS.ThrottlingException",
        "RequestTimeout",
        "RequestTimeoutException",
        "SlowDown",
        # Kinesis / DynamoDB Streams read limits (5 GetRecords/s/shard, 2 MB/s/shard):
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "KMSThrottlingException",
    }
)

# SQS reports a missing queue under several names depending on protocol and service version.
MISSING_QUEUE_CODES = frozenset(
    {
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "NonExistentQueue",
    }
)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore error, or the exception class name."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "Unknown"))
    return type(exc).__name__


def source_refused(path: str, exc: Exception) -> StartupError | None:
    """The StartupError for a source check that waiting will not fix, or None to re-raise.

    Covers poller's own StartupErrors (a missing queue or stream) and AWS refusing the call
    for good (AccessDenied, expired or missing credentials, a malformed request): at start-up
    these exit 2 naming `path`; a mapping started later fails alone.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, StartupError):
        return StartupError(f"{path}: {exc}")
    if isinstance(exc, (ClientError, BotoCoreError)) and not is_retriable(exc):
        return StartupError(f"{path}: {error_code(exc)}: {exc}")
    return None


@contextmanager
def checking_source(path: str) -> Iterator[None]:
    """Around a mapping's source check: what `source_refused` names becomes its StartupError,
    anything else (retriable, or a bug) goes on as it is."""
    try:
        yield
    except Exception as exc:
        refused = source_refused(path, exc)
        if refused is None:
            raise
        raise refused from exc


def is_retriable(exc: BaseException) -> bool:
    """True when the same call may succeed later: network faults, throttles, 5xx, and poller's
    own errors whose class says so (`PollerError.retriable`)."""
    if isinstance(exc, PollerError):
        return exc.retriable
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        ParamValidationError,
        ReadTimeoutError,
    )
    from botocore.exceptions import ConnectionError as BotoConnectionError

    if isinstance(exc, (EndpointConnectionError, BotoConnectionError, ReadTimeoutError)):
        return True
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error_code(exc) in _RETRIABLE_CODES or int(status) >= 500
    if isinstance(exc, (ParamValidationError, NoRegionError, NoCredentialsError)):
        return False
    if isinstance(exc, BotoCoreError):
        return True
    return isinstance(exc, (OSError, TimeoutError))
