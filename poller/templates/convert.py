"""CloudFormation's `AWS::Lambda::Function` and `AWS::Lambda::EventSourceMapping` resources as
poller's `functions` and `mappings`, each remembered with the template path it came from."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from poller.arns import Arn, FunctionRef
from poller.templates.errors import TemplateError
from poller.templates.functions import Targets, function_config
from poller.templates.intrinsics import NO_VALUE, Resolver
from poller.templates.sam import Expanded

# EventSourceMapping properties poller runs, under the same names in its mapping config.
MAPPING_PROPERTIES = (
    "BatchSize",
    "MaximumBatchingWindowInSeconds",
    "StartingPosition",
    "ParallelizationFactor",
    "MaximumRetryAttempts",
    "BisectBatchOnFunctionError",
    "MaximumRecordAgeInSeconds",
    "DestinationConfig",
    "FunctionResponseTypes",
    "FilterCriteria",
    "TumblingWindowInSeconds",
    "ScalingConfig",
    "Enabled",
)
# EventSourceMapping properties that change nothing poller does: read, noted, not used.
_MAPPING_NOTES = {
    "Tags": "tags are not used",
    "KmsKeyArn": "filter criteria are not stored encrypted: not used",
    "MetricsConfig": "poller exports its own Prometheus metrics: not used",
    "ProvisionedPollerConfig": "poller's pollers are not provisioned: not used",
}
# Function properties that change nothing about how poller runs the handler.
_SOURCES = ("sqs", "kinesis", "dynamodb")


@dataclass
class Converted:
    """poller's functions and mappings, and the template path of each (for errors)."""

    functions: dict[str, dict[str, Any]] = field(default_factory=dict)
    mappings: list[dict[str, Any]] = field(default_factory=list)
    function_paths: dict[str, str] = field(default_factory=dict)
    # Each mapping's template path and {config field: template property} where they differ.
    mapping_paths: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)


def convert(
    expanded: Expanded, resolver: Resolver, template_dir: Path, targets: Targets
) -> Converted:
    """Every event source mapping of the template (whose Condition holds) and the functions
    they invoke. Raises TemplateError naming the resource and property."""
    out = Converted(notes=list(expanded.notes))
    resources = resolver.resources
    logical_of: dict[str, str] = {}  # function name → logical ID
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::EventSourceMapping":
            continue
        if not resolver.included(logical_id):
            continue
        path = expanded.origins.get(logical_id, f"Resources.{logical_id}.Properties")
        renamed = expanded.renamed.get(logical_id, {})
        (function_id, qualifier), mapping = _mapping(
            logical_id, resource, resolver, path, renamed, out
        )
        name = resolver.name(function_id, f"{path}.FunctionName")
        if name not in out.functions:
            function_path = expanded.origins.get(function_id, f"Resources.{function_id}.Properties")
            out.functions[name] = function_config(
                function_id, resolver, expanded, template_dir, targets, function_path, out.notes
            )
            out.function_paths[name] = function_path
            logical_of[name] = function_id
        mapping["FunctionName"] = f"{name}:{qualifier}" if qualifier else name
        if qualifier and "function_name" in out.functions[name]:
            out.functions[name].setdefault("qualifier", qualifier)  # the alias Lambda invokes
        out.mappings.append(mapping)
        out.mapping_paths.append((path, renamed))
    for logical_id, resource in resources.items():
        if (
            resource.get("Type") == "AWS::Lambda::Function"
            and logical_id not in logical_of.values()
            and resolver.included(logical_id)
        ):
            where = expanded.origins.get(logical_id, f"Resources.{logical_id}")
            out.notes.append((where, "no SQS, Kinesis or DynamoDB trigger: not run"))
    _check_targets(targets, resolver)
    return out


def _check_targets(targets: Targets, resolver: Resolver) -> None:
    """Every --function-url and --function-name names a function of the template."""
    known = set()
    for logical_id, resource in resolver.resources.items():
        if resource["Type"] == "AWS::Lambda::Function" and resolver.included(logical_id):
            known |= {logical_id, resolver.name(logical_id, f"Resources.{logical_id}")}
    for option, given in (("--function-url", targets.urls), ("--function-name", targets.names)):
        for key in given:
            if key not in known:
                raise TemplateError(
                    option, f"{key} is not a function of this template ({', '.join(sorted(known))})"
                )


def _mapping(
    logical_id: str,
    resource: dict[str, Any],
    resolver: Resolver,
    path: str,
    renamed: dict[str, str],
    out: Converted,
) -> tuple[tuple[str, str | None], dict[str, Any]]:
    properties = resource.get("Properties")
    if not isinstance(properties, dict):
        raise TemplateError(path, "an EventSourceMapping needs Properties")
    _check_mapping_properties(properties, path, renamed, out)
    source_key = renamed.get("EventSourceArn", "EventSourceArn")
    if "EventSourceArn" not in properties:
        raise TemplateError(f"{path}.{source_key}", "required: the queue or stream to read")
    arn = resolver.text(properties["EventSourceArn"], f"{path}.{source_key}")
    try:
        service = Arn.parse(arn).service
    except ValueError as exc:
        raise TemplateError(f"{path}.{source_key}", str(exc)) from None
    if service not in _SOURCES:
        raise TemplateError(
            f"{path}.{source_key}",
            f"{arn}: {service} sources are not supported (poller reads SQS, Kinesis, DynamoDB)",
        )
    mapping: dict[str, Any] = {"name": logical_id, "FunctionName": "", "EventSourceArn": arn}
    for key in MAPPING_PROPERTIES:
        if key in properties:
            value = resolver.resolve(properties[key], f"{path}.{key}")
            if value is not NO_VALUE:
                mapping[key] = value
    if "StartingPositionTimestamp" in properties:
        where = f"{path}.StartingPositionTimestamp"
        mapping["StartingPositionTimestamp"] = _timestamp(
            resolver.resolve(properties["StartingPositionTimestamp"], where), where
        )
    return _function_of(properties.get("FunctionName"), resolver, f"{path}.FunctionName"), mapping


def _check_mapping_properties(
    properties: dict[str, Any], path: str, renamed: dict[str, str], out: Converted
) -> None:
    """Note what changes nothing here; refuse what poller does not run (MQ's Queues, Kafka's
    Topics, SourceAccessConfigurations, ...)."""
    known = {*MAPPING_PROPERTIES, "FunctionName", "EventSourceArn", "StartingPositionTimestamp"}
    for key in properties:
        where = f"{path}.{renamed.get(key, key)}"
        if key in _MAPPING_NOTES:
            out.notes.append((where, _MAPPING_NOTES[key]))
        elif key not in known:
            raise TemplateError(where, "not supported: poller reads SQS, Kinesis and DynamoDB")


def _timestamp(value: Any, path: str) -> Any:
    """CloudFormation's StartingPositionTimestamp: seconds since the epoch (a number)."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return value  # an ISO time, as poller's config takes it
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, dt.UTC).isoformat()
    raise TemplateError(path, "must be seconds since the epoch")


def _function_of(
    value: Any, resolver: Resolver, path: str, seen: frozenset[str] = frozenset()
) -> tuple[str, str | None]:
    """The logical ID of the function a FunctionName names, and the alias or version it names
    (None: the function itself): `Ref` or `Fn::GetAtt ... Arn` of a function, an alias or a
    version in the template, or a function's name or ARN."""
    if value is None:
        raise TemplateError(path, "required: the function to invoke")
    target = _referenced(value)
    resources = resolver.resources
    if target is not None and target in resources:
        kind = resources[target]["Type"]
        if kind == "AWS::Lambda::Function":
            _exists(target, resolver, path)
            return target, None
        if kind in ("AWS::Lambda::Alias", "AWS::Lambda::Version") and target not in seen:
            _exists(target, resolver, path)
            properties = resources[target].get("Properties") or {}
            where = f"Resources.{target}.Properties"
            function_id, _ = _function_of(
                properties.get("FunctionName"), resolver, f"{where}.FunctionName", seen | {target}
            )
            alias = properties.get("Name") if kind == "AWS::Lambda::Alias" else None
            return function_id, resolver.text(alias, f"{where}.Name") if alias else None
        raise TemplateError(path, f"{target} is a {kind}, not a function")
    text = resolver.text(value, path)
    try:
        ref = FunctionRef.parse(text)
    except ValueError as exc:
        raise TemplateError(path, str(exc)) from None
    for logical_id, resource in resources.items():
        if (
            resource["Type"] == "AWS::Lambda::Function"
            and resolver.included(logical_id)
            and resolver.name(logical_id, path) == ref.name
        ):
            return logical_id, ref.qualifier
    raise TemplateError(path, f"names the function {ref.name!r}, which is not in this template")


def _referenced(value: Any) -> str | None:
    """The logical ID a `Ref` or `Fn::GetAtt` names, if `value` is one."""
    if isinstance(value, dict) and list(value) == ["Ref"] and isinstance(value["Ref"], str):
        return value["Ref"]
    if isinstance(value, dict) and list(value) == ["Fn::GetAtt"]:
        argument = value["Fn::GetAtt"]
        parts = argument.split(".", 1) if isinstance(argument, str) else argument
        if isinstance(parts, list) and parts and isinstance(parts[0], str):
            return parts[0]
    return None


def _exists(logical_id: str, resolver: Resolver, path: str) -> None:
    if not resolver.included(logical_id):
        raise TemplateError(path, f"{logical_id} is not created: its Condition is false")
