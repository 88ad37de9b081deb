"""Pure builders of AWS-exact Lambda event records, and the size each adds to an event."""

from __future__ import annotations

import base64
import json
from typing import Any

import orjson


def json_size(value: Any) -> int:
    """The compact UTF-8 JSON size of `value` in bytes: what it adds to an invoke payload.

    Equal to `len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())`,
    computed by orjson (a fraction of the cost), except that orjson writes floats below 1e-4
    or from 1e16 up in its own form (0.00001 for 1e-05): a few bytes either way per such
    float, nothing next to the 6 MB cap this gauges. Values orjson refuses (an int beyond 64
    bits, text with a lone surrogate) are measured the standard library's way.
    """
    try:
        return len(orjson.dumps(value))
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        return len(text.encode("utf-8", "surrogatepass"))


def json_bytes(value: Any) -> bytes:
    """`value` as compact UTF-8 JSON: the form an event is sent in, so a batch cut by
    `json_size` to Lambda's 6 MB request limit goes out at that size (spaced, ASCII-escaped
    `json.dumps` output is larger: `é` is 6 bytes, not 2). What orjson refuses is written by the
    standard library, lone surrogates as `\\u` escapes (UTF-8 cannot hold them)."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            return json.dumps(value, separators=(",", ":")).encode("ascii")


class Base64Text(str):
    """A blob as the JSON protocols carry it: base64 text, not yet decoded.

    `poller.aws.Aws` has botocore hand blobs over as this instead of decoding them to bytes,
    since every blob poller reads (Kinesis `Data`, DynamoDB `B`/`BS`, SQS binary attributes) goes
    into a Lambda event as base64 text again: decoding then re-encoding would cost twice per
    record for nothing.
    """

    __slots__ = ()


def base64_text(value: Any) -> str:
    """A blob as base64 text: text is taken to be base64 already; bytes are encoded."""
    if isinstance(value, str):
        return value
    return base64.b64encode(bytes(value)).decode("ascii")
