"""A handler for tests/integration/test_secrets_in_logs.py, run by a `poller run` process.

By message body: "ok..." succeeds; "aws-error" raises with the process's AWS secret key in the
text the way a leaky library would (`aws_secret_access_key=...`); "session-error" raises with
its session token as an `X-Amz-Security-Token` header; "boom" raises a plain error.
"""

from __future__ import annotations

import os
from typing import Any


def handler(event: dict[str, Any], context: Any) -> None:
    for record in event["Records"]:
        body = record["body"]
        if body == "aws-error":
            key = os.environ["AWS_SECRET_ACCESS_KEY"]
            raise RuntimeError(f"upstream refused the request: aws_secret_access_key={key}")
        if body == "session-error":
            token = os.environ["AWS_SESSION_TOKEN"]
            raise RuntimeError(
                f"signed request failed; headers {{'X-Amz-Security-Token': '{token}'}}"
            )
        if body == "boom":
            raise ValueError("boom")
