"""Parsing of AWS ARNs, and the few ARNs poller derives itself."""

from __future__ import annotations

import re
from dataclasses import dataclass

# CreateEventSourceMapping's FunctionName: a name, a partial ARN (ACCOUNT:function:NAME) or a full
# ARN, each optionally qualified by a version or alias (the API's own pattern, 1-140 characters).
FUNCTION_NAME_PATTERN = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
    r"(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?"
)
_FUNCTION_NAME = re.compile(
    r"(?:arn:(?:aws[a-zA-Z-]*)?:lambda:)?(?:[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d:)?"
    r"(?:\d{12}:)?(?:function:)?(?P<name>[a-zA-Z0-9_-]+)(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?"
)


@dataclass(frozen=True, slots=True)
class FunctionRef:
    """A FunctionName as CreateEventSourceMapping takes it: the function's name and the version
    or alias it names (None: unqualified or $LATEST)."""

    name: str
    qualifier: str | None = None

    @classmethod
    def parse(cls, text: str) -> FunctionRef:
        """ValueError, in the Lambda API's words, for anything the API would refuse."""
        match = _FUNCTION_NAME.fullmatch(text) if len(text) <= 140 else None
        if match is None or len(match["name"]) > 64:
            raise ValueError(
                f"Value '{text}' at 'functionName' failed to satisfy constraint: Member must "
                f"satisfy regular expression pattern: {FUNCTION_NAME_PATTERN}"
            )
        qualifier = match["qualifier"]
        return cls(match["name"], None if qualifier in (None, "$LATEST") else qualifier)


@dataclass(frozen=True, slots=True)
class Arn:
    """arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE."""

    partition: str
    service: str
    region: str
    account: str
    resource: str

    @classmethod
    def parse(cls, text: str) -> Arn:
        parts = text.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn" or not all(parts[1:3]) or not parts[5]:
            raise ValueError(f"not an ARN: {text!r}")
        return cls(*parts[1:])

    @property
    def resource_name(self) -> str:
        """The resource's own name: queue name, stream name, table name."""
        parts = self.resource.split("/")
        return parts[1] if len(parts) > 1 else parts[0]

    @property
    def is_fifo_queue(self) -> bool:
        return self.service == "sqs" and self.resource.endswith(".fifo")

    def function_arn(self, function_name: str) -> str:
        """The ARN a function of this name would have in this ARN's account and region."""
        return f"arn:{self.partition}:lambda:{self.region}:{self.account}:function:{function_name}"

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"
