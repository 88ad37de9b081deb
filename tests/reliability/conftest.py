"""Fixtures for the reliability suites (RELIABILITY.md): the integration suite's server and
clients. These suites run on moto's server only; the LocalStack leg runs tests/integration."""

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
