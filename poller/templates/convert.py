"""CloudFormation's `AWS::Lambda::Function` and `AWS::Lambda::EventSourceMapping` resources as
poller's `functions` and `mappings`, each remembered with the template path it came from."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from poller.arns import Arn, FunctionRef
from poller.templates.errors import TemplateError
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
_FUNCTION_QUIET = {"Tags", "Description", "Architectures", "PackageType", "Code", "FunctionName"}
_FUNCTION_NOTES = {
    "Layers": "layers are not added: put what the handler imports under its code directory",
    "VpcConfig": "the handler runs on this machine's network",
    "FileSystemConfigs": "file systems are not mounted",
    "DeadLetterConfig": "applies to asynchronous invocations only; mappings invoke synchronously",
    "TracingConfig": "not traced",
    "LoggingConfig": "the handler's output goes to poller's log",
    "EphemeralStorage": "the handler uses this machine's disk",
    "KmsKeyArn": "environment variables are not encrypted",
    "ImageConfig": "not used: the image runs outside poller",
    "SnapStart": "not used",
    "RuntimeManagementConfig": "the handler runs on this machine's Python",
    "CodeSigningConfigArn": "not used",
    "RecursiveLoop": "not used",
}
_FUNCTION_USED = {
    "Handler",
    "Runtime",
    "Timeout",
    "MemorySize",
    "Environment",
    "Role",
    "ReservedConcurrentExecutions",
}
_SOURCES = ("sqs", "kinesis", "dynamodb")
_RIE_PATH = "/2015-03-31/functions/function/invocations"


@dataclass(frozen=True)
class Targets:
    """Command-line choices about functions: `--function-url`, `--function-name` (by logical
    ID or function name) and `--isolation` for Python handlers."""

    urls: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    isolation: str = "thread"


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
            out.functions[name] = _function(
                function_id, resolver, expanded, template_dir, targets, function_path, out
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


def _function(
    logical_id: str,
    resolver: Resolver,
    expanded: Expanded,
    template_dir: Path,
    targets: Targets,
    path: str,
    out: Converted,
) -> dict[str, Any]:
    resource = resolver.resources[logical_id]
    properties = resource.get("Properties") or {}
    name = resolver.name(logical_id, path)
    for key in properties:
        if key in _FUNCTION_NOTES:
            out.notes.append((f"{path}.{key}", _FUNCTION_NOTES[key]))
        elif key not in _FUNCTION_USED and key not in _FUNCTION_QUIET:
            out.notes.append((f"{path}.{key}", "not used by poller"))
    function: dict[str, Any] = _target(
        logical_id, name, resource, resolver, expanded, template_dir, targets
    )
    if logical_id in expanded.generated_roles:
        properties = {k: v for k, v in properties.items() if k != "Role"}
    function.update(_settings(properties, resolver, path, out))
    return function


def _settings(
    properties: dict[str, Any], resolver: Resolver, path: str, out: Converted
) -> dict[str, Any]:
    """Timeout, MemorySize, Environment, ReservedConcurrentExecutions and Role."""
    settings: dict[str, Any] = {}
    for key, field_name in (
        ("Timeout", "timeout"),
        ("MemorySize", "memory_size"),
        ("ReservedConcurrentExecutions", "reserved_concurrency"),
    ):
        value = resolver.resolve(properties.get(key, NO_VALUE), f"{path}.{key}")
        if value is not NO_VALUE:
            settings[field_name] = value
    environment = resolver.resolve(properties.get("Environment", {}), f"{path}.Environment")
    if environment is not NO_VALUE:
        if not isinstance(environment, dict):
            raise TemplateError(f"{path}.Environment", "must be a mapping with Variables")
        variables = environment.get("Variables", {})
        where = f"{path}.Environment.Variables"
        if not isinstance(variables, dict):
            raise TemplateError(where, "must be a mapping of names to values")
        if variables:
            settings["environment"] = {
                str(k): resolver.text(v, f"{where}.{k}") for k, v in variables.items()
            }
    role = properties.get("Role")
    if role is not None:
        declared = _declared_role(role, resolver)
        if declared:
            out.notes.append(
                (
                    f"{path}.Role",
                    f"{declared} is the template's own role: poller uses its own "
                    "credentials (set functions.<name>.role to an existing role to assume one)",
                )
            )
        else:
            settings["role"] = resolver.text(role, f"{path}.Role")
    return settings


def _declared_role(value: Any, resolver: Resolver) -> str | None:
    """The logical ID of a role the template declares that `value` names, if it does."""
    if isinstance(value, dict) and len(value) == 1:
        ((key, argument),) = value.items()
        if key == "Fn::GetAtt":
            target = argument.split(".", 1)[0] if isinstance(argument, str) else argument[0]
        elif key == "Ref":
            target = argument
        else:
            return None
        resource = resolver.resources.get(target) if isinstance(target, str) else None
        if isinstance(resource, dict) and resource.get("Type") == "AWS::IAM::Role":
            return str(target)
    return None


def _target(
    logical_id: str,
    name: str,
    resource: dict[str, Any],
    resolver: Resolver,
    expanded: Expanded,
    template_dir: Path,
    targets: Targets,
) -> dict[str, Any]:
    """The function's target: a URL or function name given on the command line, else its
    Python handler and code directory. TemplateError naming the options for what poller
    cannot run itself (an image, another runtime, code only in S3)."""
    for key in (logical_id, name):
        if key in targets.urls:
            url = targets.urls[key]
            return {"url": url if url.rstrip("/").count("/") > 2 else url.rstrip("/") + _RIE_PATH}
        if key in targets.names:
            return {"function_name": targets.names[key]}
    properties = resource.get("Properties") or {}
    path = expanded.origins.get(logical_id, f"Resources.{logical_id}.Properties")
    options = (
        f"give --function-url {logical_id}=URL (an HTTP endpoint that speaks Lambda's Invoke API, "
        f"such as the Runtime Interface Emulator) or --function-name {logical_id}=NAME (a "
        "deployed Lambda function)"
    )

    def text(key: str) -> str:
        value = resolver.resolve(properties.get(key, ""), f"{path}.{key}")
        return "" if value is NO_VALUE else resolver.text(value, f"{path}.{key}")

    if text("PackageType") == "Image":
        raise TemplateError(
            f"{path}.PackageType",
            "Image: poller does not start containers; run the image with its emulator "
            f"(docker run -p 9000:8080 IMAGE) and {options}",
        )
    runtime = text("Runtime")
    if not runtime.startswith("python3"):
        raise TemplateError(
            f"{path}.Runtime",
            f"{runtime or 'no runtime'}: poller runs Python handlers itself; for others, {options}",
        )
    handler = text("Handler")
    if not handler:
        raise TemplateError(f"{path}.Handler", "required: module.function of the handler")
    code = _code_dir(logical_id, resource, expanded, path, options)
    return {
        "handler": handler.replace("/", "."),
        "code_uri": str((template_dir / code).resolve()),
        "isolation": targets.isolation,
    }


def _code_dir(
    logical_id: str, resource: dict[str, Any], expanded: Expanded, path: str, options: str
) -> str:
    if logical_id in expanded.code:  # a SAM function
        code = expanded.code[logical_id]
        if code is None:
            raise TemplateError(
                f"{path}.CodeUri", f"the code is in S3: give a local path, or {options}"
            )
        return code
    code_property = (resource.get("Properties") or {}).get("Code") or {}
    asset = (resource.get("Metadata") or {}).get("aws:asset:path")
    if isinstance(asset, str):  # `cdk synth`: the asset's directory, beside the template
        return asset
    if isinstance(code_property, dict) and "ZipFile" in code_property:
        raise TemplateError(
            f"{path}.Code.ZipFile", "inline code is not run: put it in a file under a directory"
        )
    if isinstance(code_property, dict) and "ImageUri" in code_property:
        raise TemplateError(f"{path}.Code.ImageUri", f"poller does not start containers: {options}")
    raise TemplateError(f"{path}.Code", f"the code is in S3: {options}")
