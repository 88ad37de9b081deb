"""aws: fast_timestamp (the same instant as botocore's parser, without the local-zone detour)
and until_stopped (retry with backoff until success, or None once shutdown begins)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.lowlevel
import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.useragent import UserAgentString
from botocore.utils import parse_timestamp

import poller.aws
from poller.aws import Aws, backoff, fast_timestamp, until_stopped, wire_timestamp
from poller.config.settings import AwsConfig
from poller.errors import StartupError
from poller.events import Base64Text
from poller.lifecycle import Lifecycle
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
    assert factory._defaults["timestamp_parser"] is wire_timestamp
    assert factory._defaults["blob_parser"] is Base64Text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(1764000000.123, 1764000000.123, id="epoch-float"),
        pytest.param(1764000000, 1764000000.0, id="epoch-int"),
        pytest.param(
            "2025-11-24T16:00:00.123Z",
            datetime(2025, 11, 24, 16, 0, 0, 123000, tzinfo=UTC),
            id="iso-text",
        ),
    ],
)
def test_wire_timestamp_keeps_epoch_numbers(value: Any, expected: Any) -> None:
    parsed = wire_timestamp(value)
    assert parsed == expected
    assert type(parsed) is type(expected)


@pytest.mark.anyio
async def test_blobs_stay_base64_text() -> None:
    """A Kinesis GetRecords response parsed by an `Aws` client's parser: `Data` is the wire's
    base64 text, marked as such, so the event builder passes it through unchanged."""
    aws = Aws(AwsConfig(), Metrics())
    factory = aws._session._session.get_component("response_parser_factory")
    model = botocore.session.get_session().get_service_model("kinesis")
    body = b'{"Records": [{"Data": "aGk=", "PartitionKey": "k", "SequenceNumber": "1"}]}'
    parsed = await factory.create_parser("json").parse(
        {"body": body, "headers": {}, "status_code": 200},
        model.operation_model("GetRecords").output_shape,
    )
    data = parsed["Records"][0]["Data"]
    assert (data, type(data)) == ("aGk=", Base64Text)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("configured", "given", "expected"), [(25, None, 25), (3, None, 3), (3, 23, 23)]
)
async def test_read_timeout_is_aws_read_timeout_unless_a_call_needs_longer(
    configured: float, given: float | None, expected: float
) -> None:
    """`aws.read_timeout` bounds every answer; a client for long polls asks for more."""
    aws = Aws(AwsConfig(read_timeout=configured, endpoint_url="http://127.0.0.1:9"), Metrics())
    async with aws.client("kinesis", read_timeout=given) as client:
        assert client.meta.config.read_timeout == expected


# until_stopped: the one "retry until it works, unless shutdown comes first" loop


def _throttled() -> ClientError:
    return ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "Op")


@pytest.mark.anyio
async def test_until_stopped_retries_what_may_heal_and_returns_the_result() -> None:
    calls: list[float] = []
    waits: list[float] = []

    async def call() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise _throttled()
        return "done"

    result = await until_stopped(Lifecycle(), call, lambda exc, wait: waits.append(wait))
    assert result == "done"
    assert len(calls) == 2
    assert len(waits) == 1


@pytest.mark.anyio
async def test_until_stopped_raises_what_waiting_will_not_fix() -> None:
    async def call() -> str:
        raise StartupError("Stream not found")

    with pytest.raises(StartupError):
        await until_stopped(Lifecycle(), call, lambda exc, wait: None, retry_all=False)


@pytest.mark.anyio
async def test_until_stopped_retry_all_retries_any_exception() -> None:
    calls: list[int] = []

    async def call() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("queue deleted, may come back")
        return 7

    assert await until_stopped(Lifecycle(), call, lambda exc, wait: None, retry_all=True) == 7


@pytest.mark.anyio
async def test_until_stopped_gives_none_once_shutdown_begins() -> None:
    lifecycle = Lifecycle()
    errors: list[BaseException] = []

    async def call() -> str:
        raise _throttled()

    def on_retry(exc: BaseException, wait: float) -> None:
        errors.append(exc)
        lifecycle.stop()  # shutdown begins during the wait before the next attempt

    with anyio.fail_after(5):
        assert await until_stopped(lifecycle, call, on_retry) is None
    assert len(errors) == 1


@pytest.mark.anyio
async def test_until_stopped_after_shutdown_does_not_call() -> None:
    lifecycle = Lifecycle()
    lifecycle.stop()
    calls: list[int] = []

    async def call() -> int:
        calls.append(1)
        await anyio.lowlevel.checkpoint()
        return 1

    assert await until_stopped(lifecycle, call, lambda exc, wait: None) is None
    assert calls in ([], [1])  # cancelled at its first checkpoint at the latest


class _Sent(Exception):
    """Raised from before-send: the request was built (signed, headers set) and not sent."""


async def _user_agents(aws: Aws, calls: int) -> list[str]:
    sent: list[str] = []

    def capture(request: Any, **_: Any) -> None:
        sent.append(request.headers["User-Agent"])
        raise _Sent

    manager = aws.client("kinesis", attempts=1)
    async with manager as client:
        client.meta.events.register("before-send.kinesis", capture)
        for _ in range(calls):
            with pytest.raises(_Sent):
                await client.list_streams()
    return sent


def _normalised(user_agent: bytes | str) -> list[str]:
    """A User-Agent's parts, its feature list (m/...) as a sorted set: botocore keeps features
    in a set, so their order varies between processes."""
    text = user_agent.decode() if isinstance(user_agent, bytes) else user_agent
    return [
        "m/" + ",".join(sorted(part[2:].split(","))) if part.startswith("m/") else part
        for part in text.split()
    ]


@pytest.mark.anyio
async def test_user_agent_is_botocores_built_once_per_feature_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The User-Agent poller's clients send is the one botocore builds per request, built once
    for each set of features in use (botocore builds it twice per request, ~150 µs each). Four
    calls here: botocore's first build (at serialisation) sees fewer features than its second
    (before sending, the one sent), so two feature sets: two builds instead of eight."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")

    def fresh() -> Aws:
        return Aws(AwsConfig(region="us-east-1", endpoint_url="http://127.0.0.1:9"), Metrics())

    with monkeypatch.context() as patched:
        patched.setattr(poller.aws, "_cache_user_agent", lambda client: None)
        plain = await _user_agents(fresh(), calls=4)
    builds = 0
    real = UserAgentString.to_string

    def counting(self: UserAgentString) -> str:
        nonlocal builds
        builds += 1
        return str(real(self))

    monkeypatch.setattr(UserAgentString, "to_string", counting)
    ours = await _user_agents(fresh(), calls=4)
    assert [_normalised(ua) for ua in ours] == [_normalised(ua) for ua in plain]
    assert len({tuple(_normalised(ua)) for ua in plain}) == 1
    assert builds == 2


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [
        pytest.param(1, 0.5, 1.5, id="first"),
        pytest.param(2, 1.0, 2.0, id="doubles"),
        pytest.param(6, 16.0, 17.0, id="sixth"),
        pytest.param(7, 30.0, 30.0, id="capped"),
        pytest.param(10_000, 30.0, 30.0, id="huge-attempt"),
    ],
)
def test_backoff_doubles_from_half_a_second_with_jitter_up_to_the_cap(
    attempt: int, low: float, high: float
) -> None:
    for _ in range(50):
        assert low <= backoff(attempt) <= high
