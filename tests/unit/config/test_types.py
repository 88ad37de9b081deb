"""Shared types (types.py): integer fields refuse booleans; STRICT models are frozen."""

from __future__ import annotations

import pytest
from config_cases import QUEUE, config_text

from poller.config.loader import parse_config
from poller.errors import ConfigError

# --- validation errors with their paths -------------------------------------------------------


def test_boolean_batch_size_is_rejected() -> None:
    text = config_text(f"{{function: fn, event_source_arn: '{QUEUE}', batch_size: true}}")
    with pytest.raises(ConfigError):
        parse_config(text, {})


# --- model details ----------------------------------------------------------------------------


def test_config_is_frozen() -> None:
    config = parse_config("functions: {fn: {handler: 'a:b'}}", {})
    with pytest.raises(ValueError, match="frozen"):
        config.shutdown_timeout = 1.0
