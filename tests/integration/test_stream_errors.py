"""Bad stream sources fail at start with a clear error naming the mapping (exit 2 in the CLI)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import itest_handlers
import pytest
import structlog.testing
from sqs_support import ACCOUNT, HERE, REGION, http_get, running, unique, wait_for
from stream_support import delivered_data, make_stream, put, stream_config

from poller.config.loader import parse_config
from poller.daemon import Daemon
from poller.errors import ConfigError, StartupError, leaves
from poller.telemetry.metrics import Metrics

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


async def _startup_error(config_text: str) -> str:
    daemon = Daemon(parse_config(config_text, os.environ), HERE, metrics=Metrics())
    try:
        with anyio.fail_after(30):
            await daemon.run()
    except StartupError as exc:
        return str(exc)
    except BaseExceptionGroup as group:
        found = [e for e in leaves(group) if isinstance(e, StartupError)]
        if found:
            return str(found[0])
        raise
    raise AssertionError("the daemon started")


def _looked_up(endpoint: str) -> str:
    """Where a missing source was looked for, as its error says (the credentials' account is
    the ARNs' here, so STS adds nothing)."""
    return f" (looked up in account {ACCOUNT}, region {REGION}, at {endpoint})"


async def test_missing_stream(endpoint: str, tmp_path: Path) -> None:
    arn = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{unique('nope')}"
    message = await _startup_error(stream_config(endpoint, arn, tmp_path / "s.db"))
    assert message == f"mappings[0].event_source_arn: Stream not found: {arn}" + _looked_up(
        endpoint
    )


async def test_missing_dynamodb_stream(endpoint: str, tmp_path: Path) -> None:
    arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/nope/stream/2024-01-01T00:00:00.000"
    message = await _startup_error(stream_config(endpoint, arn, tmp_path / "s.db"))
    assert message == f"mappings[0].event_source_arn: Stream not found: {arn}" + _looked_up(
        endpoint
    )


async def test_missing_table(endpoint: str, tmp_path: Path) -> None:
    arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{unique('nope')}"
    message = await _startup_error(stream_config(endpoint, arn, tmp_path / "s.db"))
    assert message == f"mappings[0].event_source_arn: Table not found: {arn}" + _looked_up(endpoint)


async def test_table_without_stream(endpoint: str, dynamodb: Any, tmp_path: Path) -> None:
    name = unique("plain")
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
    message = await _startup_error(stream_config(endpoint, arn, tmp_path / "s.db"))
    assert message.startswith(f"mappings[0].event_source_arn: table {name} has no stream")


@pytest.mark.parametrize(
    ("arn", "position", "expected"),
    [
        pytest.param(
            f"arn:aws:sqs:{REGION}:{ACCOUNT}:stream/s",
            "LATEST",
            "mappings[0].starting_position: unknown field",
            id="queue-arn-with-stream-fields",
        ),
        pytest.param(
            f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/s/consumer/c:1",
            "LATEST",
            "mappings[0].event_source_arn: enhanced fan-out consumer ARNs are not supported",
            id="consumer-arn",
        ),
        pytest.param(
            f"arn:aws:sns:{REGION}:{ACCOUNT}:topic",
            "LATEST",
            "mappings[0].event_source_arn: unsupported event source service 'sns'",
            id="not-a-source",
        ),
        pytest.param(
            f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/s",
            "SOMEWHERE",
            "mappings[0].starting_position: Input should be 'TRIM_HORIZON', 'LATEST' or "
            "'AT_TIMESTAMP'",
            id="bad-starting-position",
        ),
        pytest.param(
            f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t/stream/x",
            "AT_TIMESTAMP",
            "mappings[0].starting_position: Unsupported starting position for arn type",
            id="dynamodb-at-timestamp",
        ),
    ],
)
def test_wrong_kind_of_source_is_a_config_error(
    endpoint: str, tmp_path: Path, arn: str, position: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(
            stream_config(endpoint, arn, tmp_path / "s.db", starting_position=position),
            os.environ,
        )
    assert any(issue.startswith(expected) for issue in caught.value.issues), caught.value.issues


async def test_a_good_stream_still_starts(endpoint: str, kinesis: Any, tmp_path: Path) -> None:
    # Guards the tests above: the same config with a real stream does not fail, and its
    # mapping starts: it looks the stream up, reads it and delivers what is on it.
    name = unique("ok")
    arn = make_stream(kinesis, name)
    put(kinesis, name, [("k", "hello")])
    with structlog.testing.capture_logs() as logs:
        async with running(stream_config(endpoint, arn, tmp_path / "s.db")) as daemon:
            await wait_for(lambda: len(itest_handlers.records()) >= 1)
            status, _ = await http_get(daemon.http_port, "/readyz")
            assert status == 200
    assert delivered_data() == ["hello"]
    assert [e["stream"] for e in logs if e["event"] == "mapping_started"] == [arn]
    assert daemon.drained
