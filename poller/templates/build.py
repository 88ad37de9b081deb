"""A template as poller configuration: the one entry point of `--template`.

`build` reads the template, runs SAM's transform when it names it, resolves what it needs
without a deployed stack, and adds the template's functions and mappings to the sections of a
config file (or to defaults). Every problem becomes a ConfigError issue whose path is the
template's (`template.yaml: Resources.Fn.Properties.Events.Q.Properties.BatchSize: ...`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from poller.config.loader import validate_config
from poller.config.models import PollerConfig
from poller.errors import ConfigError
from poller.templates.convert import Converted, convert
from poller.templates.errors import TemplateError
from poller.templates.functions import Targets
from poller.templates.intrinsics import Resolver
from poller.templates.loading import read_template
from poller.templates.resources import Plan, plan
from poller.templates.sam import expand
from poller.templates.stack import Stack, default_stack_name

# A config field of a function and the template property it came from.
_FUNCTION_FIELDS = {
    "timeout": "Timeout",
    "memory_size": "MemorySize",
    "environment": "Environment.Variables",
    "reserved_concurrency": "ReservedConcurrentExecutions",
    "handler": "Handler",
    "role": "Role",
    "code_uri": "CodeUri",
}
_FUNCTION_ISSUE = re.compile(
    r"^functions\.(?P<name>[^.:\s]+)(?:\.(?P<field>\w+))?(?P<rest>.*)$", re.S
)
_MAPPING_ISSUE = re.compile(r"^mappings\[(?P<index>\d+)\](?:\.(?P<field>\w+))?(?P<rest>.*)$", re.S)
# Rules that --isolation process answers for a template's functions.
_SHARED = ("in-process handlers share one environment", "in-process handlers share one set of")


@dataclass(frozen=True)
class TemplateOptions:
    """What the command line says about a template."""

    path: Path
    parameters: dict[str, str] = field(default_factory=dict)
    imports: dict[str, str] = field(default_factory=dict)
    stack_name: str | None = None
    account_id: str | None = None
    targets: Targets = field(default_factory=Targets)


@dataclass
class Built:
    """The configuration, what `--create-resources` would create, and the notes on what was
    read and not run."""

    config: PollerConfig
    data: dict[str, Any]
    plan: Plan
    notes: list[str]
    stack: Stack


def build(
    options: TemplateOptions,
    sections: dict[str, Any],
    account: Callable[[str | None, str], str],
) -> Built:
    """`sections`: a config file's raw sections (or `{}`), whose `aws` and `embedded` say where
    the template runs; their own functions and mappings come first. `account(endpoint,
    region)` names the AWS account when the template first needs it. ConfigError lists every
    problem."""
    source = str(options.path)
    aws = sections.get("aws") or {}
    region = str(aws.get("region") or "us-east-1")
    endpoint = aws.get("endpoint_url")
    stack = Stack(
        name=options.stack_name or default_stack_name(source),
        region=region,
        account_source=lambda: options.account_id or account(endpoint, region),
        endpoint_url=endpoint,
        parameters=options.parameters,
        imports=options.imports,
    )
    try:
        template = read_template(options.path)
        expanded = expand(template, options.parameters, region)
        resolver = Resolver(expanded.template, stack)
        converted = convert(expanded, resolver, options.path.parent, options.targets)
        resources = plan(resolver)
    except TemplateError as exc:
        lines = exc.message.splitlines() if not exc.path else [str(exc)]
        raise ConfigError([f"{source}: {line}" for line in lines]) from exc
    except (ValueError, TypeError, AttributeError, KeyError, RecursionError) as exc:
        # A shape the checks above did not foresee: still one line and exit 2, never a
        # traceback (tests/unit/templates/test_template_fuzz.py looks for them).
        raise ConfigError(
            [f"{source}: cannot read the template: {type(exc).__name__}: {exc}"]
        ) from exc
    if not converted.mappings:
        raise ConfigError(
            [f"{source}: Resources: no SQS, Kinesis or DynamoDB event source mapping to run"]
        )
    data = _combined(sections, converted)
    try:
        config = validate_config(data)
    except ConfigError as exc:
        offset = len(sections.get("mappings") or [])
        issues = [_template_path(issue, converted, offset, source) for issue in exc.issues]
        raise ConfigError(issues) from exc
    notes = [f"{path}: {note}" for path, note in converted.notes + resources.notes]
    return Built(config, data, resources, notes, stack)


def _combined(sections: dict[str, Any], converted: Converted) -> dict[str, Any]:
    data = dict(sections)
    functions = dict(data.get("functions") or {})
    for name, function in converted.functions.items():
        if name in functions:
            raise ConfigError(
                [f"functions.{name}: the template defines a function of this name too"]
            )
        functions[name] = function
    data["functions"] = functions
    data["mappings"] = [*(data.get("mappings") or []), *converted.mappings]
    return data


def _template_path(issue: str, converted: Converted, offset: int, source: str) -> str:
    """A configuration issue about a template's function or mapping, at its template path."""
    function = _FUNCTION_ISSUE.match(issue)
    if function and function["name"] in converted.function_paths:
        where = converted.function_paths[function["name"]]
        if function["field"]:
            where += "." + _FUNCTION_FIELDS.get(function["field"], function["field"])
        text = f"{source}: {where}{function['rest']}"
        if any(shared in text for shared in _SHARED) and "isolation: process" not in text:
            text += (
                " (--isolation process runs each function in processes of its own, as Lambda does)"
            )
        return text
    mapping = _MAPPING_ISSUE.match(issue)
    if mapping and int(mapping["index"]) >= offset:
        where, renamed = converted.mapping_paths[int(mapping["index"]) - offset]
        if mapping["field"]:
            where += "." + renamed.get(mapping["field"], mapping["field"])
        return f"{source}: {where}{mapping['rest']}"
    return issue
