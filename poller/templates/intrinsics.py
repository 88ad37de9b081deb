"""Resolve a template's intrinsic functions without a deployed stack.

Covered: `Ref` (parameters, pseudo parameters, the template's own resources), `Fn::GetAtt`,
`Fn::Sub`, `Fn::Join`, `Fn::Select`, `Fn::Split`, `Fn::If` with `Conditions` (`Fn::Equals`,
`Fn::And`, `Fn::Or`, `Fn::Not`, `Condition`), `Fn::FindInMap`, `Fn::ImportValue` (from the
values given on the command line), `Fn::Base64`, `Fn::Length` and `Fn::ToJsonString`. Anything
else is refused with its path: a value poller cannot know is never guessed.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from poller.templates.errors import TemplateError
from poller.templates.parameters import Unknown, parameter_values
from poller.templates.references import KINDS, default_name
from poller.templates.stack import Stack


class _NoValue:
    """`AWS::NoValue`: the property (or list item) it is given to is removed."""


NO_VALUE = _NoValue()
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_PSEUDO = ("AWS::Region", "AWS::AccountId", "AWS::StackName", "AWS::StackId", "AWS::Partition")


class Resolver:
    """Resolves values of one template for one stack. Every method raises TemplateError with
    the path of the value that cannot be resolved."""

    def __init__(self, template: dict[str, Any], stack: Stack) -> None:
        self.stack = stack
        self.resources: dict[str, Any] = template.get("Resources") or {}
        self.mappings: dict[str, Any] = template.get("Mappings") or {}
        self._conditions: dict[str, Any] = template.get("Conditions") or {}
        self._condition_values: dict[str, bool] = {}
        self._evaluating: set[str] = set()
        self._names: dict[str, str] = {}
        self._naming: set[str] = set()
        self.parameters = parameter_values(template.get("Parameters") or {}, stack.parameters)

    # -- values ----------------------------------------------------------------------------

    def resolve(self, value: Any, path: str) -> Any:
        """`value` with every intrinsic function replaced by what it gives."""
        if isinstance(value, list):
            items = [self.resolve(item, f"{path}[{i}]") for i, item in enumerate(value)]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref" or key.startswith("Fn::"):
                return self._function(key, argument, f"{path}.{key}")
        out = {}
        for key, item in value.items():
            resolved = self.resolve(item, f"{path}.{key}")
            if resolved is not NO_VALUE:
                out[key] = resolved
        return out

    def text(self, value: Any, path: str) -> str:
        resolved = self.resolve(value, path)
        if isinstance(resolved, bool):
            return "true" if resolved else "false"
        if not isinstance(resolved, str | int | float):
            raise TemplateError(path, f"must be a string, not {_shape(resolved)}")
        return str(resolved)

    def condition(self, name: str, path: str) -> bool:
        """A condition of the template's Conditions section, evaluated once."""
        if name not in self._condition_values:
            if name not in self._conditions:
                raise TemplateError(path, f"no condition named {name!r} in Conditions")
            if name in self._evaluating:
                raise TemplateError(f"Conditions.{name}", "depends on itself")
            self._evaluating.add(name)
            value = self._truth(self._conditions[name], f"Conditions.{name}")
            self._evaluating.discard(name)
            self._condition_values[name] = value
        return self._condition_values[name]

    def included(self, logical_id: str) -> bool:
        """Whether a resource exists in this stack (its `Condition`, if any, holds)."""
        condition = (self.resources.get(logical_id) or {}).get("Condition")
        if condition is None:
            return True
        return self.condition(str(condition), f"Resources.{logical_id}.Condition")

    # -- resources -------------------------------------------------------------------------

    def kind(self, logical_id: str, path: str) -> str:
        resource = self.resources.get(logical_id)
        if not isinstance(resource, dict):
            raise TemplateError(path, f"no resource named {logical_id!r} in this template")
        if not self.included(logical_id):
            raise TemplateError(path, f"{logical_id} is not created: its Condition is false")
        return str(resource.get("Type"))

    def name(self, logical_id: str, path: str) -> str:
        """The resource's physical name (see references.py)."""
        if logical_id in self._names:
            return self._names[logical_id]
        kind = self.kind(logical_id, path)
        if kind not in KINDS:
            raise TemplateError(path, f"{logical_id} is a {kind}, which poller cannot name")
        if logical_id in self._naming:
            raise TemplateError(path, f"{logical_id}'s name depends on itself")
        self._naming.add(logical_id)
        properties = self.resources[logical_id].get("Properties") or {}
        where = f"Resources.{logical_id}.Properties"
        given = properties.get(KINDS[kind].name_property)
        if given is not None:
            name = self.text(given, f"{where}.{KINDS[kind].name_property}")
        else:
            fifo = self.resolve(properties.get("FifoQueue", properties.get("FifoTopic")), where)
            name = default_name(kind, self.stack, logical_id, fifo in (True, "true"))
        self._naming.discard(logical_id)
        self._names[logical_id] = name
        return name

    def ref(self, target: str, path: str) -> Any:
        if target in self.parameters:
            value = self.parameters[target]
            if isinstance(value, Unknown):
                raise TemplateError(path, f"Parameters.{target} {value.reason}")
            return value
        if target == "AWS::NoValue":
            return NO_VALUE
        if target == "AWS::NotificationARNs":
            return []
        if target == "AWS::URLSuffix":
            return "amazonaws.com"
        if target in _PSEUDO:
            return self._pseudo(target)
        if target.startswith("AWS::"):
            raise TemplateError(path, f"unknown pseudo parameter {target}")
        if target not in self.resources:
            raise TemplateError(path, f"{target} is neither a parameter nor a resource")
        kind = self.kind(target, path)
        if kind not in KINDS:
            raise TemplateError(
                path, f"Ref of {target} ({kind}) needs a deployed stack; poller cannot know it"
            )
        return KINDS[kind].ref(self.stack, self.name(target, path))

    def get_att(self, logical_id: str, attribute: str, path: str) -> str:
        kind = self.kind(logical_id, path)
        known = KINDS[kind].attributes if kind in KINDS else {}
        if attribute not in known:
            offered = ", ".join(sorted(known)) or "none"
            raise TemplateError(
                path,
                f"{logical_id}.{attribute} ({kind}) is not known without a deployed stack "
                f"(poller knows: {offered})",
            )
        if attribute == "StreamArn" and not self._has_stream(logical_id):
            raise TemplateError(path, f"{logical_id} has no stream: give it a StreamSpecification")
        return known[attribute](self.stack, self.name(logical_id, path))

    def _has_stream(self, logical_id: str) -> bool:
        properties = self.resources[logical_id].get("Properties") or {}
        return bool(properties.get("StreamSpecification"))

    # -- intrinsic functions ---------------------------------------------------------------

    def _function(self, key: str, argument: Any, path: str) -> Any:
        handler = _FUNCTIONS.get(key)
        if handler is None:
            raise TemplateError(path, f"{key} is not supported")
        return handler(self, argument, path)

    def _pseudo(self, name: str) -> str:
        stack = self.stack
        return {
            "AWS::Region": lambda: stack.region,
            "AWS::AccountId": lambda: stack.account,
            "AWS::StackName": lambda: stack.name,
            "AWS::StackId": lambda: stack.arn("cloudformation", f"stack/{stack.name}/poller"),
            "AWS::Partition": lambda: stack.partition,
        }[name]()

    def _ref(self, argument: Any, path: str) -> Any:
        if not isinstance(argument, str):
            raise TemplateError(path, "Ref takes the name of a parameter or resource")
        return self.ref(argument, path)

    def _get_att(self, argument: Any, path: str) -> str:
        if isinstance(argument, str):
            argument = argument.split(".", 1)
        if not (isinstance(argument, list) and len(argument) == 2):
            raise TemplateError(path, "Fn::GetAtt takes [LogicalId, Attribute]")
        logical_id = self.text(argument[0], f"{path}[0]")
        attribute = self.text(argument[1], f"{path}[1]")
        return self.get_att(logical_id, attribute, path)

    def _sub(self, argument: Any, path: str) -> str:
        if isinstance(argument, str):
            text, variables = argument, {}
        elif isinstance(argument, list) and len(argument) == 2 and isinstance(argument[1], dict):
            text = self.text(argument[0], f"{path}[0]")
            variables = {k: self.resolve(v, f"{path}[1].{k}") for k, v in argument[1].items()}
        else:
            raise TemplateError(path, "Fn::Sub takes a string or [string, {variables}]")

        def replace(match: re.Match[str]) -> str:
            name = match[1]
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                value = variables[name]
            elif "." in name and name.split(".", 1)[0] in self.resources:
                logical_id, attribute = name.split(".", 1)
                value = self.get_att(logical_id, attribute, path)
            else:
                value = self.ref(name, path)
            if not isinstance(value, str | int | float):
                raise TemplateError(path, f"${{{name}}} is {_shape(value)}, not a string")
            return str(value)

        return _SUB_VARIABLE.sub(replace, text)

    def _join(self, argument: Any, path: str) -> str:
        if not (isinstance(argument, list) and len(argument) == 2):
            raise TemplateError(path, "Fn::Join takes [delimiter, [values]]")
        delimiter = self.text(argument[0], f"{path}[0]")
        items = self.resolve(argument[1], f"{path}[1]")
        if not isinstance(items, list):
            raise TemplateError(f"{path}[1]", "must be a list")
        return delimiter.join(self.text(item, f"{path}[1][{i}]") for i, item in enumerate(items))

    def _select(self, argument: Any, path: str) -> Any:
        if not (isinstance(argument, list) and len(argument) == 2):
            raise TemplateError(path, "Fn::Select takes [index, [values]]")
        index = self.text(argument[0], f"{path}[0]")
        items = self.resolve(argument[1], f"{path}[1]")
        if not isinstance(items, list) or not index.isdigit() or int(index) >= len(items):
            raise TemplateError(path, f"index {index} is not in the list {items!r}")
        return items[int(index)]

    def _split(self, argument: Any, path: str) -> list[str]:
        if not (isinstance(argument, list) and len(argument) == 2):
            raise TemplateError(path, "Fn::Split takes [delimiter, string]")
        delimiter = self.text(argument[0], f"{path}[0]")
        return self.text(argument[1], f"{path}[1]").split(delimiter)

    def _if(self, argument: Any, path: str) -> Any:
        if not (isinstance(argument, list) and len(argument) == 3):
            raise TemplateError(path, "Fn::If takes [condition, value if true, value if false]")
        if not isinstance(argument[0], str):
            raise TemplateError(f"{path}[0]", "must be the name of a condition")
        chosen = 1 if self.condition(argument[0], f"{path}[0]") else 2
        return self.resolve(argument[chosen], f"{path}[{chosen}]")

    def _find_in_map(self, argument: Any, path: str) -> Any:
        if not (isinstance(argument, list) and len(argument) == 3):
            raise TemplateError(path, "Fn::FindInMap takes [map, top-level key, second key]")
        keys = [self.text(item, f"{path}[{i}]") for i, item in enumerate(argument)]
        node: Any = self.mappings
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                raise TemplateError(path, f"no {'.'.join(keys)} in Mappings")
            node = node[key]
        return self.resolve(node, f"Mappings.{'.'.join(keys)}")

    def _import_value(self, argument: Any, path: str) -> str:
        name = self.text(argument, path)
        if name not in self.stack.imports:
            raise TemplateError(
                path,
                f"imports the export {name!r}, which only a deployed stack has: give its value "
                f"with --import-values {name}=VALUE",
            )
        return self.stack.imports[name]

    def _base64(self, argument: Any, path: str) -> str:
        return base64.b64encode(self.text(argument, path).encode()).decode()

    def _length(self, argument: Any, path: str) -> int:
        items = self.resolve(argument, path)
        if not isinstance(items, list):
            raise TemplateError(path, "Fn::Length takes a list")
        return len(items)

    def _to_json_string(self, argument: Any, path: str) -> str:
        return json.dumps(self.resolve(argument, path), separators=(",", ":"))

    def _truth(self, value: Any, path: str) -> bool:
        """A condition function's value (Fn::Equals, Fn::And, Fn::Or, Fn::Not, Condition)."""
        if isinstance(value, dict) and len(value) == 1:
            ((key, argument),) = value.items()
            where = f"{path}.{key}"
            if key == "Condition" and isinstance(argument, str):
                return self.condition(argument, where)
            if key == "Fn::Equals" and isinstance(argument, list) and len(argument) == 2:
                left, right = (self.resolve(a, f"{where}[{i}]") for i, a in enumerate(argument))
                return bool(_comparable(left) == _comparable(right))
            if key in ("Fn::And", "Fn::Or", "Fn::Not") and isinstance(argument, list):
                values = [self._truth(a, f"{where}[{i}]") for i, a in enumerate(argument)]
                if key == "Fn::Not":
                    return not values[0] if len(values) == 1 else _bad_condition(where)
                return all(values) if key == "Fn::And" else any(values)
        if isinstance(value, bool):
            return value
        return _bad_condition(path)


def _bad_condition(path: str) -> bool:
    raise TemplateError(path, "a condition is Fn::Equals, Fn::And, Fn::Or, Fn::Not or Condition")


def _comparable(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int | float) else value


def _shape(value: Any) -> str:
    return (
        "a list"
        if isinstance(value, list)
        else "a mapping"
        if isinstance(value, dict)
        else (repr(value))
    )


_FUNCTIONS = {
    "Ref": Resolver._ref,
    "Fn::GetAtt": Resolver._get_att,
    "Fn::Sub": Resolver._sub,
    "Fn::Join": Resolver._join,
    "Fn::Select": Resolver._select,
    "Fn::Split": Resolver._split,
    "Fn::If": Resolver._if,
    "Fn::FindInMap": Resolver._find_in_map,
    "Fn::ImportValue": Resolver._import_value,
    "Fn::Base64": Resolver._base64,
    "Fn::Length": Resolver._length,
    "Fn::ToJsonString": Resolver._to_json_string,
}
