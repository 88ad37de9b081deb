"""JSON of message bodies and record data, read as Lambda's filtering reads it (reference §7).

Numbers with a fraction or exponent parse as `Decimal`, so a pattern compares them as written;
text that is not JSON (or not JSON `Decimal` can hold) is `NOT_JSON`, never an exception.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

NOT_JSON: Any = object()  # what `parse_json` returns for text that is not JSON
_WHITESPACE = frozenset(" \t\n\r")
_JSON_START = frozenset('{["-0123456789tfn')


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
