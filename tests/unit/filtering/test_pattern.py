"""pattern.py: Lambda's filter pattern language (§7): matching, rejections and properties."""

from __future__ import annotations

import json
from typing import Any

import pytest
from filter_cases import BIG, DOCUMENT, JSON_SCALAR, SMALL, VALID_PATTERN, pattern_of
from hypothesis import given, settings
from hypothesis import strategies as st

from poller.errors import InvalidPattern
from poller.filtering.criteria import Criteria
from poller.filtering.parsing import NOT_JSON, parse_json
from poller.filtering.pattern import (
    INVALID,
    MAX_LENGTH,
    Pattern,
    Shape,
    compile_pattern,
)
from poller.filtering.records import dynamodb_keep


def parsed(text: str) -> Any:
    """A document as poller parses SQS bodies and Kinesis data: numbers keep their spelling."""
    value = parse_json(text)
    assert value is not NOT_JSON
    return value


def case(name: str, pattern: dict[str, Any] | str, document: Any, expected: bool) -> Any:
    return pytest.param(pattern, document, expected, id=name)


NUM = {"n": [{"numeric": [">", 10, "<=", 20]}]}
ABP = {"r": [{"anything-but": {"prefix": "us-"}}]}
ALICE = {"name": [{"equals-ignore-case": "alice"}]}
OR_TOP = {"$or": [{"a": ["x"]}, {"b": ["y"]}]}

# (pattern, document, expected): one row per behaviour of §7, EventBridge's operators and
# poller's documented choices (module docstring of poller.filtering.pattern).
MATCH_CASES = [
    # exact strings: character by character, no normalisation
    case("string-equal", {"a": ["x"]}, {"a": "x"}, True),
    case("string-different", {"a": ["x"]}, {"a": "y"}, False),
    case("string-case-sensitive", {"a": ["x"]}, {"a": "X"}, False),
    case("string-trailing-space", {"a": ["x"]}, {"a": "x "}, False),
    case("string-unicode-equal", {"a": ["café"]}, {"a": "café"}, True),
    case("string-unicode-not-normalised", {"a": ["café"]}, {"a": "cafe\u0301"}, False),
    case("string-vs-number", {"a": ["5"]}, {"a": 5}, False),
    case("string-vs-bool", {"a": ["true"]}, {"a": True}, False),
    case("values-ored", {"a": ["x", "y"]}, {"a": "y"}, True),
    case("values-ored-none", {"a": ["x", "y"]}, {"a": "z"}, False),
    case("keys-anded", {"a": ["x"], "b": ["y"]}, {"a": "x", "b": "y"}, True),
    case("keys-anded-one-fails", {"a": ["x"], "b": ["y"]}, {"a": "x", "b": "z"}, False),
    case("key-missing", {"a": ["x"]}, {}, False),
    case("extra-keys-ignored", {"a": ["x"]}, {"a": "x", "b": {"c": [1]}}, True),
    case("document-not-object", {"a": ["x"]}, "x", False),
    case("document-none", {"a": ["x"]}, None, False),
    # nesting
    case("nested", {"a": {"b": ["x"]}}, {"a": {"b": "x"}}, True),
    case("nested-three", {"a": {"b": {"c": [1]}}}, {"a": {"b": {"c": 1}}}, True),
    case("nested-missing-parent", {"a": {"b": ["x"]}}, {"b": "x"}, False),
    case("nested-parent-scalar", {"a": {"b": ["x"]}}, {"a": "x"}, False),
    case("leaf-vs-object", {"a": ["x"]}, {"a": {"b": "x"}}, False),
    case("nested-anded", {"a": {"b": ["x"], "c": ["y"]}}, {"a": {"b": "x", "c": "y"}}, True),
    # arrays in the document: a leaf matches when any element does
    case("array-any-element", {"a": ["x"]}, {"a": ["y", "x"]}, True),
    case("array-no-element", {"a": ["x"]}, {"a": ["y", "z"]}, False),
    case("array-empty", {"a": ["x"]}, {"a": []}, False),
    case("array-nested-flattened", {"a": ["x"]}, {"a": [["y", ["x"]]]}, True),
    case("array-of-objects", {"a": {"b": ["x"]}}, {"a": [{"b": "y"}, {"b": "x"}]}, True),
    case("array-of-objects-none", {"a": {"b": ["x"]}}, {"a": [{"b": "y"}, {"c": "x"}]}, False),
    case("array-objects-not-values", {"a": ["x"]}, {"a": [{"b": "x"}]}, False),
    case("array-intersection", {"a": ["p", "q"]}, {"a": ["r", "q"]}, True),
    case("array-numeric", {"a": [{"numeric": [">", 10]}]}, {"a": [1, 20]}, True),
    case(
        "fields-independent-in-array",
        {"a": {"b": ["x"], "c": ["y"]}},
        {"a": [{"b": "x", "c": "n"}, {"b": "n", "c": "y"}]},
        True,
    ),
    # null, empty, exists
    case("null-present", {"a": [None]}, {"a": None}, True),
    case("null-absent", {"a": [None]}, {}, False),
    case("null-vs-empty", {"a": [None]}, {"a": ""}, False),
    case("null-vs-text", {"a": [None]}, {"a": "null"}, False),
    case("null-in-array", {"a": [None]}, {"a": ["x", None]}, True),
    case("empty-present", {"a": [""]}, {"a": ""}, True),
    case("empty-vs-null", {"a": [""]}, {"a": None}, False),
    case("empty-vs-absent", {"a": [""]}, {}, False),
    case("exists-present", {"a": [{"exists": True}]}, {"a": "x"}, True),
    case("exists-absent", {"a": [{"exists": True}]}, {}, False),
    case("exists-null-counts", {"a": [{"exists": True}]}, {"a": None}, True),
    case("exists-object-is-not-leaf", {"a": [{"exists": True}]}, {"a": {"b": 1}}, False),
    case("exists-empty-array", {"a": [{"exists": True}]}, {"a": []}, False),
    case("not-exists-absent", {"a": [{"exists": False}]}, {"b": 1}, True),
    case("not-exists-present", {"a": [{"exists": False}]}, {"a": "x"}, False),
    case("not-exists-null-present", {"a": [{"exists": False}]}, {"a": None}, False),
    case("not-exists-object-value", {"a": [{"exists": False}]}, {"a": {"b": 1}}, True),
    case("not-exists-empty-array", {"a": [{"exists": False}]}, {"a": []}, True),
    case("not-exists-missing-parent", {"a": {"b": [{"exists": False}]}}, {}, True),
    case("not-exists-nested-present", {"a": {"b": [{"exists": False}]}}, {"a": {"b": 0}}, False),
    case("exists-or-value", {"a": ["x", {"exists": False}]}, {}, True),
    case("exists-or-value-other", {"a": ["x", {"exists": False}]}, {"a": "y"}, False),
    # numeric: values compared as numbers, ints and floats alike
    case("numeric-eq-int", {"n": [{"numeric": ["=", 100]}]}, {"n": 100}, True),
    case("numeric-eq-float", {"n": [{"numeric": ["=", 100]}]}, {"n": 100.0}, True),
    case("numeric-eq-exponent", {"n": [{"numeric": ["=", 100]}]}, parsed('{"n": 1.0e2}'), True),
    case("numeric-eq-other", {"n": [{"numeric": ["=", 100]}]}, {"n": 101}, False),
    case("numeric-eq-decimal", '{"n": [{"numeric": ["=", 0.1]}]}', parsed('{"n": 0.1}'), True),
    case("numeric-gt-above", {"n": [{"numeric": [">", 5]}]}, {"n": 6}, True),
    case("numeric-gt-equal", {"n": [{"numeric": [">", 5]}]}, {"n": 5}, False),
    case("numeric-ge-equal", {"n": [{"numeric": [">=", 5]}]}, {"n": 5}, True),
    case("numeric-lt-below", {"n": [{"numeric": ["<", 5]}]}, {"n": 4.999}, True),
    case("numeric-lt-equal", {"n": [{"numeric": ["<", 5]}]}, {"n": 5}, False),
    case("numeric-le-equal", {"n": [{"numeric": ["<=", 5]}]}, {"n": 5.0}, True),
    case("range-inside", NUM, {"n": 15}, True),
    case("range-open-lower", NUM, {"n": 10}, False),
    case("range-closed-upper", NUM, {"n": 20}, True),
    case("range-above", NUM, {"n": 20.000001}, False),
    case("range-below", NUM, {"n": -15}, False),
    case("range-closed-lower", {"n": [{"numeric": [">=", 0, "<", 1]}]}, {"n": 0}, True),
    case("range-open-upper", {"n": [{"numeric": [">=", 0, "<", 1]}]}, {"n": 1}, False),
    case("range-negative", {"n": [{"numeric": [">", -10.5, "<", -1]}]}, {"n": -5}, True),
    case("numeric-big-int", {"n": [{"numeric": [">", 1e9]}]}, {"n": 10**30}, True),
    case("numeric-vs-string", NUM, {"n": "15"}, False),
    case("numeric-vs-bool", {"n": [{"numeric": [">", 0]}]}, {"n": True}, False),
    case("numeric-vs-null", {"n": [{"numeric": [">", 0]}]}, {"n": None}, False),
    case("numeric-absent", NUM, {}, False),
    case("numeric-nan", {"n": [{"numeric": ["<", 1]}]}, {"n": float("nan")}, False),
    case("numeric-or-string", {"n": [{"numeric": ["<", 0]}, "low"]}, {"n": "low"}, True),
    # the largest and smallest exponents Decimal holds: compared as floats (inf, 0.0)
    case("numeric-largest-exponent", {"n": [{"numeric": [">", 5e9]}]}, parsed(BIG), True),
    case("numeric-smallest-exponent", {"n": [{"numeric": ["<", 1]}]}, parsed(SMALL), True),
    case("numeric-range-largest", NUM, parsed(BIG), False),
    # exact numbers, as AWS documents: 300, 300.0 and 3.0e2 are not equal
    case("number-int-equal", {"n": [300]}, {"n": 300}, True),
    case("number-int-vs-decimal-point", {"n": [300]}, parsed('{"n": 300.0}'), False),
    case("number-int-vs-exponent", {"n": [300]}, parsed('{"n": 3.0e2}'), False),
    case("number-point-equal", '{"n": [300.0]}', parsed('{"n": 300.0}'), True),
    case("number-point-vs-exponent", '{"n": [300.0]}', parsed('{"n": 3.0e2}'), False),
    case("number-exponent-equal", '{"n": [3.0e2]}', parsed('{"n": 3.0E+2}'), True),
    case("number-trailing-zero", '{"n": [1.5]}', parsed('{"n": 1.50}'), False),
    case("number-python-float", '{"n": [300.0]}', {"n": 300.0}, True),
    case("number-largest-exponent", '{"n": [1E+999999999999999999]}', parsed(BIG), True),
    case("number-largest-exponent-vs-int", {"n": [1]}, parsed(BIG), False),
    case("anything-but-largest-exponent", {"n": [{"anything-but": 1}]}, parsed(BIG), True),
    case("number-python-float-vs-int", {"n": [300]}, {"n": 300.0}, False),
    case("number-vs-string", {"n": [300]}, {"n": "300"}, False),
    case("bool-true", {"b": [True]}, {"b": True}, True),
    case("bool-false", {"b": [False]}, {"b": False}, True),
    case("bool-vs-one", {"b": [True]}, {"b": 1}, False),
    case("one-vs-bool", {"b": [1]}, {"b": True}, False),
    case("zero-vs-false", {"b": [0]}, {"b": False}, False),
    # anything-but
    case("anything-but-string-other", {"s": [{"anything-but": "x"}]}, {"s": "y"}, True),
    case("anything-but-string-same", {"s": [{"anything-but": "x"}]}, {"s": "x"}, False),
    case("anything-but-list-other", {"s": [{"anything-but": ["x", "y"]}]}, {"s": "z"}, True),
    case("anything-but-list-each", {"s": [{"anything-but": ["x", "y"]}]}, {"s": "y"}, False),
    case("anything-but-number-other", {"s": [{"anything-but": 5}]}, {"s": 6}, True),
    case("anything-but-number-same", {"s": [{"anything-but": 5}]}, {"s": 5}, False),
    case("anything-but-numbers", {"s": [{"anything-but": [100, 500]}]}, {"s": 500}, False),
    case("anything-but-numbers-other", {"s": [{"anything-but": [100, 500]}]}, {"s": 101}, True),
    case("anything-but-spelling", {"s": [{"anything-but": 300}]}, parsed('{"s": 3.0e2}'), True),
    case("anything-but-absent", {"s": [{"anything-but": "x"}]}, {}, False),
    case("anything-but-null", {"s": [{"anything-but": "x"}]}, {"s": None}, True),
    case("anything-but-other-type", {"s": [{"anything-but": ["5"]}]}, {"s": 5}, True),
    case("anything-but-array-some", {"s": [{"anything-but": "x"}]}, {"s": ["x", "y"]}, True),
    case("anything-but-array-all", {"s": [{"anything-but": "x"}]}, {"s": ["x", "x"]}, False),
    case("anything-but-prefix-other", ABP, {"r": "eu-west-1"}, True),
    case("anything-but-prefix-same", ABP, {"r": "us-east-1"}, False),
    case("anything-but-prefix-number", ABP, {"r": 7}, True),
    case("anything-but-prefix-absent", ABP, {}, False),
    case(
        "anything-but-suffix-other",
        {"f": [{"anything-but": {"suffix": ".png"}}]},
        {"f": "a.jpg"},
        True,
    ),
    case(
        "anything-but-suffix-same",
        {"f": [{"anything-but": {"suffix": ".png"}}]},
        {"f": "a.png"},
        False,
    ),
    # prefix, suffix
    case("prefix-match", {"r": [{"prefix": "us-"}]}, {"r": "us-east-1"}, True),
    case("prefix-mismatch", {"r": [{"prefix": "us-"}]}, {"r": "eu-west-1"}, False),
    case("prefix-case-sensitive", {"r": [{"prefix": "us-"}]}, {"r": "US-EAST-1"}, False),
    case("prefix-number", {"r": [{"prefix": "1"}]}, {"r": 12}, False),
    case("prefix-empty-any-string", {"r": [{"prefix": ""}]}, {"r": "anything"}, True),
    case("prefix-empty-not-absent", {"r": [{"prefix": ""}]}, {}, False),
    case("prefix-or-exact", {"r": ["x", {"prefix": "y"}]}, {"r": "yz"}, True),
    case("suffix-match", {"f": [{"suffix": ".png"}]}, {"f": "a.png"}, True),
    case("suffix-case-sensitive", {"f": [{"suffix": ".png"}]}, {"f": "a.PNG"}, False),
    case("suffix-mismatch", {"f": [{"suffix": ".png"}]}, {"f": "a.png.txt"}, False),
    # equals-ignore-case, also under prefix and suffix
    case("ignore-case-upper", ALICE, {"name": "ALICE"}, True),
    case("ignore-case-mixed", ALICE, {"name": "aLiCe"}, True),
    case("ignore-case-other", ALICE, {"name": "alicia"}, False),
    case("ignore-case-casefold", {"w": [{"equals-ignore-case": "straße"}]}, {"w": "STRASSE"}, True),
    case("ignore-case-number", {"w": [{"equals-ignore-case": "1"}]}, {"w": 1}, False),
    case(
        "prefix-ignore-case",
        {"s": [{"prefix": {"equals-ignore-case": "EventB"}}]},
        {"s": "eventbridge"},
        True,
    ),
    case(
        "prefix-ignore-case-other",
        {"s": [{"prefix": {"equals-ignore-case": "EventB"}}]},
        {"s": "events"},
        False,
    ),
    case(
        "suffix-ignore-case",
        {"f": [{"suffix": {"equals-ignore-case": ".png"}}]},
        {"f": "IMG.PNG"},
        True,
    ),
    # $or, wherever a key can be
    case("or-first", OR_TOP, {"a": "x"}, True),
    case("or-second", OR_TOP, {"b": "y"}, True),
    case("or-neither", OR_TOP, {"a": "y", "b": "x"}, False),
    case("or-with-and", {"c": ["1"], **OR_TOP}, {"c": "1", "b": "y"}, True),
    case("or-with-and-fails", {"c": ["1"], **OR_TOP}, {"c": "2", "b": "y"}, False),
    case(
        "or-nested-under-key",
        {"a": {"$or": [{"b": ["x"]}, {"c": [{"numeric": [">", 0]}]}]}},
        {"a": {"c": 3}},
        True,
    ),
    case(
        "or-nested-or",
        {"$or": [{"a": ["x"]}, {"$or": [{"b": ["y"]}, {"c": ["z"]}]}]},
        {"c": "z"},
        True,
    ),
    case(
        "or-branch-with-two-keys",
        {"$or": [{"a": ["x"], "b": ["y"]}, {"c": ["z"]}]},
        {"a": "x", "b": "n"},
        False,
    ),
    case(
        "or-two-groups",
        {"$or": [{"a": ["x"]}, {"b": ["y"]}], "c": {"$or": [{"d": [1]}, {"e": [2]}]}},
        {"b": "y", "c": {"e": 2}},
        True,
    ),
]


@pytest.mark.parametrize(("pattern", "document", "expected"), MATCH_CASES)
def test_matches(pattern: dict[str, Any] | str, document: Any, expected: bool) -> None:
    compiled = pattern_of(pattern)
    assert compiled.match(document) is expected
    assert Criteria([compiled]).keep(document) is expected


def test_table_is_large() -> None:
    assert len(MATCH_CASES) >= 80


def text_of_length(length: int) -> str:
    body = '{"a": ["x"]}'
    return body[:-1] + " " * (length - len(body)) + "}"


def op(operator: Any) -> str:
    return json.dumps({"a": [operator]})


# Every rejection of §7 and EventBridge's grammar: AWS's message, then poller's reason.
INVALID_CASES = [
    pytest.param("", id="empty-text"),
    pytest.param("{", id="truncated"),
    pytest.param("not json", id="plain-text"),
    pytest.param("{'a': ['x']}", id="single-quotes"),
    pytest.param('{"a": [NaN]}', id="nan-not-json"),
    pytest.param('{"a": [Infinity]}', id="infinity-not-json"),
    pytest.param('{"a": [1e999999999999999999999]}', id="exponent-past-decimal-not-json"),
    pytest.param('{"a": [{"numeric": [">", 1e-999999999999999999999]}]}', id="tiny-not-json"),
    pytest.param('{"a": ["x"]} extra', id="trailing-text"),
    pytest.param("[]", id="array"),
    pytest.param('"a"', id="string"),
    pytest.param("1", id="number"),
    pytest.param("null", id="null"),
    pytest.param("true", id="bool"),
    pytest.param("{}", id="empty-object"),
    pytest.param('{"a": {}}', id="empty-nested-object"),
    pytest.param(text_of_length(MAX_LENGTH + 1), id="too-long"),
    pytest.param('{"a": "x"}', id="leaf-string"),
    pytest.param('{"a": 1}', id="leaf-number"),
    pytest.param('{"a": null}', id="leaf-null"),
    pytest.param('{"a": true}', id="leaf-bool"),
    pytest.param('{"a": {"b": "x"}}', id="nested-leaf-string"),
    pytest.param('{"a": []}', id="leaf-empty-array"),
    pytest.param('{"a": [["x"]]}', id="leaf-nested-array"),
    pytest.param(op({}), id="operator-empty"),
    pytest.param(op({"prefix": "a", "suffix": "b"}), id="operator-two-keys"),
    pytest.param(op({"wildcard": "*.png"}), id="unknown-wildcard"),
    pytest.param(op({"cidr": "10.0.0.0/24"}), id="unknown-cidr"),
    pytest.param(op({"contains": "x"}), id="unknown-contains"),
    pytest.param(op({"Prefix": "x"}), id="unknown-capitalised"),
    pytest.param(op({"prefix": 1}), id="prefix-number"),
    pytest.param(op({"prefix": None}), id="prefix-null"),
    pytest.param(op({"prefix": ["x"]}), id="prefix-list"),
    pytest.param(op({"prefix": {"suffix": "x"}}), id="prefix-of-suffix"),
    pytest.param(op({"prefix": {"equals-ignore-case": 1}}), id="prefix-ignore-case-number"),
    pytest.param(op({"suffix": 1}), id="suffix-number"),
    pytest.param(op({"suffix": {"equals-ignore-case": "x", "y": 1}}), id="suffix-object-two"),
    pytest.param(op({"equals-ignore-case": 1}), id="ignore-case-number"),
    pytest.param(op({"equals-ignore-case": ["x"]}), id="ignore-case-list"),
    pytest.param(op({"anything-but": []}), id="anything-but-empty"),
    pytest.param(op({"anything-but": ["x", 1]}), id="anything-but-mixed"),
    pytest.param(op({"anything-but": None}), id="anything-but-null"),
    pytest.param(op({"anything-but": True}), id="anything-but-bool"),
    pytest.param(op({"anything-but": [None]}), id="anything-but-list-null"),
    pytest.param(op({"anything-but": [["x"]]}), id="anything-but-nested-list"),
    pytest.param(op({"anything-but": {"equals-ignore-case": "x"}}), id="anything-but-ignore-case"),
    pytest.param(op({"anything-but": {"wildcard": "x*"}}), id="anything-but-wildcard"),
    pytest.param(op({"anything-but": {"prefix": ""}}), id="anything-but-prefix-empty"),
    pytest.param(op({"anything-but": {"prefix": 1}}), id="anything-but-prefix-number"),
    pytest.param(op({"anything-but": {"prefix": "a", "suffix": "b"}}), id="anything-but-two"),
    pytest.param(op({"anything-but": {}}), id="anything-but-empty-object"),
    pytest.param(op({"numeric": 5}), id="numeric-not-list"),
    pytest.param(op({"numeric": []}), id="numeric-empty"),
    pytest.param(op({"numeric": [">"]}), id="numeric-no-operand"),
    pytest.param(op({"numeric": [">", 1, "<"]}), id="numeric-three"),
    pytest.param(op({"numeric": [">", 0, "<", 5, "<", 6]}), id="numeric-six"),
    pytest.param(op({"numeric": [">", "5"]}), id="numeric-string-operand"),
    pytest.param(op({"numeric": [">", True]}), id="numeric-bool-operand"),
    pytest.param(op({"numeric": [">", None]}), id="numeric-null-operand"),
    pytest.param(op({"numeric": ["==", 5]}), id="numeric-double-equals"),
    pytest.param(op({"numeric": ["!=", 5]}), id="numeric-not-equals"),
    pytest.param(op({"numeric": [5, ">"]}), id="numeric-swapped"),
    pytest.param(op({"numeric": ["<", 5, ">", 1]}), id="numeric-upper-first"),
    pytest.param(op({"numeric": [">", 1, ">=", 5]}), id="numeric-two-lower"),
    pytest.param(op({"numeric": ["<", 1, "<=", 5]}), id="numeric-two-upper"),
    pytest.param(op({"numeric": ["=", 5, "<", 6]}), id="numeric-equals-combined"),
    pytest.param(op({"numeric": [">", 1, "=", 5]}), id="numeric-equals-second"),
    pytest.param(op({"numeric": [">", 5, "<", 5]}), id="numeric-empty-range"),
    pytest.param(op({"numeric": [">=", 5, "<=", 5]}), id="numeric-point-range"),
    pytest.param(op({"numeric": [">", 10, "<", 5]}), id="numeric-reversed-range"),
    pytest.param(op({"exists": "true"}), id="exists-string"),
    pytest.param(op({"exists": 1}), id="exists-number"),
    pytest.param(op({"exists": None}), id="exists-null"),
    pytest.param('{"a": {"exists": true}}', id="exists-not-at-leaf"),
    pytest.param('{"exists": false}', id="exists-top-level"),
    pytest.param('{"a": {"prefix": "x"}}', id="prefix-not-at-leaf"),
    pytest.param('{"$or": {"a": ["x"]}}', id="or-object"),
    pytest.param('{"$or": []}', id="or-empty"),
    pytest.param('{"$or": [{"a": ["x"]}]}', id="or-one"),
    pytest.param('{"$or": [{"a": ["x"]}, "b"]}', id="or-non-object"),
    pytest.param('{"$or": [{"a": ["x"]}, {}]}', id="or-empty-branch"),
    pytest.param('{"$or": [{"a": ["x"]}, {"b": "y"}]}', id="or-branch-bad-leaf"),
    pytest.param('{"a": {"$or": [{"b": ["x"]}]}}', id="or-nested-one"),
]


@pytest.mark.parametrize("text", INVALID_CASES)
def test_invalid_patterns(text: str) -> None:
    with pytest.raises(InvalidPattern) as caught:
        compile_pattern(text)
    assert str(caught.value).startswith(INVALID)
    assert caught.value.reason in str(caught.value)


def test_invalid_message_names_the_leaf() -> None:
    with pytest.raises(InvalidPattern, match=r"\(leaf 'eventSource' is not an array\)$"):
        compile_pattern('{"eventSource": "aws:sqs"}')


def test_exists_off_a_leaf_is_explained() -> None:
    with pytest.raises(InvalidPattern, match="only allowed at a leaf"):
        compile_pattern('{"a": {"exists": true}}')


def test_length_limit_is_inclusive() -> None:
    assert compile_pattern(text_of_length(MAX_LENGTH)).source == text_of_length(MAX_LENGTH)


def test_operator_names_are_ordinary_field_names() -> None:
    compiled = pattern_of({"prefix": ["x"], "exists": {"numeric": ["y"]}})
    assert compiled.match({"prefix": "x", "exists": {"numeric": "y"}})


def test_matching_does_not_read_the_pattern_text(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = pattern_of({"a": [{"prefix": "x"}]})

    def refuse(_text: Any) -> Any:
        raise AssertionError("parsed again")

    monkeypatch.setattr("poller.filtering.pattern.parse_json", refuse)
    monkeypatch.setattr("poller.filtering.records.parse_json", refuse)
    assert compiled.match({"a": "xy"})


def test_patterns_equal_by_source() -> None:
    assert pattern_of('{"a": ["x"]}') == pattern_of('{"a": ["x"]}')
    assert hash(pattern_of('{"a": ["x"]}')) == hash(pattern_of('{"a": ["x"]}'))


def test_shapes_of_top_level_keys() -> None:
    compiled = pattern_of({"body": {"a": ["x"]}, "$or": [{"m": ["1"]}, {"m": {"n": ["2"]}}]})
    assert dict(compiled.shapes) == {"body": Shape.OBJECT, "m": Shape.MIXED}


def test_cyclic_document_does_not_hang() -> None:
    loop: list[Any] = ["y"]
    loop.append(loop)
    assert pattern_of({"a": ["y"]}).match({"a": loop})
    assert not pattern_of({"a": ["x"]}).match({"a": loop})


def test_deepest_or_nesting_within_the_length_limit() -> None:
    text = '{"a":["x"]}'
    while len(deeper := '{"$or":[' + text + ',{"b":[1]}]}') <= MAX_LENGTH:
        text = deeper
    compiled = compile_pattern(text)
    assert compiled.match({"a": "x"})
    assert compiled.match({"b": 1})
    assert not compiled.match({"a": "y"})


def test_deepest_object_nesting_within_the_length_limit() -> None:
    depth = (MAX_LENGTH - len('["x"]')) // len('{"a":}')
    compiled = compile_pattern('{"a":' * depth + '["x"]' + "}" * depth)
    document: Any = "x"
    for _ in range(depth):
        document = {"a": document}
    assert compiled.match(document)
    assert not compiled.match({"a": "x"})


# ---------------------------------------------------------------------------------------------
# Properties: valid patterns from the grammar; matching never raises; compiling only rejects


@settings(max_examples=300)
@given(pattern=VALID_PATTERN, documents=st.lists(DOCUMENT, min_size=1, max_size=4))
def test_valid_patterns_compile_and_never_raise(
    pattern: dict[str, Any], documents: list[Any]
) -> None:
    text = json.dumps(pattern)
    if len(text) > MAX_LENGTH:
        return
    compiled = compile_pattern(text)
    criteria = Criteria([compiled, compile_pattern('{"a": [{"exists": false}]}')])
    for document in documents:
        assert isinstance(compiled.match(document), bool)
        assert isinstance(criteria.keep(document), bool)
        assert isinstance(
            dynamodb_keep(criteria, document if isinstance(document, dict) else {}), bool
        )


OPERATOR_KEY = st.sampled_from(
    ["prefix", "suffix", "equals-ignore-case", "anything-but", "numeric", "exists", "$or", "a", "="]
)
FUZZ = st.recursive(
    JSON_SCALAR | st.sampled_from(["<", "<=", ">", ">=", "="]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(OPERATOR_KEY, children, max_size=3)
    ),
    max_leaves=20,
)


@settings(max_examples=400)
@given(
    text=st.text(max_size=40)
    | DOCUMENT.map(lambda v: json.dumps(v, default=str))
    | FUZZ.map(lambda v: json.dumps(v, default=str))
)
def test_compile_only_raises_invalid_pattern(text: str) -> None:
    outcome: Pattern | str
    try:
        outcome = compile_pattern(text)
    except InvalidPattern as error:  # anything else propagates and fails the test
        outcome = str(error)
    assert isinstance(outcome, Pattern) or outcome.startswith(INVALID)


@given(value=st.text(max_size=8), other=st.text(max_size=8))
def test_exact_and_anything_but_are_complements(value: str, other: str) -> None:
    document = {"k": other}
    exact = pattern_of({"k": [value]}).match(document)
    assert exact is (value == other)
    assert pattern_of({"k": [{"anything-but": value}]}).match(document) is not exact
