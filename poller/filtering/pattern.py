"""Lambda's event filtering language (reference §7): compile a pattern once, match it many times.

`compile_pattern` accepts Lambda's operators (exact values, `prefix`, `suffix`, `equals-ignore-case`
and its prefix/suffix forms, `anything-but` of values or of a prefix/suffix, `numeric`, `exists`,
`$or`) and raises `InvalidPattern` for anything else; `Pattern.match` never raises for a JSON-like
document. Keys are ANDed, a leaf's values ORed. This module knows no source and no mapping:
`criteria` ORs a mapping's patterns, `records` applies them to each source's records.

A leaf's values are the scalars at its path, arrays flattened (EventBridge's model); an object
there is no value, so `exists` works on leaves only. Where AWS is silent, poller chooses:

- exact numbers compare as written (AWS: 300, 300.0 and 3.0e2 differ): integers by value, others
  by decimal spelling (3.0e2 = 3.0E+2); floats poller parses keep it as `Decimal`, a Python float
  counts as its repr. `numeric` compares values (300 = 300.0 = 3.0e2);
- null is a present value for `exists` and `anything-but`, which matches any present value that
  its listed values would not match, whatever its type;
- fields match independently: `{"a": {"b": [..], "c": [..]}}` may find `b` and `c` in different
  elements of an array `a`.
"""

from __future__ import annotations

import enum
import operator
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from poller.errors import INVALID_PATTERN, InvalidPattern
from poller.filtering.parsing import NOT_JSON, parse_json

INVALID = INVALID_PATTERN
MAX_LENGTH = 4096  # characters, as the Lambda API's Pattern field
OR = "$or"
STREAM_DATA_KEYS = ("data", "dynamodb")

Test = Callable[[Any], bool]
_MISSING = object()
_NONE: tuple[Any, ...] = ()
_LOWER = {">": operator.gt, ">=": operator.ge}
_UPPER = {"<": operator.lt, "<=": operator.le}
_SINGLE = {**_LOWER, **_UPPER, "=": operator.eq}


class Shape(enum.Enum):
    """How a pattern uses a top-level key: a nested pattern, a leaf array, or both (in `$or`)."""

    OBJECT = "object"
    LEAF = "leaf"
    MIXED = "mixed"


@dataclass(frozen=True, slots=True)
class _Leaf:
    tests: tuple[Test, ...]  # a present value matches when one test passes
    if_present: bool  # {"exists": true}
    if_absent: bool  # {"exists": false}

    def accepts(self, values: Iterable[Any]) -> bool:
        present = False
        for value in values:
            if self.if_present:
                return True
            present = True
            for test in self.tests:
                if test(value):
                    return True
        return self.if_absent and not present


@dataclass(frozen=True, slots=True)
class _Node:
    leaves: tuple[tuple[tuple[str, ...], _Leaf], ...]  # paths from the document's root
    ors: tuple[tuple[_Node, ...], ...]  # each group needs one matching branch


@dataclass(frozen=True, slots=True)
class Pattern:
    """One compiled filter pattern; two are equal when their source texts are."""

    source: str
    root: _Node = field(compare=False, repr=False)
    # How the pattern uses each top-level key, top-level `$or` branches included.
    shapes: Mapping[str, Shape] = field(compare=False, repr=False)

    def match(self, document: Any) -> bool:
        """Whether `document`, a JSON-like value, matches; never raises."""
        try:
            return _match(self.root, document)
        except RecursionError:  # only `$or` nests calls: out of reach within 4,096 characters
            return False


def compile_pattern(text: str) -> Pattern:
    """Compile one filter pattern: a JSON object of at most 4,096 characters."""
    if not isinstance(text, str):
        raise InvalidPattern("a pattern is JSON text")
    if len(text) > MAX_LENGTH:
        raise InvalidPattern(f"longer than {MAX_LENGTH} characters")
    tree = parse_json(text)
    if tree is NOT_JSON:
        raise InvalidPattern("not JSON")
    if not isinstance(tree, dict):
        raise InvalidPattern("not a JSON object")
    shapes: dict[str, Shape] = {}
    try:
        root = _node(tree, (), shapes)
    except RecursionError:
        raise InvalidPattern("nested too deeply") from None
    return Pattern(text, root, MappingProxyType(shapes))


def stream_pattern_issue(
    pattern: Pattern, data_keys: Iterable[str] = STREAM_DATA_KEYS
) -> str | None:
    """Why a stream mapping refuses `pattern` at create/update (§4.8), or None: stream data is
    matched as JSON, so a plain-string pattern for a data key (Kinesis `data`, DynamoDB
    `dynamodb`; both by default, neither being a metadata key of the other source) is an error."""
    for key in data_keys:
        if pattern.shapes.get(key) in (Shape.LEAF, Shape.MIXED):
            return f"{INVALID} ({key!r} must be a JSON pattern (an object) on a stream mapping)"
    return None


def _match(node: _Node, document: Any) -> bool:
    for path, leaf in node.leaves:
        if not leaf.accepts(_values(document, path)):
            return False
    for branches in node.ors:  # a loop, not any(): one stack frame per level of `$or`
        for branch in branches:
            if _match(branch, document):
                break
        else:
            return False
    return True


def _values(document: Any, path: tuple[str, ...]) -> Iterable[Any]:
    """The leaf values at `path`: scalars, with arrays flattened on the way; objects left out."""
    value = document
    for key in path:
        if isinstance(value, dict):
            value = value.get(key, _MISSING)
        elif isinstance(value, list):
            return _walk(document, path)
        else:
            return _NONE
    if isinstance(value, list):
        return [v for v in _spread(value) if not isinstance(v, dict)]
    return _NONE if value is _MISSING or isinstance(value, dict) else (value,)


def _walk(document: Any, path: tuple[str, ...]) -> list[Any]:
    current = [document]
    for key in path:
        current = [item[key] for item in _spread(current) if isinstance(item, dict) and key in item]
    return [v for v in _spread(current) if not isinstance(v, dict)]


def _spread(items: list[Any]) -> list[Any]:
    """The non-list items in `items` and its nested lists; each list is read once (cycles end)."""
    out: list[Any] = []
    pending: list[Any] = [items]
    seen: set[int] = set()
    while pending:
        item = pending.pop()
        if not isinstance(item, list):
            out.append(item)
        elif id(item) not in seen:
            seen.add(id(item))
            pending.extend(item)
    return out


def _key(value: Any) -> Hashable | None:
    """A leaf value's identity for exact matching; None for what is not a JSON scalar."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool):
        return (value,)  # a 1-tuple: never equal to a number's key
    if isinstance(value, int):
        return ("int", int(value))
    if isinstance(value, Decimal):
        return ("dec", str(value))
    if isinstance(value, float):
        return ("dec", str(Decimal(float.__repr__(value))))
    return None


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, Decimal) and not value.is_nan():
        return float(value)
    return None


def _node(tree: dict[str, Any], path: tuple[str, ...], shapes: dict[str, Shape]) -> _Node:
    if not tree:
        raise InvalidPattern(f"empty object at {'.'.join(path) or 'the top'}")
    leaves: list[tuple[tuple[str, ...], _Leaf]] = []
    ors: list[tuple[_Node, ...]] = []
    for key, value in tree.items():
        here = (*path, key)
        if key == OR:
            if not isinstance(value, list) or len(value) < 2:
                raise InvalidPattern("$or needs an array of at least two objects")
            if not all(isinstance(branch, dict) for branch in value):
                raise InvalidPattern("$or takes objects only")
            ors.append(tuple(_node(branch, path, shapes) for branch in value))
            continue
        if not path:
            shape = Shape.OBJECT if isinstance(value, dict) else Shape.LEAF
            shapes[key] = shape if shapes.get(key, shape) is shape else Shape.MIXED
        if isinstance(value, dict):
            inner = _node(value, here, shapes)
            leaves.extend(inner.leaves)
            ors.extend(inner.ors)
        elif isinstance(value, list):
            leaves.append((here, _leaf(value, ".".join(here))))
        elif key in _OPERATORS or key == "exists":
            raise InvalidPattern(f"{key!r} is only allowed at a leaf, as [{{{key!r}: ...}}]")
        else:
            raise InvalidPattern(f"leaf {'.'.join(here)!r} is not an array")
    return _Node(tuple(leaves), tuple(ors))


def _leaf(items: list[Any], where: str) -> _Leaf:
    if not items:
        raise InvalidPattern(f"leaf {where!r} is an empty array")
    exact: set[Hashable] = set()
    tests: list[Test] = []
    exists: set[bool] = set()
    for item in items:
        if isinstance(item, list):
            raise InvalidPattern(f"leaf {where!r} holds an array")
        if not isinstance(item, dict):
            exact.add(_key(item))
            continue
        if len(item) != 1:
            raise InvalidPattern("an operator object has exactly one key")
        ((name, argument),) = item.items()
        if name == "exists":
            if not isinstance(argument, bool):
                raise InvalidPattern("exists takes true or false")
            exists.add(argument)
        elif name in _OPERATORS:
            tests.append(_OPERATORS[name](argument))
        else:
            raise InvalidPattern(f"unknown operator {name!r}")
    if exact:
        tests.insert(0, _in_set(frozenset(exact)))
    return _Leaf(tuple(tests), True in exists, False in exists)


def _in_set(keys: frozenset[Hashable]) -> Test:
    return lambda value: (value if type(value) is str else _key(value)) in keys


def _affix(name: str) -> Callable[[Any], Test]:
    """`prefix` or `suffix`, of a string or of {"equals-ignore-case": string}."""
    method = str.startswith if name == "prefix" else str.endswith

    def compile_affix(argument: Any) -> Test:
        if isinstance(argument, str):
            return lambda value: isinstance(value, str) and method(value, argument)
        if isinstance(argument, dict) and list(argument) == ["equals-ignore-case"]:
            folded = argument["equals-ignore-case"]
            if isinstance(folded, str):
                folded = folded.casefold()
                return lambda value: isinstance(value, str) and method(value.casefold(), folded)
        raise InvalidPattern(f"{name} takes a string or {{'equals-ignore-case': string}}")

    return compile_affix


def _equals_ignore_case(argument: Any) -> Test:
    if not isinstance(argument, str):
        raise InvalidPattern("equals-ignore-case takes a string")
    folded = argument.casefold()
    return lambda value: isinstance(value, str) and value.casefold() == folded


def _anything_but(argument: Any) -> Test:
    if isinstance(argument, dict):
        name, text = next(iter(argument.items()), ("", None))
        if len(argument) != 1 or name not in ("prefix", "suffix"):
            raise InvalidPattern("anything-but takes an object only as {'prefix'|'suffix': text}")
        if not isinstance(text, str) or not text:
            raise InvalidPattern(f"anything-but {name} takes a non-empty string")
        listed = _affix(name)(text)
        return lambda value: _key(value) is not None and not listed(value)
    values = argument if isinstance(argument, list) else [argument]
    strings = sum(isinstance(v, str) for v in values)
    numbers = sum(_number(v) is not None for v in values)
    if not values or len(values) not in (strings, numbers):
        raise InvalidPattern("anything-but takes a string, a number, or a list of one kind")
    excluded = frozenset(_key(v) for v in values)
    return lambda value: (key := _key(value)) is not None and key not in excluded


def _numeric(argument: Any) -> Test:
    if not isinstance(argument, list) or len(argument) not in (2, 4):
        raise InvalidPattern("numeric takes [op, number] or [op, number, op, number]")
    ops, bounds = argument[0::2], [_number(n) for n in argument[1::2]]
    if not all(isinstance(op, str) and op in _SINGLE for op in ops):
        raise InvalidPattern(f"numeric operators are {', '.join(_SINGLE)}")
    low, high = bounds[0], bounds[-1]
    if low is None or high is None:
        raise InvalidPattern("numeric operands must be numbers")
    if len(ops) == 1:
        return _compare(_SINGLE[ops[0]], low)
    if "=" in ops:
        raise InvalidPattern("numeric '=' cannot be combined with another operator")
    if ops[0] not in _LOWER or ops[1] not in _UPPER:
        raise InvalidPattern("a numeric range is a lower bound (> or >=), then an upper (< or <=)")
    if not low < high:
        raise InvalidPattern("a numeric range's lower bound must be below its upper bound")
    lower, upper = _compare(_LOWER[ops[0]], low), _compare(_UPPER[ops[1]], high)
    return lambda value: lower(value) and upper(value)


def _compare(compare: Callable[[Any, Any], bool], bound: float) -> Test:
    return lambda value: (number := _number(value)) is not None and compare(number, bound)


_OPERATORS: dict[str, Callable[[Any], Test]] = {
    "prefix": _affix("prefix"),
    "suffix": _affix("suffix"),
    "equals-ignore-case": _equals_ignore_case,
    "anything-but": _anything_but,
    "numeric": _numeric,
}
