"""Fixtures for the integration suite; the helpers live in sqs_support.py and stream_support.py."""

from sqs_support import _credentials, _fresh_state, anyio_backend, endpoint, sqs
from stream_support import dynamodb, kinesis

__all__ = [
    "_credentials",
    "_fresh_state",
    "anyio_backend",
    "dynamodb",
    "endpoint",
    "kinesis",
    "sqs",
]
