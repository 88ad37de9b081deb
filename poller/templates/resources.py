"""`--create-resources`: the template's queues (dead-letter queues first), streams, tables with
streams, topics and buckets, created where poller points when they are missing."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from poller.errors import StartupError, error_code
from poller.local import ensure_queue, ensure_stream, ensure_table, wait_stream_enabled
from poller.templates.errors import TemplateError
from poller.templates.intrinsics import NO_VALUE, Resolver

# The queue properties CreateQueue takes as attributes (all others are noted, not created).
_QUEUE_ATTRIBUTES = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "RedriveAllowPolicy",
    "RedrivePolicy",
    "VisibilityTimeout",
)
_TABLE_PARAMETERS = (
    "KeySchema",
    "AttributeDefinitions",
    "BillingMode",
    "ProvisionedThroughput",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
)
CREATED = (
    "AWS::SQS::Queue",
    "AWS::Kinesis::Stream",
    "AWS::DynamoDB::Table",
    "AWS::SNS::Topic",
    "AWS::S3::Bucket",
)


@dataclass(frozen=True)
class Resource:
    """One resource to create: its type, logical ID, name and the request's parameters."""

    kind: str
    logical_id: str
    name: str
    parameters: dict[str, Any]
    after: tuple[str, ...] = ()  # logical IDs that must exist first (a queue's DLQ)


@dataclass(frozen=True)
class _Declared:
    """A resource as the template declares it: its name, and its properties resolved one by
    one as a builder uses them (what it does not use is noted, never resolved)."""

    logical_id: str
    name: str
    raw: dict[str, Any]
    resolver: Resolver
    path: str

    def get(self, key: str, default: Any = None) -> Any:
        if key not in self.raw:
            return default
        value = self.resolver.resolve(self.raw[key], f"{self.path}.{key}")
        return default if value is NO_VALUE else value

    def number(self, key: str, default: int) -> int:
        value = self.get(key, default)
        try:
            return int(value)
        except (TypeError, ValueError):
            raise TemplateError(f"{self.path}.{key}", f"{value!r} is not a number") from None

    def note_unused(self, used: set[str], what: str, out: Plan) -> None:
        for key in self.raw:
            if key not in used:
                out.notes.append((f"{self.path}.{key}", f"not set on the created {what}"))


# A create call's parameters, and the logical IDs that must exist before it.
_Request = tuple[dict[str, Any], tuple[str, ...]]


@dataclass
class Plan:
    resources: list[Resource] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)


def plan(resolver: Resolver) -> Plan:
    """What `--create-resources` creates, in order: a queue after the queues its RedrivePolicy
    names. Raises TemplateError for a property it uses that cannot be resolved."""
    out = Plan()
    for logical_id, resource in resolver.resources.items():
        kind = resource["Type"]
        if kind not in CREATED or not resolver.included(logical_id):
            continue
        path = f"Resources.{logical_id}.Properties"
        name = resolver.name(logical_id, path)
        declared = _Declared(logical_id, name, resource.get("Properties") or {}, resolver, path)
        parameters, after = _BUILDERS[kind](declared, out)
        out.resources.append(Resource(kind, logical_id, name, parameters, after))
    return Plan(_ordered(out.resources), out.notes)


def _ordered(resources: list[Resource]) -> list[Resource]:
    done: list[Resource] = []
    pending = list(resources)
    while pending:
        ready = [r for r in pending if all(a in {d.logical_id for d in done} for a in r.after)]
        if not ready:  # a cycle of redrive policies, or one naming a queue not in the plan
            ready = pending[:1]
        done.extend(ready)
        pending = [r for r in pending if r not in ready]
    return done


def _queue(declared: _Declared, out: Plan) -> _Request:
    """CreateQueue's attributes; the queues a redrive policy names come first."""
    attributes: dict[str, str] = {}
    after: list[str] = []
    for key in _QUEUE_ATTRIBUTES:
        value = declared.get(key)
        if value is None:
            continue
        if key in ("RedrivePolicy", "RedriveAllowPolicy"):
            policy = _policy(value, f"{declared.path}.{key}")
            target = policy.get("deadLetterTargetArn")
            after.extend(_queue_named(declared.resolver, str(target)) if target else [])
            attributes[key] = json.dumps(policy)
        else:
            attributes[key] = _text(value)
    declared.note_unused({*_QUEUE_ATTRIBUTES, "QueueName"}, "queue", out)
    return {"Attributes": attributes}, tuple(after)


def _policy(value: Any, path: str) -> dict[str, Any]:
    """A redrive policy, written as JSON text or as a mapping."""
    try:
        policy = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        raise TemplateError(path, "must be a JSON object") from None
    if not isinstance(policy, dict):
        raise TemplateError(path, "must be a JSON object")
    return policy


def _text(value: Any) -> str:
    """An attribute value as the API's text (`true`, not Python's `True`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _queue_named(resolver: Resolver, arn: str) -> list[str]:
    return [
        logical_id
        for logical_id, resource in resolver.resources.items()
        if resource["Type"] == "AWS::SQS::Queue"
        and resolver.included(logical_id)
        and resolver.get_att(logical_id, "Arn", "") == arn
    ]


def _stream(declared: _Declared, out: Plan) -> _Request:
    details = declared.get("StreamModeDetails") or {}
    mode = details.get("StreamMode", "PROVISIONED") if isinstance(details, dict) else None
    if mode not in ("PROVISIONED", "ON_DEMAND"):
        raise TemplateError(
            f"{declared.path}.StreamModeDetails", "StreamMode must be PROVISIONED or ON_DEMAND"
        )
    parameters: dict[str, Any] = {"StreamModeDetails": {"StreamMode": mode}}
    if mode == "PROVISIONED":
        parameters["ShardCount"] = declared.number("ShardCount", 1)
    declared.note_unused({"Name", "StreamModeDetails", "ShardCount"}, "stream", out)
    return parameters, ()


def _table(declared: _Declared, out: Plan) -> _Request:
    given = {key: declared.get(key) for key in _TABLE_PARAMETERS}
    parameters = {key: value for key, value in given.items() if value is not None}
    for required in ("KeySchema", "AttributeDefinitions"):
        if required not in parameters:
            raise TemplateError(f"{declared.path}.{required}", "required to create the table")
    if "ProvisionedThroughput" not in parameters:
        parameters.setdefault("BillingMode", "PAY_PER_REQUEST")
    specification = declared.get("StreamSpecification") or {}
    view = specification.get("StreamViewType") if isinstance(specification, dict) else None
    if view:
        parameters["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": view}
    declared.note_unused({*_TABLE_PARAMETERS, "TableName", "StreamSpecification"}, "table", out)
    return parameters, ()


def _topic(declared: _Declared, out: Plan) -> _Request:
    used = ("FifoTopic", "ContentBasedDeduplication")
    attributes = {key: _text(declared.get(key)) for key in used if key in declared.raw}
    declared.note_unused({*used, "TopicName"}, "topic", out)
    return {"Attributes": attributes}, ()


def _bucket(declared: _Declared, out: Plan) -> _Request:
    declared.note_unused({"BucketName"}, "bucket", out)
    return {}, ()


_BUILDERS = {
    "AWS::SQS::Queue": _queue,
    "AWS::Kinesis::Stream": _stream,
    "AWS::DynamoDB::Table": _table,
    "AWS::SNS::Topic": _topic,
    "AWS::S3::Bucket": _bucket,
}


async def create(aws: Any, resources: list[Resource], region: str) -> None:
    """Create each resource that is missing (`aws`: poller.aws.Aws); one that exists is left
    as it is. Logs `resource_created` or `resource_exists` for each."""
    import structlog

    log = structlog.get_logger("poller.templates")
    for resource in resources:
        try:
            created = await _CREATE[resource.kind](aws, resource, region)
        except Exception as exc:  # refused (access, a bad property): poller cannot start
            raise StartupError(
                f"--create-resources: {resource.kind} {resource.logical_id} ({resource.name}): "
                f"{error_code(exc)}: {exc}"
            ) from exc
        log.info(
            "resource_created" if created else "resource_exists",
            type=resource.kind,
            logical_id=resource.logical_id,
            name=resource.name,
        )


async def _create_queue(aws: Any, resource: Resource, region: str) -> bool:
    async with aws.client("sqs") as sqs:
        return await ensure_queue(sqs, resource.name, resource.parameters["Attributes"])


async def _create_stream(aws: Any, resource: Resource, region: str) -> bool:
    async with aws.client("kinesis") as kinesis:
        return await ensure_stream(kinesis, resource.name, **resource.parameters)


async def _create_table(aws: Any, resource: Resource, region: str) -> bool:
    async with aws.client("dynamodb") as dynamodb:
        created = await ensure_table(dynamodb, resource.name, **resource.parameters)
        described = await dynamodb.describe_table(TableName=resource.name)
    stream = described["Table"].get("LatestStreamArn")
    if created and stream:
        async with aws.client("dynamodbstreams") as streams:
            await wait_stream_enabled(streams, stream)
    return created


async def _create_topic(aws: Any, resource: Resource, region: str) -> bool:
    async with aws.client("sns") as sns:
        await sns.create_topic(Name=resource.name, **resource.parameters)  # idempotent
    return True


async def _create_bucket(aws: Any, resource: Resource, region: str) -> bool:
    async with aws.client("s3") as s3:
        location = (
            {}
            if region == "us-east-1"
            else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        )
        try:
            await s3.create_bucket(Bucket=resource.name, **location)
        except Exception as exc:
            if error_code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
            return False
    return True


_CREATE = {
    "AWS::SQS::Queue": _create_queue,
    "AWS::Kinesis::Stream": _create_stream,
    "AWS::DynamoDB::Table": _create_table,
    "AWS::SNS::Topic": _create_topic,
    "AWS::S3::Bucket": _create_bucket,
}
