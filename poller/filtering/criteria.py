"""A mapping's FilterCriteria: its patterns compiled once and ORed (reference §3.6, §4.8)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from poller.filtering.pattern import Pattern, compile_pattern


@dataclass(frozen=True, slots=True, init=False)
class Criteria:
    """A mapping's filters: a record is kept when any pattern matches (always, if none)."""

    patterns: tuple[Pattern, ...]

    def __init__(self, patterns: Iterable[Pattern] = ()) -> None:
        object.__setattr__(self, "patterns", tuple(patterns))

    def keep(self, document: Any) -> bool:
        for pattern in self.patterns:
            if pattern.match(document):
                return True
        return not self.patterns


def compile_criteria(patterns: Iterable[str]) -> Criteria | None:
    """The compiled filters, or None when there are none: deliver everything.

    Patterns were validated when the configuration loaded, so compiling cannot fail here.
    """
    compiled = tuple(compile_pattern(text) for text in patterns)
    return Criteria(compiled) if compiled else None
