"""aws.fast_timestamp: the same instant as botocore's parser, without the local-zone detour."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.utils import parse_timestamp

from poller.aws import Aws, fast_timestamp
from poller.config.settings import AwsConfig
from poller.telemetry.metrics import Metrics


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(1700000000.123, id="float-epoch"),
        pytest.param(1700000000, id="int-epoch"),
        pytest.param(0, id="epoch-zero"),
        pytest.param("2024-01-01T00:00:00Z", id="iso-z"),
        pytest.param("2024-01-01T02:00:00+02:00", id="iso-offset"),
        pytest.param("1700000000.5", id="numeric-text"),
    ],
)
def test_same_instant_as_botocore(value: Any) -> None:
    ours = fast_timestamp(value)
    assert ours.tzinfo is not None
    assert ours == parse_timestamp(value)


def test_numbers_come_back_in_utc() -> None:
    assert fast_timestamp(1.5) == datetime(1970, 1, 1, 0, 0, 1, 500000, tzinfo=UTC)
    assert fast_timestamp(1.5).utcoffset() is not None


def test_sessions_use_it() -> None:
    aws = Aws(AwsConfig(), Metrics())
    factory = aws._session._session.get_component("response_parser_factory")
    assert factory._defaults["timestamp_parser"] is fast_timestamp
