"""events.json_size: exactly the compact UTF-8 size of `json.dumps`, for any JSON value."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from poller.events import Base64Text, base64_text, json_bytes, json_size

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)  # beyond orjson's 64 bits too
    | st.floats(min_value=1e-4, max_value=1e15)  # epoch seconds and the like (see below)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def reference(value: Any) -> int:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return len(text.encode("utf-8", "surrogatepass"))


@given(JSON)
def test_equal_to_json_dumps(value: Any) -> None:
    assert json_size(value) == reference(value)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_any_float_within_a_few_bytes(value: float) -> None:
    """orjson writes very small and very large floats in its own form (0.00001 for 1e-05):
    a float may count up to 5 bytes more or less than `json.dumps` writes it."""
    assert abs(json_size([value]) - reference([value])) <= 5


def test_lone_surrogates_and_big_ints_take_the_standard_path() -> None:
    for value in ({"body": "\ud800x"}, {"n": 2**80}):
        assert json_size(value) == reference(value)


def test_base64_text_counts_as_text() -> None:
    assert json_size({"data": Base64Text("aGk=")}) == len('{"data":"aGk="}')


def test_base64_text_of_bytes_and_of_text() -> None:
    assert base64_text(b"hi") == "aGk="
    assert base64_text(Base64Text("aGk=")) == "aGk="


@given(JSON)
def test_the_sent_event_is_the_measured_size(value: Any) -> None:
    """Bad input corpus finding: the Lambda and HTTP targets sent `json.dumps(event)`, spaced
    and ASCII-escaped, while batches are cut by this compact UTF-8 size, so a batch just under
    6 MB (or any with non-ASCII text) went out over Lambda's request limit. They now send
    `json_bytes`, which parses back to the same value and is the measured size (lone
    surrogates, which UTF-8 cannot hold, are sent escaped)."""
    sent = json_bytes(value)
    assert json.loads(sent) == value
    if len(sent) != json_size(value):
        assert "\\ud" in sent.decode("ascii").lower()


def test_non_ascii_text_is_sent_as_utf_8_not_escaped() -> None:
    event = {"Records": [{"body": "é" * 1000}]}
    assert len(json_bytes(event)) == json_size(event) < len(json.dumps(event).encode())
