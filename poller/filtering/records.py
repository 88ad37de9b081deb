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
import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from poller.filtering.criteria import Criteria, compile_criteria
from poller.filtering.parsing import NOT_JSON, parse_json
from poller.filtering.pattern import Shape

_UNPARSED: Any = object()

Keep = Callable[[Mapping[str, Any]], bool]


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


# Each source's keep test, by the service its event source ARN names.
KEEP: dict[str, Callable[[Criteria, Mapping[str, Any]], bool]] = {
    "sqs": sqs_keep,
    "kinesis": kinesis_keep,
    "dynamodb": dynamodb_keep,
}


def record_filter(patterns: Iterable[str], service: str) -> Keep | None:
    """The keep-or-drop test a mapping applies to each event record of `service`'s source, or
    None when it has no filters (every record is delivered)."""
    criteria = compile_criteria(patterns)
    if criteria is None:
        return None
    return functools.partial(KEEP[service], criteria)
