"""A mapping's FilterCriteria applied to each source's records (reference §3.6, §4.8, §8.13-15).

Records are never modified; a parsed body or data is matched from a shallow copy.

- SQS: a filter whose pattern has `body` as a nested pattern keeps a message only if its body is
  a JSON object, matched parsed; one with `body` as a leaf array only if the body is not JSON,
  matched as the string; otherwise that filter drops it. Other keys (metadata) match the record
  as delivered.
- Kinesis: `data` is base64-decoded; a filter whose pattern has `data` as a nested pattern keeps a
  record only if the data is a JSON object, matched parsed under the top-level key `data` (where
  AWS's patterns put it). Other keys match the record as delivered (`kinesis.partitionKey`). A
  leaf `data` pattern is refused at load (`filtering.stream_pattern_issue`); here it never matches.
- DynamoDB: the record as delivered (`dynamodb` is JSON already; `eventName` works too).

Choices where AWS is silent: JSON is what `json` parses, less NaN and Infinity and numbers with an
exponent `Decimal` cannot hold (beyond ±999999999999999999: such a body is a plain string); JSON
that is not an object (`123`, `"text"`, `[...]`) satisfies neither kind of pattern; a pattern
using the data key both ways (in `$or` branches) matches a JSON-object body parsed and any other
body as is.

This module imports `poller.filtering.pattern` for type checking only: `filtering` re-exports it.
"""

from __future__ import annotations

import binascii
import enum
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from poller.filtering.pattern import Pattern

NOT_JSON: Any = object()  # what `parse_json` returns for text that is not JSON
_UNPARSED: Any = object()
_WHITESPACE = frozenset(" \t\n\r")
_JSON_START = frozenset('{["-0123456789tfn')


class Shape(enum.Enum):
    """How a pattern uses a top-level key: a nested pattern, a leaf array, or both (in `$or`)."""

    OBJECT = "object"
    LEAF = "leaf"
    MIXED = "mixed"


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


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_not_json)


def parse_json(text: Any) -> Any:
    """`text` parsed as JSON, numbers with a fraction or exponent as `Decimal`; else NOT_JSON.

    Never raises: text that cannot be parsed (malformed, nested too deeply, a number `Decimal`
    cannot hold such as `1e999999999999999999999`) is NOT_JSON, as Lambda treats a body it
    cannot parse as a plain string."""
    if not isinstance(text, str):
        return NOT_JSON
    head = text[:1]
    if head in _WHITESPACE:
        head = text.lstrip(" \t\n\r")[:1]
    if head not in _JSON_START:  # most plain text is told apart without a parse
        return NOT_JSON
    try:
        return _DECODER.decode(text)
    except (ValueError, RecursionError, ArithmeticError):
        # ArithmeticError: decimal.InvalidOperation, for an exponent past Decimal's limits.
        return NOT_JSON


def sqs_keep(criteria: Criteria, record: Mapping[str, Any]) -> bool:
    """Whether an SQS record (as `poller.events.sqs.build_record` makes it) passes `criteria`."""
    body: Any = _UNPARSED
    parsed_view: dict[str, Any] | None = None
    for pattern in criteria.patterns:
        shape = pattern.shapes.get("body")
        document: Any = record
        if shape is not None:
            if body is _UNPARSED:
                body = parse_json(record.get("body"))
            if isinstance(body, dict) and shape is not Shape.LEAF:
                if parsed_view is None:
                    parsed_view = {**record, "body": body}
                document = parsed_view
            elif body is not NOT_JSON or shape is Shape.OBJECT:
                continue  # the table's "message dropped", as far as this filter goes
        if pattern.match(document):
            return True
    return not criteria.patterns


def kinesis_keep(criteria: Criteria, record: Mapping[str, Any]) -> bool:
    """Whether a Kinesis record (as `poller.events.kinesis.build_record` makes it) passes."""
    data: Any = _UNPARSED
    parsed_view: dict[str, Any] | None = None
    for pattern in criteria.patterns:
        shape = pattern.shapes.get("data")
        document: Any = record
        if shape is not None:
            if data is _UNPARSED:
                data = _kinesis_data(record)
            if shape is not Shape.OBJECT or not isinstance(data, dict):
                continue  # "record dropped" (a non-JSON data pattern is refused at load)
            if parsed_view is None:
                parsed_view = {**record, "data": data}
            document = parsed_view
        if pattern.match(document):
            return True
    return not criteria.patterns


def dynamodb_keep(criteria: Criteria, record: Mapping[str, Any]) -> bool:
    """Whether a DynamoDB Streams record (as `poller.events.dynamodb.build_record`) passes."""
    return criteria.keep(record)


def _kinesis_data(record: Mapping[str, Any]) -> Any:
    payload = record.get("kinesis")
    encoded = payload.get("data") if isinstance(payload, Mapping) else None
    if not isinstance(encoded, str):
        return NOT_JSON
    try:
        return parse_json(binascii.a2b_base64(encoded).decode("utf-8"))
    except ValueError:  # not base64 (binascii.Error), not ASCII, or not UTF-8
        return NOT_JSON
