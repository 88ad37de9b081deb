"""A template's `AWS::Lambda::Function` as a poller function: its target (a Python handler and
its code directory, or the URL or deployed function the command line names) and its settings
(Timeout, MemorySize, Environment, ReservedConcurrentExecutions, Role)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from poller.templates.errors import TemplateError
from poller.templates.intrinsics import NO_VALUE, Resolver
from poller.templates.sam import Expanded

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
_RIE_PATH = "/2015-03-31/functions/function/invocations"


@dataclass(frozen=True)
class Targets:
    """Command-line choices about functions: `--function-url`, `--function-name` (by logical
    ID or function name) and `--isolation` for Python handlers."""

    urls: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    isolation: str = "thread"


def function_config(
    logical_id: str,
    resolver: Resolver,
    expanded: Expanded,
    template_dir: Path,
    targets: Targets,
    path: str,
    notes: list[tuple[str, str]],
) -> dict[str, Any]:
    resource = resolver.resources[logical_id]
    properties = resource.get("Properties") or {}
    name = resolver.name(logical_id, path)
    for key in properties:
        if key in _FUNCTION_NOTES:
            notes.append((f"{path}.{key}", _FUNCTION_NOTES[key]))
        elif key not in _FUNCTION_USED and key not in _FUNCTION_QUIET:
            notes.append((f"{path}.{key}", "not used by poller"))
    function: dict[str, Any] = _target(
        logical_id, name, resource, resolver, expanded, template_dir, targets
    )
    if logical_id in expanded.generated_roles:
        properties = {k: v for k, v in properties.items() if k != "Role"}
    function.update(_settings(properties, resolver, path, notes))
    return function


def _settings(
    properties: dict[str, Any], resolver: Resolver, path: str, notes: list[tuple[str, str]]
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
            notes.append(
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
