"""A template's Parameters: each one's value (given, or its Default), checked against its
constraints as CloudFormation checks it, and typed as the properties it is given to expect."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from poller.templates.errors import TemplateError


@dataclass(frozen=True)
class Unknown:
    """A parameter without a value here: an error only where something uses it (a CDK
    template's BootstrapVersion is read from SSM, and only its Rules use it)."""

    reason: str


def parameter_values(definitions: dict[str, Any], given: dict[str, str]) -> dict[str, Any]:
    """Each parameter's value: the one given, else its Default (Unknown without either).
    TemplateError for a value outside AllowedValues, or a value given for no parameter."""
    for name in given:
        if name not in definitions:
            raise TemplateError(
                "--parameter-overrides", f"{name} is not a parameter of this template"
            )
    return {
        name: _parameter_value(name, spec if isinstance(spec, dict) else {}, given)
        for name, spec in definitions.items()
    }


def _parameter_value(name: str, spec: dict[str, Any], given: dict[str, str]) -> Any:
    kind = str(spec.get("Type", "String"))
    if name in given:
        value: Any = given[name]
    elif kind.startswith("AWS::SSM::Parameter::Value"):
        return Unknown(
            f"is read from SSM Parameter Store ({spec.get('Default')}) when deployed: give "
            f"its value with --parameter-overrides {name}=VALUE"
        )
    elif "Default" in spec:
        value = spec["Default"]
    else:
        return Unknown(f"has no Default: give it with --parameter-overrides {name}=VALUE")
    text = _parameter_text(value)
    path = f"Parameters.{name}"
    listed = kind.startswith(("CommaDelimitedList", "List<"))
    items = [item.strip() for item in text.split(",")] if listed else [text]
    for item in items:
        _check_constraints(item, spec, path)
    if listed:
        return items
    if kind == "Number":
        return _number(text, path)
    return text


def _check_constraints(text: str, spec: dict[str, Any], path: str) -> None:
    """AllowedValues, AllowedPattern, Min/MaxLength and Min/MaxValue, as CloudFormation checks
    a parameter's value (each item of a list)."""
    allowed = spec.get("AllowedValues")
    if isinstance(allowed, list) and text not in [str(a) for a in allowed]:
        raise TemplateError(path, f"{text!r} is not one of its AllowedValues {allowed}")
    pattern = spec.get("AllowedPattern")
    if isinstance(pattern, str) and not re.fullmatch(pattern, text):
        raise TemplateError(path, f"{text!r} does not match its AllowedPattern {pattern}")
    bounds: dict[str, Callable[[Any], bool]] = {
        "MinLength": lambda bound: len(text) < int(bound),
        "MaxLength": lambda bound: len(text) > int(bound),
        "MinValue": lambda bound: _number(text, path) < float(bound),
        "MaxValue": lambda bound: _number(text, path) > float(bound),
    }
    for key, fails in bounds.items():
        if key in spec and fails(spec[key]):
            raise TemplateError(path, f"{text!r} is outside its {key} {spec[key]}")


def _parameter_text(value: Any) -> str:
    """A parameter value as the text CloudFormation passes (YAML may have read a number, a
    boolean or a list for a Default)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _number(text: str, path: str) -> int | float:
    """A Number parameter's value, as the number the properties it is given to expect."""
    try:
        number = float(text)
    except ValueError:
        raise TemplateError(path, f"{text!r} is not a number (Type: Number)") from None
    return int(number) if number.is_integer() and "." not in text else number
