"""Cases shared by the config tests: source ARNs, one-mapping config text and issue helpers."""

# Imported by name: pytest's prepend import mode puts this directory on sys.path, and mypy finds
# it through mypy_path in pyproject.toml.

from __future__ import annotations

import pytest

from poller.config.loader import parse_config
from poller.config.models import StreamMappingConfig
from poller.errors import ConfigError

QUEUE = "arn:aws:sqs:us-east-1:123456789012:orders"
KINESIS = "arn:aws:kinesis:us-east-1:123456789012:stream/clicks"
DDB_STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/Orders/stream/2024-01-01T00:00:00.000"
DDB_TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/Orders"


def config_text(mapping: str, functions: str = "fn: {handler: 'app:handler'}") -> str:
    """A config with one function section and one mapping given as a YAML flow mapping."""
    return f"functions:\n  {functions}\nmappings:\n  - {mapping}\n"


def issues_of(text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, environ or {})
    assert str(info.value) == "\n".join(info.value.issues)
    return info.value.issues


# --- validation errors with their paths -------------------------------------------------------

RANGE = "Value '{v}' failed to satisfy constraint: Member must have value {bound}"


def rng(path: str, value: object, bound: str) -> str:
    return f"{path}: " + RANGE.format(v=value, bound=bound)


# --- stream failure settings: retries, record age, bisect, on-failure destination (§1, §4.5) ----

STREAM = f"function: fn, event_source_arn: '{KINESIS}', StartingPosition: LATEST"
SQS_DESTINATION = "arn:aws:sqs:us-east-1:123456789012:failures"


def stream_mapping(fields: str) -> StreamMappingConfig:
    mapping = parse_config(config_text(f"{{{STREAM}, {fields}}}"), {}).mappings[0]
    assert isinstance(mapping, StreamMappingConfig)
    return mapping
