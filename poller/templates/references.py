"""What `Ref` and `Fn::GetAtt` give for the resource types a template's triggers use, without a
deployed stack: names are the ones poller gives (or `--create-resources` creates) them.

A resource's name is its name property (`QueueName`, `Name`, `TableName`, ...) when the template
sets one, else `<stack>-<LogicalId>` (CloudFormation adds a random suffix; poller's name is
stable, so a restart finds what the last run created). A function's name is its `FunctionName`,
else its logical ID: it names the function in poller's configuration and logs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from poller.templates.stack import Stack


@dataclass(frozen=True, slots=True)
class Kind:
    """One resource type: its name property, how a default name is made valid, what `Ref` gives
    and each attribute `Fn::GetAtt` knows (each a function of the stack and the name)."""

    name_property: str
    ref: Callable[[Stack, str], str]
    attributes: dict[str, Callable[[Stack, str], str]]
    clean: Callable[[str], str] = lambda name: name


def _queue_arn(stack: Stack, name: str) -> str:
    return stack.arn("sqs", name)


def _stream_arn(stack: Stack, name: str) -> str:
    return stack.arn("kinesis", f"stream/{name}")


def _table_arn(stack: Stack, name: str) -> str:
    return stack.arn("dynamodb", f"table/{name}")


def _topic_arn(stack: Stack, name: str) -> str:
    return stack.arn("sns", name)


def _function_arn(stack: Stack, name: str) -> str:
    return stack.arn("lambda", f"function:{name}")


def _role_arn(stack: Stack, name: str) -> str:
    return stack.arn("iam", f"role/{name}", region=False)


def _bucket_name(name: str) -> str:
    cleaned = re.sub(r"[^a-z0-9.-]", "-", name.lower()).strip("-.")
    return cleaned[:63] or "bucket"


def _limited(limit: int) -> Callable[[str], str]:
    def clean(name: str) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]", "-", name)[:limit]

    return clean


KINDS: dict[str, Kind] = {
    "AWS::SQS::Queue": Kind(
        "QueueName",
        lambda stack, name: stack.queue_url(name),
        {
            "Arn": _queue_arn,
            "QueueName": lambda stack, name: name,
            "QueueUrl": lambda stack, name: stack.queue_url(name),
        },
        _limited(80),
    ),
    "AWS::Kinesis::Stream": Kind(
        "Name", lambda stack, name: name, {"Arn": _stream_arn}, _limited(128)
    ),
    # StreamArn: the table's ARN, which poller reads as "the table's latest stream" (a stream
    # ARN's label is known only once the table exists).
    "AWS::DynamoDB::Table": Kind(
        "TableName",
        lambda stack, name: name,
        {"Arn": _table_arn, "StreamArn": _table_arn},
        _limited(255),
    ),
    "AWS::SNS::Topic": Kind(
        "TopicName",
        _topic_arn,
        {"TopicArn": _topic_arn, "TopicName": lambda stack, name: name},
        _limited(256),
    ),
    "AWS::S3::Bucket": Kind(
        "BucketName",
        lambda stack, name: name,
        {"Arn": lambda stack, name: f"arn:{stack.partition}:s3:::{name}"},
        _bucket_name,
    ),
    "AWS::Lambda::Function": Kind(
        "FunctionName", lambda stack, name: name, {"Arn": _function_arn}, _limited(64)
    ),
    "AWS::IAM::Role": Kind(
        "RoleName",
        lambda stack, name: name,
        {"Arn": _role_arn},
        _limited(64),
    ),
}


def default_name(kind: str, stack: Stack, logical_id: str, fifo: bool = False) -> str:
    """The name a resource without a name property gets (FIFO queues and topics end `.fifo`)."""
    if kind == "AWS::Lambda::Function":
        return logical_id
    suffix = ".fifo" if fifo else ""
    base = KINDS[kind].clean(f"{stack.name}-{logical_id}")
    return base[: 80 - len(suffix)] + suffix if suffix else base
