"""Parsing of AWS ARNs, and the few ARNs poller derives itself."""

from __future__ import annotations

from dataclasses import dataclass


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
