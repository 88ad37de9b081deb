"""parsing.py: parse_json reads bodies and data as Lambda does, never raising (§7)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from filter_cases import BIG, HUGE, SMALL, TINY

from poller.filtering.parsing import NOT_JSON, parse_json


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(HUGE, NOT_JSON, id="exponent-past-decimal"),
        pytest.param(TINY, NOT_JSON, id="negative-exponent-past-decimal"),
        pytest.param("-1E+1000000000000000000", NOT_JSON, id="bare-number-past-decimal"),
        pytest.param("[" * 100_000 + "]" * 100_000, NOT_JSON, id="nested-too-deeply"),
        pytest.param("9" * 5000, NOT_JSON, id="integer-past-the-digit-limit"),
        pytest.param(BIG, {"n": Decimal("1E+999999999999999999")}, id="largest-exponent"),
        pytest.param(SMALL, {"n": Decimal("1E-999999999999999999")}, id="smallest-exponent"),
    ],
)
def test_parse_json_never_raises(text: str, expected: Any) -> None:
    value = parse_json(text)
    assert value is NOT_JSON if expected is NOT_JSON else value == expected
