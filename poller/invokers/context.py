"""The Lambda context object, attribute for attribute as the Python runtime builds it (§5.8)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass


@dataclass(slots=True)
class CognitoIdentity:
    cognito_identity_id: str | None = None
    cognito_identity_pool_id: str | None = None


@dataclass(frozen=True, slots=True)
class FunctionIdentity:
    """What the context reports about the function; the same for every invocation."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: str
    log_group_name: str
    log_stream_name: str
    function_version: str = "$LATEST"


class LambdaContext:
    """`context` as passed to `handler(event, context)`.

    `memory_limit_in_mb` is a string, as in the real runtime. `client_context` and `tenant_id` are
    None and `identity` is empty for event source mapping invokes.
    """

    def __init__(self, function: FunctionIdentity, request_id: str, deadline_ms: int) -> None:
        self.aws_request_id = request_id
        self.function_name = function.function_name
        self.function_version = function.function_version
        self.invoked_function_arn = function.invoked_function_arn
        self.memory_limit_in_mb = function.memory_limit_in_mb
        self.log_group_name = function.log_group_name
        self.log_stream_name = function.log_stream_name
        self.identity = CognitoIdentity()
        self.client_context: object | None = None
        self.tenant_id: str | None = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def w3c(self) -> dict[str, str]:
        return {}

    def log(self, msg: object) -> None:
        sys.stdout.write(str(msg))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},"
            f"function_name={self.function_name},function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},"
            f"memory_limit_in_mb={self.memory_limit_in_mb}])"
        )
