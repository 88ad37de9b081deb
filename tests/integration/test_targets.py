"""Function targets inside the running daemon: worker processes, the Runtime Interface
Emulator over HTTP, the Lambda Invoke API; concurrency limits as throttles."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from fake_targets import FakeLambda, FakeRie, closed_port, serve
from sqs_support import HERE, REGION, http_get, metric, running, unique, wait_for
from stream_support import make_stream, put, stream_arn

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


def _config(endpoint: str, arn: str, state: Path, function: str, aws_extra: str = "") -> str:
    return (
        textwrap.dedent(f"""\
        aws: {{region: {REGION}, endpoint_url: "{endpoint}"{aws_extra}}}
        http: {{listen: "127.0.0.1:0"}}
        state: {{path: "{state}"}}
        shutdown_timeout: 10
        functions:
          fn:
        """)
        + textwrap.indent(textwrap.dedent(function), "    ")
        + textwrap.dedent(f"""\
        mappings:
          - function: fn
            event_source_arn: "{arn}"
            starting_position: TRIM_HORIZON
            maximum_retry_attempts: 0
            batch_size: 2
        """)
    )


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def test_a_worker_that_dies_fails_only_its_batch(
    endpoint: str, kinesis: Any, tmp_path: Path
) -> None:
    name = unique("s")
    arn = make_stream(kinesis, name)
    put(kinesis, name, [("k", "a"), ("k", "b"), ("k", "crash"), ("k", "c"), ("k", "d"), ("k", "e")])
    log = tmp_path / "calls.jsonl"
    function = f"""\
        handler: "file_handlers:crash_once"
        code_uri: "{HERE}"
        isolation: process
        reserved_concurrency: 1
        timeout: 5
        environment: {{POLLER_TEST_LOG: "{log}"}}
        """
    config = _config(endpoint, arn, tmp_path / "s.db", function).replace(
        "maximum_retry_attempts: 0", "maximum_retry_attempts: 2"
    )
    async with running(config) as daemon:
        await wait_for(lambda: sum(len(x["data"]) for x in _lines(log)) >= 6, timeout=30)
        labels = {"mapping": f"fn-{name}", "function": "fn"}
        assert metric(daemon, "poller_errors_total", **labels) == 1  # Runtime.ExitError, once
        status, _ = await http_get(daemon.http_port, "/healthz")
        assert status == 200
    calls = _lines(log)
    assert [d for c in calls for d in c["data"]] == ["a", "b", "crash", "c", "d", "e"]
    assert len({c["pid"] for c in calls}) == 2  # the dead worker was replaced


async def test_url_target_receives_the_event(endpoint: str, kinesis: Any, tmp_path: Path) -> None:
    rie = FakeRie()
    name = unique("s")
    arn = make_stream(kinesis, name)
    put(kinesis, name, [("k", "x"), ("k", "y")])
    async with serve(rie.app()) as url:
        function = f'url: "{url}/2015-03-31/functions/function/invocations"\ntimeout: 5\n'
        async with running(_config(endpoint, arn, tmp_path / "s.db", function)) as daemon:
            await wait_for(lambda: len(rie.requests) >= 1)
            labels = {"mapping": f"fn-{name}", "function": "fn"}
            await wait_for(lambda: metric(daemon, "poller_checkpoints_total", **labels) >= 1)
    event = json.loads(rie.requests[0][1])
    assert [r["kinesis"]["partitionKey"] for r in event["Records"]] == ["k", "k"]


async def test_unreachable_url_is_retried_without_using_retries(
    endpoint: str, kinesis: Any, tmp_path: Path
) -> None:
    name = unique("s")
    arn = make_stream(kinesis, name)
    put(kinesis, name, [("k", "x")])
    function = (
        f'url: "http://127.0.0.1:{closed_port()}/2015-03-31/functions/function/invocations"\n'
    )
    async with running(_config(endpoint, arn, tmp_path / "s.db", function)) as daemon:
        labels = {"mapping": f"fn-{name}", "function": "fn"}
        # A second refused attempt at the one record: the first neither used up R = 0 nor
        # dropped it.
        await wait_for(lambda: metric(daemon, "poller_failed_invoke_events_total", **labels) >= 2)
        assert metric(daemon, "poller_errors_total", **labels) == 0
        assert metric(daemon, "poller_dropped_events_total", **labels) == 0  # R = 0, unused


@pytest.mark.parametrize(
    ("function_name", "errors", "throttles"),
    [("echo", 0, 0), ("crash", 1, 0), ("busy", 0, 1)],
    ids=["success", "unhandled", "throttle"],
)
async def test_function_name_target_through_the_invoke_api(
    endpoint: str, kinesis: Any, tmp_path: Path, function_name: str, errors: int, throttles: int
) -> None:
    fake = FakeLambda()
    name = unique("s")
    arn = make_stream(kinesis, name)
    put(kinesis, name, [("k", "x")])
    async with serve(fake.app()) as url:
        function = f"function_name: {function_name}\ntimeout: 5\n"
        config = _config(
            endpoint,
            arn,
            tmp_path / "s.db",
            function,
            aws_extra=f', endpoints: {{lambda: "{url}"}}',
        )
        async with running(config) as daemon:
            labels = {"mapping": f"fn-{name}", "function": "fn"}
            await wait_for(lambda: fake.calls[function_name] >= 1)
            # Settled: the invocation is counted (its error with it), or the throttled record
            # came back for a second try, so the first throttle did not drop it.
            await wait_for(
                lambda: (
                    metric(daemon, "poller_invocations_total", **labels) >= 1
                    or metric(daemon, "poller_throttles_total", **labels) >= 2
                )
            )
            assert metric(daemon, "poller_errors_total", **labels) == errors
            assert (metric(daemon, "poller_throttles_total", **labels) >= 1) == bool(throttles)
            if function_name == "busy":  # a throttle never uses a retry: nothing discarded
                assert metric(daemon, "poller_dropped_events_total", **labels) == 0


async def test_reserved_concurrency_zero_throttles_every_invocation(
    endpoint: str, kinesis: Any, tmp_path: Path
) -> None:
    name = unique("s")
    arn = stream_arn(name)
    make_stream(kinesis, name)
    put(kinesis, name, [("k", "x")])
    function = f'handler: "itest_handlers:handler"\ncode_uri: "{HERE}"\nreserved_concurrency: 0\n'
    async with running(_config(endpoint, arn, tmp_path / "s.db", function)) as daemon:
        labels = {"mapping": f"fn-{name}", "function": "fn"}
        await wait_for(lambda: metric(daemon, "poller_throttles_total", **labels) >= 2)
        assert metric(daemon, "poller_invocations_total", **labels) == 0
        assert metric(daemon, "poller_dropped_events_total", **labels) == 0
        assert metric(daemon, "poller_failed_invoke_events_total", **labels) >= 2
