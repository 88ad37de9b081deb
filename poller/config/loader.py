"""Read a configuration file: YAML, ${ENV} interpolation, validation with paths in every error."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic.alias_generators import to_pascal, to_snake

from poller.config import rules
from poller.config.models import PollerConfig
from poller.errors import ConfigError

_VAR = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
# pydantic constraint errors rendered in the Lambda API's validation wording.
# Fields whose Lambda API name is not their snake_case name in PascalCase.
_ALIASES = {"function": "FunctionName", "FunctionName": "function"}
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
# A key written in a path as it is; any other is quoted.
_PLAIN_KEY = re.compile(r"[^\s.\[\]:\"]+")
# Tags of the mapping-kind union (config.MappingConfig) that pydantic puts in error locations.
_UNION_TAGS = frozenset({"sqs", "stream"})
# Tags of the state-backend union (settings.StateConfig).
_STATE_TAGS = frozenset({"sqlite", "dynamodb"})
_AWS_CONSTRAINT = {
    "greater_than_equal": "greater than or equal to {ge}",
    "less_than_equal": "less than or equal to {le}",
    "greater_than": "greater than {gt}",
    "less_than": "less than {lt}",
}


def load_config(path: str | Path, environ: Mapping[str, str]) -> PollerConfig:
    """Parse and validate a config file; raise ConfigError listing every problem with its path."""
    return validate_config(load_raw_config(path, environ))


def parse_config(text: str, environ: Mapping[str, str], source: str = "<config>") -> PollerConfig:
    return validate_config(raw_config(text, environ, source))


def load_raw_config(path: str | Path, environ: Mapping[str, str]) -> dict[str, Any]:
    """A config file's sections as YAML and ${ENV} interpolation leave them, not yet validated
    (`poller run --template` adds the template's functions and mappings to them)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: cannot read: not UTF-8 text (byte {exc.start})"]) from exc
    return raw_config(text, environ, str(path))


def raw_config(text: str, environ: Mapping[str, str], source: str = "<config>") -> dict[str, Any]:
    """Parse YAML and interpolate ${ENV}; ConfigError for what is not a mapping of sections."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"{source}: invalid YAML: {exc}"]) from exc
    except RecursionError as exc:
        raise ConfigError([f"{source}: invalid YAML: nested too deeply"]) from exc
    except Exception as exc:  # PyYAML's constructors raise plain errors for some scalars: a
        # 2020-13-45 date (ValueError), a 5,000-digit int, `!!timestamp x` (AttributeError)
        raise ConfigError([f"{source}: invalid YAML: {type(exc).__name__}: {exc}"]) from exc
    if not isinstance(raw, dict):
        raise ConfigError([f"{source}: the top level must be a mapping of sections"])
    issues: list[str] = []
    try:
        data = interpolate(raw, environ, "", issues, _Budget())
    except RecursionError as exc:  # an alias inside itself (`a: &a [*a]`) never ends
        raise ConfigError([f"{source}: nested too deeply (an alias inside itself?)"]) from exc
    if issues:
        raise ConfigError(issues)
    assert isinstance(data, dict)
    return data


def validate_config(data: dict[str, Any]) -> PollerConfig:
    """Validate sections read by `raw_config`; ConfigError with every problem and its path."""
    try:
        config = PollerConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([_format_error(err, data) for err in exc.errors()]) from exc
    problems = rules.check(config)
    if problems:
        raise ConfigError([f"{_rule_path(where, data)}: {message}" for where, message in problems])
    return config


class _Budget:
    """Values left to expand: YAML aliases let a few lines name billions of values (the
    "billion laughs"), which would hold `validate` and a reload for ever."""

    LIMIT = 1_000_000

    def __init__(self) -> None:
        self.left = self.LIMIT

    def spend(self, path: str) -> None:
        self.left -= 1
        if self.left < 0:
            raise ConfigError([f"{path or '<top>'}: over {self.LIMIT} values (YAML aliases?)"])


def interpolate(
    node: Any,
    environ: Mapping[str, str],
    path: str,
    issues: list[str],
    budget: _Budget | None = None,
) -> Any:
    """Replace ${NAME} and ${NAME:-default} in every string value; `$$` is a literal `$`."""
    budget = budget or _Budget()
    budget.spend(path)
    if isinstance(node, dict):
        return {k: interpolate(v, environ, _join(path, k), issues, budget) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, environ, f"{path}[{i}]", issues, budget) for i, v in enumerate(node)]
    if not isinstance(node, str):
        return node

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match["name"], match["default"]
        if environ.get(name):
            return environ[name]
        if default is not None:  # like the shell's ${X:-d}: unset or empty takes the default
            return default
        if name in environ:
            return ""
        issues.append(f"{path}: environment variable {name} is not set")
        return ""

    return _VAR.sub(substitute, node)


def _join(path: str, key: object) -> str:
    text = str(key)
    # "", "a.b", "x: y" are quoted so the path stays a path; `[key]` is pydantic's name for a
    # mapping's key itself (`environment[1].[key]`: the key 1 is not a string).
    if text != "[key]" and not _PLAIN_KEY.fullmatch(text):
        text = json.dumps(text, ensure_ascii=False)
    return f"{path}.{text}" if path else text


def _format_error(error: Any, data: Any) -> str:
    kind = error["type"]
    loc = error["loc"]
    if kind == "state_backend":  # settings.StateConfig's discriminator: name the field
        loc = (*loc, "backend")
    path = _user_path(loc, data)
    ctx = error.get("ctx") or {}
    if kind in _AWS_CONSTRAINT:
        bound = _AWS_CONSTRAINT[kind].format(**ctx)
        message = (
            f"Value '{error.get('input')}' failed to satisfy constraint: Member must have value "
            f"{bound}"
        )
    elif kind == "extra_forbidden":
        message = "unknown field"
    else:
        message = str(error["msg"])
    return f"{path}: {message}" if path else message


def _rule_path(path: str, data: Any) -> str:
    """A rule's snake_case path (`mappings[0].batch_size`) in the spelling the user wrote."""
    loc: list[Any] = []
    for name, index in _PATH_PART.findall(path):
        loc.append(int(index) if index else name)
    return _user_path(tuple(loc), data)


def _user_path(loc: tuple[Any, ...], data: Any) -> str:
    """Render a pydantic location with the key spelling the user actually wrote."""
    out = ""
    node = data
    for position, part in enumerate(loc):
        if isinstance(part, int) and isinstance(node, dict):  # a key YAML read as a number
            out = _join(out, part)
            node = node.get(part)
            continue
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            continue
        key = str(part)
        if key in _UNION_TAGS and position >= 2 and loc[position - 2] == "mappings":
            continue  # the mapping kind pydantic chose, not a key the user wrote
        if key in _STATE_TAGS and position == 1 and loc[0] == "state":
            continue  # likewise the state backend
        if isinstance(node, dict):
            for candidate in (key, to_snake(key), to_pascal(key), _ALIASES.get(key, key)):
                if candidate in node:
                    key = candidate
                    break
            node = node.get(key)
        else:
            node = None
        out = _join(out, key)
    return out
