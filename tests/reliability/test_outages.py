"""Outages rather than a fault rate: an on-failure destination that goes away and comes back,
or stays away past the give-up bound; the endpoint down when poller starts; SIGTERM in the
middle of an outage."""

from __future__ import annotations

import json
import signal
import socket
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import itest_handlers
import pytest
import structlog.testing
from fault_proxy import FaultPlan, FaultProxy, plan
from fault_support import OUTAGE_PLAN
from scale import scaled_seconds
from sqs_support import (
    HERE,
    REGION,
    depth,
    http_get,
    json_lines,
    logged_port,
    make_queue,
    metric,
    queue_arn,
    running,
    send,
    start_poller,
    stop_poller,
    unique,
    until,
    wait_for,
)
from stream_support import kinesis_data, make_stream, put, stream_config

import poller.destinations
from poller.runtime import SETTLE_TIMEOUT

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
# The destination's calls: its queue's URL, then one SendMessage per discarded batch.
DESTINATION_CALLS = ("GetQueueUrl", "SendMessage")
DOWN_FOR = scaled_seconds(4, 30)  # how long the destination is away before it heals


@pytest.fixture
def proxy(endpoint: str) -> Iterator[FaultProxy]:
    with FaultProxy(endpoint, slow_cap=30) as proxy:
        yield proxy


def _failing_config(endpoint: str, proxy: FaultProxy, arn: str, state: Path, dlq: str) -> str:
    """Every record starting "bad" fails for good (no retries); its batch goes to `dlq`."""
    config = stream_config(
        endpoint,
        arn,
        state,
        f"maximum_retry_attempts: 0\ndestination_config: {{on_failure: {{destination: "
        f"'{queue_arn(dlq)}'}}}}\n",
    )
    return config.replace(f'endpoint_url: "{endpoint}"', f'endpoint_url: "{proxy.url}"')


def _fail_bad(event: dict[str, Any], index: int) -> None:
    if any(kinesis_data(r).startswith("bad") for r in event["Records"]):
        raise RuntimeError("always")


def _drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in got]


async def test_a_destination_outage_holds_the_shard_then_delivers_when_it_heals(
    endpoint: str, kinesis: Any, sqs: Any, tmp_path: Path, proxy: FaultProxy
) -> None:
    """Down: the failed batch's record is retried with backoff (counted as source errors) and
    the shard waits behind it, nothing after it handled. Healed: the record arrives whole, the
    shard moves on, nothing dropped."""
    name, dlq = unique("s"), unique("dest")
    arn = make_stream(kinesis, name)
    url = make_queue(sqs, dlq)
    itest_handlers.behaviour = _fail_bad
    proxy.plan = plan(1.0, OUTAGE_PLAN.kinds, only=DESTINATION_CALLS)
    labels = {"mapping": f"fn-{name}", "function": "fn"}
    async with running(_failing_config(endpoint, proxy, arn, tmp_path / "s.db", dlq)) as daemon:
        put(kinesis, name, [("k", "bad-1")])
        await wait_for(lambda: len(itest_handlers.calls) == 1)
        put(kinesis, name, [("k", "good-1")])
        await wait_for(lambda: proxy.tally.faults(None, *DESTINATION_CALLS) >= 3, timeout=30)
        await anyio.sleep(DOWN_FOR)  # the outage goes on: scenario, not a wait
        handled = [kinesis_data(r) for r in itest_handlers.records()]
        assert handled == ["bad-1"]  # nothing moved past the undelivered record
        assert metric(daemon, "poller_source_errors_total", **labels) >= 1
        proxy.plan = FaultPlan()
        await wait_for(lambda: "good-1" in [kinesis_data(r) for r in itest_handlers.records()])
        delivered = "poller_on_failure_destination_delivered_events_total"
        assert metric(daemon, delivered, **labels) == 1
        assert metric(daemon, "poller_dropped_events_total", **labels) == 0
    [record] = _drain(sqs, url)
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["KinesisBatchInfo"]["batchSize"] == 1


async def test_a_destination_down_past_the_give_up_bound_drops_loudly(
    endpoint: str,
    kinesis: Any,
    sqs: Any,
    tmp_path: Path,
    proxy: FaultProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past DELIVERY_SECONDS (120 s; 3 s here) the batch is dropped: counted in
    poller_destination_delivery_failures_total and poller_dropped_events_total, logged at
    error with the whole record that could not be sent, and the shard moves on."""
    monkeypatch.setattr(poller.destinations, "DELIVERY_SECONDS", 3.0)
    name, dlq = unique("s"), unique("dest")
    arn = make_stream(kinesis, name)
    make_queue(sqs, dlq)
    itest_handlers.behaviour = _fail_bad
    proxy.plan = plan(1.0, OUTAGE_PLAN.kinds, only=DESTINATION_CALLS)
    labels = {"mapping": f"fn-{name}", "function": "fn"}
    config = _failing_config(endpoint, proxy, arn, tmp_path / "s.db", dlq)
    with structlog.testing.capture_logs() as logs:
        async with running(config) as daemon:
            put(kinesis, name, [("k", "bad-1"), ("k", "bad-2")])
            await wait_for(lambda: len(itest_handlers.calls) == 1)
            put(kinesis, name, [("k", "good-1")])
            failures = "poller_destination_delivery_failures_total"
            await wait_for(lambda: metric(daemon, failures, **labels) == 1, timeout=30)
            await wait_for(lambda: "good-1" in [kinesis_data(r) for r in itest_handlers.records()])
            assert metric(daemon, "poller_dropped_events_total", **labels) == 2
    [dropped] = [e for e in logs if e["event"] == "destination_delivery_failed"]
    assert dropped["log_level"] == "error"
    assert dropped["destination"] == queue_arn(dlq)
    info = dropped["record"]["KinesisBatchInfo"]
    assert info["batchSize"] == 2
    assert (dropped["first"], dropped["last"]) == (
        info["startSequenceNumber"],
        info["endSequenceNumber"],
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _sqs_run_config(path: Path, endpoint: str, queue: str, shutdown_timeout: float) -> Path:
    path.write_text(
        textwrap.dedent(f"""\
            aws: {{region: {REGION}, endpoint_url: "{endpoint}", read_timeout: 3}}
            http: {{listen: "127.0.0.1:0"}}
            logging: {{format: json}}
            shutdown_timeout: {shutdown_timeout}
            functions:
              fn: {{handler: "itest_handlers:handler", timeout: 3, code_uri: "{HERE}"}}
            mappings:
              - function: fn
                event_source_arn: "{queue_arn(queue)}"
            """)
    )
    return path


def test_the_endpoint_down_at_start_is_waited_for_not_ready_then_it_starts(
    endpoint: str, sqs: Any, tmp_path: Path
) -> None:
    """Nothing listens where the config points: the daemon starts, retries, answers /readyz
    with 503 naming the mapping; once the endpoint comes up it starts the mapping and handles
    what was waiting."""
    port = _free_port()
    queue = unique("late")
    url = make_queue(sqs, queue)
    send(sqs, url, ["waited"])
    config = _sqs_run_config(tmp_path / "p.yaml", f"http://127.0.0.1:{port}", queue, 10)
    log = tmp_path / "poller.log"
    proc = start_poller(config, log)
    try:
        until(lambda: logged_port(log) is not None, 30)
        http = logged_port(log)
        until(lambda: any(e.get("event") == "source_error" for e in json_lines(log)), 30)
        status, body = anyio.run(http_get, http, "/readyz")
        assert status == 503
        assert json.loads(body)["waiting"] == [f"fn-{queue}"]
        with FaultProxy(endpoint, port=port):  # the endpoint comes up
            until(lambda: anyio.run(http_get, http, "/readyz")[0] == 200, 60)
            until(lambda: depth(sqs, url) == 0, 30)
            assert stop_poller(proc) == 0
    finally:
        stop_poller(proc)


def test_sigterm_during_an_outage_exits_within_shutdown_timeout_plus_settlement(
    endpoint: str, sqs: Any, tmp_path: Path
) -> None:
    """Mid-run, every call starts failing: resets, 503s, and answers held past the read
    timeout. A SIGTERM then still ends the daemon (exit 0) within shutdown_timeout +
    settlement (SETTLE_TIMEOUT), the documented bound."""
    queue = unique("down")
    # A delete that fails in the outage is retried while its messages stay invisible, within
    # settlement: 8 s here, so the run is short; the bound asserted is the general one.
    url = make_queue(sqs, queue, visibility=8)
    shutdown_timeout = 5.0
    with FaultProxy(endpoint, slow_cap=60) as proxy:
        config = _sqs_run_config(tmp_path / "p.yaml", proxy.url, queue, shutdown_timeout)
        log = tmp_path / "poller.log"
        proc = start_poller(config, log)
        try:
            send(sqs, url, [f"m{i}" for i in range(50)])
            until(lambda: any(e.get("event") == "batch_invoked" for e in json_lines(log)), 30)
            proxy.plan = plan(1.0, ["reset_before", "http_503", "slow", "throttle"])
            until(lambda: proxy.tally.faults() >= 5, 30)
            started = time.monotonic()
            code = stop_poller(proc, timeout=shutdown_timeout + SETTLE_TIMEOUT + 15)
            took = time.monotonic() - started
        finally:
            stop_poller(proc, sig=signal.SIGKILL)
    assert code == 0
    assert took <= shutdown_timeout + SETTLE_TIMEOUT, took
    print(f"RELIABILITY shutdown-during-outage exit_s={took:.2f}")
