"""Cases shared by the filtering tests: pattern_of, edge-case numbers, Hypothesis strategies."""

# Imported by name: pytest's prepend import mode puts this directory on sys.path, and mypy finds
# it through mypy_path in pyproject.toml.

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from poller.filtering.pattern import Pattern, compile_pattern


def pattern_of(pattern: dict[str, Any] | str) -> Pattern:
    return compile_pattern(pattern if isinstance(pattern, str) else json.dumps(pattern))


BIG = '{"n": 1e999999999999999999}'  # Decimal's largest exponent
SMALL = '{"n": 1e-999999999999999999}'
# Numbers whose exponent Decimal cannot hold: JSON by the grammar, not parsed (a plain string).
HUGE = '{"order": {"total": 1e999999999999999999999}}'
TINY = '{"order": {"total": 1.5e-999999999999999999999}}'


# ---------------------------------------------------------------------------------------------
# Hypothesis strategies: valid patterns from the grammar, and JSON documents to match

TEXT = st.text(max_size=6)
FIELD = st.sampled_from(["a", "b", "body", "data", "prefix", "exists", ""]) | st.text(max_size=3)
FIELD = FIELD.filter(lambda name: name != "$or")
NUMBER = st.integers(-(10**6), 10**6) | st.floats(allow_nan=False, allow_infinity=False)
SCALAR = TEXT | NUMBER | st.booleans() | st.none()
RANGE = st.tuples(
    st.sampled_from([">", ">="]), st.sampled_from(["<", "<="]), NUMBER, NUMBER
).filter(lambda t: t[2] < t[3])
ELEMENT = st.one_of(
    SCALAR,
    st.builds(lambda s: {"prefix": s}, TEXT),
    st.builds(lambda s: {"suffix": s}, TEXT),
    st.builds(lambda s: {"equals-ignore-case": s}, TEXT),
    st.builds(
        lambda k, s: {k: {"equals-ignore-case": s}}, st.sampled_from(["prefix", "suffix"]), TEXT
    ),
    st.builds(
        lambda v: {"anything-but": v},
        TEXT
        | NUMBER
        | st.lists(TEXT, min_size=1, max_size=3)
        | st.lists(NUMBER, min_size=1, max_size=3)
        | st.builds(
            lambda k, s: {k: s}, st.sampled_from(["prefix", "suffix"]), st.text(min_size=1)
        ),
    ),
    st.builds(
        lambda o, n: {"numeric": [o, n]}, st.sampled_from(["=", "<", "<=", ">", ">="]), NUMBER
    ),
    st.builds(lambda t: {"numeric": [t[0], t[2], t[1], t[3]]}, RANGE),
    st.builds(lambda b: {"exists": b}, st.booleans()),
)
LEAF = st.lists(ELEMENT, min_size=1, max_size=4)


def objects(children: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    plain = st.dictionaries(FIELD, children | LEAF, min_size=1, max_size=3)
    with_or = st.builds(
        lambda fields, branches: {**fields, "$or": branches},
        st.dictionaries(FIELD, LEAF, max_size=2),
        st.lists(children, min_size=2, max_size=3),
    )
    return plain | with_or


VALID_PATTERN = st.recursive(
    st.dictionaries(FIELD, LEAF, min_size=1, max_size=3), objects, max_leaves=6
)
DOC_KEY = st.sampled_from(["a", "b", "body", "data", "prefix", "exists", "", "$or"]) | st.text(
    max_size=3
)
JSON_SCALAR = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=6)
    | st.decimals(places=3, allow_nan=False, allow_infinity=False)
)
DOCUMENT = st.recursive(
    JSON_SCALAR,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(DOC_KEY, children, max_size=4)
    ),
    max_leaves=25,
)
