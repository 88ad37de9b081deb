"""`poller config --template`: the configuration a template amounts to, as a YAML file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from poller.templates.build import Built


def render(sections: dict[str, Any], built: Built | None, label: str, cwd: Path) -> str:
    """The validated sections as YAML, code directories relative to `cwd` (where the output
    is meant to be saved), headed by comments saying where they came from (`label`) and what
    was left out."""
    data = _relative(sections, cwd)
    lines = [f"# poller configuration from {label}, written by `poller config`."]
    if built is not None:
        stack = built.stack
        account = stack.known_account or "not needed"
        lines.append(
            f"# Stack {stack.name}, region {stack.region}, account {account}. Paths are "
            "relative to the directory it was written in."
        )
        if built.plan.resources:
            names = ", ".join(r.name for r in built.plan.resources)
            lines.append(
                f"# The template's resources ({names}) are not created by this file: create "
                "them, or run the template with --create-resources."
            )
        lines.extend(f"# Note: {note}" for note in built.notes)
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(lines) + "\n" + body


def _relative(sections: dict[str, Any], cwd: Path) -> dict[str, Any]:
    functions = {}
    for name, function in (sections.get("functions") or {}).items():
        code = function.get("code_uri") if isinstance(function, dict) else None
        if isinstance(code, str) and Path(code).is_absolute():
            function = {**function, "code_uri": os.path.relpath(code, cwd)}
        functions[name] = function
    return {**sections, "functions": functions} if functions else dict(sections)
