"""A mapping's FilterCriteria, compiled once, as the keep-or-drop test its source applies."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from poller.config.models import SqsMappingConfig, StreamMappingConfig
from poller.filtering.pattern import compile_pattern
from poller.filtering.records import Criteria, dynamodb_keep, kinesis_keep


def criteria_of(config: SqsMappingConfig | StreamMappingConfig) -> Criteria | None:
    """The compiled filters (ORed), or None when the mapping has none: deliver everything.

    Patterns were validated when the configuration loaded, so compiling cannot fail here.
    """
    filters = config.filter_criteria.filters
    if not filters:
        return None
    return Criteria(tuple(compile_pattern(f.pattern) for f in filters))


def stream_filter(config: StreamMappingConfig) -> Callable[[dict[str, Any]], bool] | None:
    """The test a stream reader applies to each event record (None: keep everything)."""
    criteria = criteria_of(config)
    if criteria is None:
        return None
    keep = dynamodb_keep if config.is_dynamodb else kinesis_keep
    return functools.partial(keep, criteria)
