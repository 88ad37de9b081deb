"""criteria.py: a mapping's FilterCriteria, its patterns ORed (§3.6, §4.8)."""

from __future__ import annotations

from filter_cases import pattern_of

from poller.filtering.criteria import Criteria


def test_criteria_filters_are_ored() -> None:
    criteria = Criteria([pattern_of({"a": ["x"]}), pattern_of({"b": ["y"]})])
    assert criteria.keep({"b": "y"})
    assert not criteria.keep({"a": "y"})
