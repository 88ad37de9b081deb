"""Execution roles: a function's `role` is assumed through STS, as Lambda assumes its execution
role, and its sources and destinations are read and written with those credentials.

The credentials refresh themselves before they expire (botocore's refreshable credentials: from
15 minutes before expiry, and they must be fresh 10 minutes before it).
"""

from __future__ import annotations

from typing import Any

from aiobotocore.credentials import AioRefreshableCredentials
from botocore.exceptions import ClientError

from poller.aws import Aws
from poller.errors import StartupError, error_code, is_retriable

SESSION_SECONDS = 3600


async def assume_role(aws: Aws, role_arn: str, function: str) -> Aws:
    """An `Aws` acting as `role_arn`. A role that cannot be assumed (access denied, no such
    role) is a StartupError naming the function; faults that may heal propagate as they are."""

    async def fetch() -> dict[str, Any]:
        async with aws.client("sts") as sts:
            response = await sts.assume_role(
                RoleArn=role_arn,
                RoleSessionName=f"poller-{function}"[:64],
                DurationSeconds=SESSION_SECONDS,
            )
        credentials = response["Credentials"]
        return {
            "access_key": credentials["AccessKeyId"],
            "secret_key": credentials["SecretAccessKey"],
            "token": credentials["SessionToken"],
            "expiry_time": credentials["Expiration"].isoformat(),
        }

    try:
        first = await fetch()
    except ClientError as exc:
        if is_retriable(exc):
            raise
        raise StartupError(
            f"functions.{function}.role: cannot assume {role_arn}: {error_code(exc)}: {exc}"
        ) from exc
    credentials = AioRefreshableCredentials.create_from_metadata(
        first, refresh_using=fetch, method="sts-assume-role"
    )
    return aws.with_credentials(credentials)
