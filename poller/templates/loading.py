"""Read a CloudFormation or SAM template file: JSON, or YAML with the short-form tags.

cfn-flip's loader reads the short forms (`!Ref X`, `!GetAtt Q.Arn`, `!Sub ...`) as their long
forms (`{"Ref": "X"}`, `{"Fn::GetAtt": ["Q", "Arn"]}`), as CloudFormation does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from poller.templates.errors import TemplateError

# Values a template may expand to: YAML aliases let a few lines name billions of them.
_LIMIT = 1_000_000


def read_template(path: Path) -> dict[str, Any]:
    """The template as plain dicts, lists and scalars; TemplateError for what cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError("", f"cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise TemplateError("", f"cannot read: not UTF-8 text (byte {exc.start})") from exc
    return parse_template(text)


def parse_template(text: str) -> dict[str, Any]:
    """JSON when the text is a JSON object (what `cdk synth` writes), else YAML."""
    try:
        raw = json.loads(text) if text.lstrip().startswith("{") else _yaml(text)
    except json.JSONDecodeError as exc:
        raise TemplateError("", f"invalid JSON: {exc}") from exc
    except RecursionError as exc:
        raise TemplateError("", "nested too deeply (an alias inside itself?)") from exc
    if not isinstance(raw, dict):
        raise TemplateError("", "the top level must be a mapping (Resources, Parameters, ...)")
    budget = [_LIMIT]
    try:
        plain: dict[str, Any] = _plain(raw, budget)
    except RecursionError as exc:
        raise TemplateError("", "nested too deeply (an alias inside itself?)") from exc
    _check_shape(plain)
    return plain


def _check_shape(template: dict[str, Any]) -> None:
    """The sections and resource fields the rest of the code reads are of the kind
    CloudFormation requires: a mapping where it takes a mapping, a string where a string."""
    for section in ("Parameters", "Conditions", "Mappings", "Globals", "Outputs"):
        if section in template and not isinstance(template[section], dict):
            raise TemplateError(section, "must be a mapping")
    function_globals = (template.get("Globals") or {}).get("Function")
    if function_globals is not None and not isinstance(function_globals, dict):
        raise TemplateError("Globals.Function", "must be a mapping of properties")
    resources = template.get("Resources")
    if not isinstance(resources, dict) or not resources:
        raise TemplateError("Resources", "a template needs a Resources section with resources")
    for logical_id, resource in resources.items():
        _check_resource(f"Resources.{logical_id}", resource)


def _check_resource(where: str, resource: Any) -> None:
    if where.startswith("Resources.Fn::ForEach"):
        raise TemplateError(where, "Fn::ForEach is not supported: write the resources out")
    if not isinstance(resource, dict):
        raise TemplateError(where, "a resource must be a mapping with a Type")
    if not isinstance(resource.get("Type"), str):
        raise TemplateError(f"{where}.Type", "required: the resource's type, a string")
    for field, kind, name in (
        ("Properties", dict, "a mapping"),
        ("Metadata", dict, "a mapping"),
        ("Condition", str, "the name of a condition"),
    ):
        if field in resource and not isinstance(resource[field], kind):
            raise TemplateError(f"{where}.{field}", f"must be {name}")


def _yaml(text: str) -> Any:
    try:
        from cfn_tools import load_yaml
    except ImportError as exc:  # pragma: no cover - the extra is part of `local` and `test`
        raise TemplateError(
            "", "reading templates needs the 'templates' extra: pip install 'poller[templates]'"
        ) from exc
    import yaml

    try:
        return load_yaml(text)
    except yaml.YAMLError as exc:
        raise TemplateError("", f"invalid YAML: {exc}") from exc
    except RecursionError:
        raise
    except Exception as exc:  # PyYAML's constructors raise plain errors for some scalars
        raise TemplateError("", f"invalid YAML: {type(exc).__name__}: {exc}") from exc


def _plain(node: Any, budget: list[int]) -> Any:
    """cfn-flip's ordered dicts as dicts; each value counted against the alias budget."""
    budget[0] -= 1
    if budget[0] < 0:
        raise TemplateError("", f"over {_LIMIT} values (YAML aliases?)")
    if isinstance(node, dict):
        return {str(k): _plain(v, budget) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v, budget) for v in node]
    return node
