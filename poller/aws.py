"""aioboto3 sessions and clients: endpoint override, timeouts, API call counting, retry policy."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import aioboto3
import anyio
import structlog
from aiobotocore.config import AioConfig
from botocore.context import get_context
from botocore.utils import parse_timestamp

from poller.arns import Arn
from poller.config.settings import AwsConfig
from poller.errors import SourceMissing, error_code, is_retriable
from poller.events import Base64Text
from poller.lifecycle import Lifecycle
from poller.telemetry.metrics import Metrics

if TYPE_CHECKING:  # tenacity is imported when something first fails (see `retried`)
    from tenacity import AsyncRetrying, RetryCallState

log = structlog.get_logger("poller.aws")
T = TypeVar("T")

# The longest wait a call asks the server for: an SQS long poll's. Its client's read timeout is
# this plus `aws.read_timeout`.
LONG_POLL = 20
CONNECT_TIMEOUT = 5


class Aws:
    """Creates clients for one AWS account/endpoint; every client counts its API calls."""

    def __init__(
        self, config: AwsConfig, metrics: Metrics, credentials: dict[str, str] | None = None
    ) -> None:
        self.region = config.region
        self.endpoint_url = config.endpoint_url
        self.endpoints = dict(config.endpoints)
        self.read_timeout = config.read_timeout
        self._metrics = metrics
        self._session = aioboto3.Session(
            region_name=config.region, profile_name=config.profile, **(credentials or {})
        )
        _fast_parsers(self._session)

    def with_credentials(self, credentials: Any) -> Aws:
        """The same endpoint and metrics with other credentials (an assumed role's)."""
        other = Aws.__new__(Aws)
        other.region, other.endpoint_url, other.endpoints, other._metrics = (
            self.region,
            self.endpoint_url,
            self.endpoints,
            self._metrics,
        )
        other.read_timeout = self.read_timeout
        other._session = aioboto3.Session(region_name=self.region)
        other._session._session._credentials = credentials
        _fast_parsers(other._session)
        return other

    def client(
        self,
        service: str,
        max_connections: int = 10,
        read_timeout: float | None = None,
        attempts: int = 3,
        region: str | None = None,
    ) -> AbstractAsyncContextManager[Any]:
        """An async context manager yielding a client; the pool fits `max_connections` calls.

        `attempts` counts requests per call (botocore's standard retry mode; 1 = never retried).
        `region`: the region of the resource the client is for (an ARN's), else `aws.region`.
        `read_timeout`: how long an answer may take, `aws.read_timeout` unless given.
        """
        config = AioConfig(
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=self.read_timeout if read_timeout is None else read_timeout,
            max_pool_connections=max_connections,
            retries={"mode": "standard", "total_max_attempts": attempts},
        )
        endpoint = self.endpoints.get(service, self.endpoint_url)
        manager = self._session.client(
            service, endpoint_url=endpoint, config=config, region_name=region or self.region
        )
        return _Counted(manager, self._metrics, service)

    def client_for(self, arn: Arn, **options: Any) -> AbstractAsyncContextManager[Any]:
        """A client of `arn`'s service in `arn`'s region: Lambda reads exactly the resource an
        ARN names. (S3 bucket ARNs name no region: the configured one.)"""
        return self.client(arn.service, region=arn.region or None, **options)

    async def location(self, arn: Arn) -> str:
        """Where a resource was looked for, for the error that says it is missing: the ARN's
        account and region, the endpoint, and the account of the credentials in use when STS
        says it differs (LocalStack's is 000000000000 unless the access key id says otherwise).
        """
        endpoint = self.endpoints.get(arn.service, self.endpoint_url) or "AWS"
        where = f"looked up in account {arn.account or '-'}, region {arn.region or self.region}"
        where += f", at {endpoint}"
        caller = await self._caller_account()
        if caller is not None and caller != arn.account:
            where += f"; the credentials in use belong to account {caller}"
        return where

    @asynccontextmanager
    async def locating(self, arn: Arn) -> AsyncIterator[None]:
        """Around looking a source up: a SourceMissing says where it was looked for."""
        try:
            yield
        except SourceMissing as exc:
            raise SourceMissing(f"{exc} ({await self.location(arn)})") from exc

    async def _caller_account(self) -> str | None:
        """The account of the credentials in use (STS GetCallerIdentity), None if unknown."""
        try:
            with anyio.fail_after(5):
                async with self.client("sts", attempts=1, read_timeout=5) as sts:
                    return str((await sts.get_caller_identity())["Account"])
        except Exception:  # only decorates an error message: never replaces it
            return None


class _Counted:
    def __init__(self, manager: Any, metrics: Metrics, service: str) -> None:
        self._manager = manager
        self._metrics = metrics
        self._service = service

    async def __aenter__(self) -> Any:
        client = await self._manager.__aenter__()
        series: dict[str, Any] = {}  # operation -> its counter, looked up once

        def count(model: Any, **_: Any) -> None:
            counter = series.get(model.name)
            if counter is None:
                counter = series[model.name] = self._metrics.aws_api_calls.labels(
                    self._service, model.name
                )
            counter.inc()

        client.meta.events.register("before-call", count)
        _cache_user_agent(client)
        return client

    async def __aexit__(self, *exc: object) -> None:
        await self._manager.__aexit__(*exc)


def _cache_user_agent(client: Any) -> None:
    """Build each User-Agent string once, not twice per request.

    botocore builds the header from ~40 sanitised components when it serialises a request and
    again just before sending it, so that it names the features in use (~150 µs each, a fifth
    of an idle GetRecords' client cost). The string changes only with those features, so it is
    kept per feature set. A botocore without this builder (other versions) is left alone.
    """
    creator = getattr(client, "_user_agent_creator", None)
    if creator is None or not hasattr(creator, "to_string"):
        return
    build = creator.to_string
    cache: dict[frozenset[str], str] = {}

    def to_string() -> str:
        context = get_context()
        features = frozenset(context.features) if context is not None else frozenset()
        text = cache.get(features)
        if text is None:
            text = cache[features] = build()
        return text

    creator.to_string = to_string  # the instance's: both of botocore's builds call it


def _fast_parsers(session: aioboto3.Session) -> None:
    """Parse what every record carries the cheap way. Timestamps: botocore's default converts
    each through the local time zone (~8 µs, most of a record's read cost); `wire_timestamp`
    keeps epoch numbers as they came. Blobs: kept as the base64 text the wire carried
    (`Base64Text`), which is what Lambda's events hold, instead of decoded to bytes and encoded
    again."""
    parsers = session._session.get_component("response_parser_factory")
    parsers.set_parser_defaults(timestamp_parser=wire_timestamp, blob_parser=Base64Text)


def wire_timestamp(value: Any) -> float | datetime:
    """A response timestamp as poller uses it: epoch numbers (what the JSON protocols send, and
    what Lambda's events hold) stay epoch seconds, a float; text (XML protocols) becomes an aware
    UTC datetime (`fast_timestamp`). Nothing poller reads needs a number as a datetime, and
    building one per record costs ~2 µs."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return fast_timestamp(value)


def fast_timestamp(value: Any) -> datetime:
    """Parse an API timestamp to an aware UTC datetime: epoch numbers directly, anything else
    (ISO 8601 text, from XML protocols) through botocore's parser. Same instant as botocore's
    default, which returns it in the local time zone."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    parsed: datetime = parse_timestamp(value)
    return parsed


MAX_WAIT = 30.0  # the longest wait between retries, before jitter


def backoff(attempt: int, max_wait: float = MAX_WAIT) -> float:
    """The wait after failed attempt number `attempt` (1, 2, ...): 0.5 s doubling each time,
    plus up to 1 s of jitter, at most `max_wait` (tenacity's `wait_exponential_jitter`)."""
    jitter = random.uniform(0, 1)  # noqa: S311 - spreading retries, not a secret
    try:
        return max(0.0, min(0.5 * 2.0 ** (attempt - 1) + jitter, max_wait))
    except OverflowError:
        return max_wait


def retrying(
    on_retry: Callable[[BaseException, float], None],
    retry_all: bool = False,
    max_wait: float = MAX_WAIT,
    give_up_after: float | None = None,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    failed: int = 0,
) -> AsyncRetrying:
    """Retry with exponential backoff and jitter (0.5 s up to `max_wait`), forever or, with
    `give_up_after`, until a retry would start more than that many seconds after the first
    attempt (the last error is then raised).

    Retries retriable errors only, or every Exception with `retry_all` (runtime polling, where a
    deleted queue or a revoked permission may come back). Sleeps with anyio, so a cancel scope
    (shutdown) interrupts the wait; `sleep` may instead return early (`Lifecycle.sleep`), so the
    caller decides what an interrupted wait means. `failed`: attempts that already failed (and
    waited) before this one, so the backoff goes on from there.
    """

    from tenacity import AsyncRetrying, retry_if_exception, stop_before_delay, stop_never

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if exc is not None:
            on_retry(exc, state.upcoming_sleep)

    return AsyncRetrying(
        retry=retry_if_exception(lambda exc: _retried(exc, retry_all)),
        wait=lambda state: backoff(state.attempt_number + failed, max_wait),
        before_sleep=before_sleep,
        sleep=sleep,
        stop=stop_before_delay(give_up_after) if give_up_after is not None else stop_never,
        reraise=True,
    )


def _retried(exc: BaseException, retry_all: bool) -> bool:
    return isinstance(exc, Exception) and (retry_all or is_retriable(exc))


async def retried(
    call: Callable[[], Awaitable[T]],
    on_retry: Callable[[BaseException, float], None],
    retry_all: bool = False,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    give_up_after: float | None = None,
) -> T:
    """`call()`'s result, retried as `retrying` retries while it fails (with `give_up_after`,
    no retry starts more than that many seconds after the first call).

    The same policy, but the retry machinery is built only after a failure: a call that
    succeeds (every steady-state receive and GetRecords) costs one await, not a tenacity loop.
    """
    started = time.monotonic() if give_up_after is not None else 0.0
    try:
        return await call()
    except Exception as exc:
        wait = backoff(1)
        if not _retried(exc, retry_all) or _too_late(started, wait, give_up_after):
            raise
        on_retry(exc, wait)
    await sleep(wait)
    remaining = None if give_up_after is None else give_up_after - (time.monotonic() - started)
    async for attempt in retrying(
        on_retry, retry_all, sleep=sleep, failed=1, give_up_after=remaining
    ):
        with attempt:
            return await call()
    raise AssertionError("unreachable: retrying never stops without a result or an error")


def _too_late(started: float, wait: float, give_up_after: float | None) -> bool:
    return give_up_after is not None and time.monotonic() + wait - started > give_up_after


async def until_stopped(
    lifecycle: Lifecycle,
    call: Callable[[], Awaitable[T]],
    on_retry: Callable[[BaseException, float], None],
    retry_all: bool = False,
) -> T | None:
    """`call()`'s result, retried with backoff (`retried`) while it fails; None once shutdown
    began first (the wait, or the call in flight, is cancelled as intake).

    An error `retrying` does not retry (not retriable, unless `retry_all`) is raised.
    """
    result: T | None = None
    with lifecycle.intake():
        result = await retried(call, on_retry, retry_all=retry_all)
    return result


def describe(exc: BaseException) -> dict[str, str]:
    """Log fields for an AWS error; never includes credentials or request bodies."""
    return {"error_code": error_code(exc), "error": str(exc)[:500]}
