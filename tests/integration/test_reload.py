"""Reload (SIGHUP): changed mappings restart (streams from their checkpoints), unchanged ones
keep running untouched, an invalid configuration is refused and the old one runs on."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import anyio
import itest_handlers
import pytest
import structlog.testing
from sqs_support import (
    HERE,
    MOTO_REPEATS,
    config_yaml,
    depth,
    http_get,
    make_queue,
    metric,
    queue_arn,
    repeats,
    running,
    send,
    start_poller,
    stop_poller,
    unique,
    until,
    wait_for,
)
from stream_support import kinesis_data, make_stream, put, stream_config

from poller.config.loader import parse_config
from poller.errors import StartupError

pytestmark = pytest.mark.integration


def _two_mappings(endpoint: str, first: str, second: str, second_extra: str = "") -> str:
    return config_yaml(endpoint, first) + (
        f'  - function: fn\n    event_source_arn: "{queue_arn(second)}"\n{second_extra}'
    )


@pytest.mark.anyio
async def test_reload_keeps_unchanged_mappings_and_starts_new_ones(endpoint: str, sqs: Any) -> None:
    first, second = unique("q1"), unique("q2")
    # The harness stops with `shutdown_receives: cancel`: a message the server hands a stopped
    # mapping's abandoned long poll stays invisible for the visibility timeout, so keep it short.
    url1, url2 = make_queue(sqs, first, visibility=3), make_queue(sqs, second, visibility=3)
    async with running(config_yaml(endpoint, first)) as daemon:
        assert daemon.supervisor is not None
        [kept] = daemon.supervisor.running.values()
        await daemon.reload(parse_config(_two_mappings(endpoint, first, second), os.environ))
        send(sqs, url1, ["one"])
        send(sqs, url2, ["two"])
        await wait_for(lambda: depth(sqs, url1) == 0 and depth(sqs, url2) == 0, timeout=30)
        assert kept in daemon.supervisor.running.values()  # not restarted
        assert len(daemon.supervisor.running) == 2
        # Changing the second mapping restarts it; removing the first stops it.
        changed = config_yaml(endpoint, second, extra_mapping="batch_size: 5\n")
        await daemon.reload(parse_config(changed, os.environ))
        # The new instance, not the old one still draining after the first mapping stopped.
        supervisor = daemon.supervisor
        await wait_for(lambda: [e.config.batch_size for e in supervisor.running.values()] == [5])
        send(sqs, url2, ["three"])
        send(sqs, url1, ["not read any more"])
        await wait_for(lambda: depth(sqs, url2) == 0, timeout=30)
    assert sorted(r["body"] for r in itest_handlers.records()) == ["one", "three", "two"]
    assert depth(sqs, url1) == 1


@pytest.mark.anyio
async def test_restarting_an_sqs_mapping_hides_no_message(endpoint: str, sqs: Any) -> None:
    # With `shutdown_receives: finish` the old instance's open long polls end before the new
    # instance starts, and what they took is handled: nothing waits out the visibility timeout.
    # (A short shutdown_timeout cuts the new instance's idle polls at the end of the test.)
    queue = unique("restart")
    url = make_queue(sqs, queue, visibility=120)
    bodies = [f"m{i}" for i in range(50)]

    def config(extra: str = "") -> str:
        return config_yaml(
            endpoint, queue, extra_mapping=extra, shutdown_timeout=2, shutdown_receives="finish"
        )

    async with running(config()) as daemon:
        assert daemon.supervisor is not None
        [old] = daemon.supervisor.running.values()
        receives = {"operation": "ReceiveMessage"}
        await wait_for(lambda: metric(daemon, "poller_aws_api_calls_total", **receives) >= 5)
        await anyio.sleep(0.5)  # the old instance's pollers are inside their long polls
        await daemon.reload(parse_config(config("batch_size: 5\n"), os.environ))
        send(sqs, url, bodies)
        await wait_for(lambda: depth(sqs, url) == 0, timeout=40)
        assert old not in daemon.supervisor.running.values()
    handled = [r["body"] for r in itest_handlers.records()]
    assert set(handled) == set(bodies)
    assert repeats(handled) <= MOTO_REPEATS


@pytest.mark.anyio
async def test_a_reload_adding_a_missing_queue_fails_that_mapping_alone(
    endpoint: str, sqs: Any
) -> None:
    # At start-up a missing queue exits 2; once running, a reload that adds one must not stop
    # the mappings that work. The failed one is not ready, and says why, until a reload that
    # no longer has it (or one that can start it).
    first, missing = unique("q1"), unique("missing")
    url = make_queue(sqs, first)
    with_missing = _two_mappings(endpoint, first, missing)
    async with running(config_yaml(endpoint, first)) as daemon:
        await wait_for(lambda: daemon.readiness.waiting() == [])
        with structlog.testing.capture_logs() as logs:
            await daemon.reload(parse_config(with_missing, os.environ))
            await wait_for(lambda: any(e["event"] == "mapping_failed" for e in logs))
        [failed] = [e for e in logs if e["event"] == "mapping_failed"]
        assert failed["mapping"] == f"fn-{missing}"
        assert "NonExistentQueue" in failed["error"]
        status, _ = await http_get(daemon.http_port, "/readyz")
        assert status == 503
        _, body = await http_get(daemon.http_port, "/mappings")
        entries = {m["Name"]: m for m in json.loads(body)["mappings"]}
        assert entries[f"fn-{missing}"]["Ready"] is False
        assert "NonExistentQueue" in entries[f"fn-{missing}"]["LastError"]
        assert entries[f"fn-{first}"]["Ready"] is True
        send(sqs, url, ["still delivered"])
        await wait_for(lambda: depth(sqs, url) == 0)
        make_queue(sqs, missing)  # the queue now exists: the same file, reloaded, starts it
        await daemon.reload(parse_config(with_missing, os.environ))
        supervisor = daemon.supervisor
        assert supervisor is not None
        await wait_for(lambda: len(supervisor.running) == 2)
        await wait_for(lambda: daemon.readiness.waiting() == [])
        assert supervisor.failed == set()
    assert [r["body"] for r in itest_handlers.records()] == ["still delivered"]


@pytest.mark.anyio
async def test_a_reload_that_cannot_build_a_mapping_changes_nothing(
    endpoint: str, sqs: Any, tmp_path: Path
) -> None:
    # Every new and changed mapping is built before anything stops: a handler that no longer
    # imports fails the reload, and both mappings run on as they were.
    first, second = unique("q1"), unique("q2")
    url1, url2 = make_queue(sqs, first), make_queue(sqs, second)
    (tmp_path / "broken_handler.py").write_text("raise RuntimeError('half-deployed')\n")
    old = _two_mappings(endpoint, first, second)
    broken = (
        _two_mappings(endpoint, first, second, second_extra="    batch_size: 5\n")
        .replace('handler: "itest_handlers:handler"', 'handler: "broken_handler:handler"')
        .replace(f'code_uri: "{HERE}"', f'code_uri: "{tmp_path}"')
    )
    async with running(old) as daemon:
        supervisor = daemon.supervisor
        assert supervisor is not None
        before = set(supervisor.running.values())
        with pytest.raises(StartupError, match="half-deployed"):
            await daemon.reload(parse_config(broken, os.environ))
        assert set(supervisor.running.values()) == before  # nothing stopped or restarted
        assert daemon.config == parse_config(old, os.environ)
        send(sqs, url1, ["one"])
        send(sqs, url2, ["two"])
        await wait_for(lambda: depth(sqs, url1) == 0 and depth(sqs, url2) == 0)
    assert sorted(r["body"] for r in itest_handlers.records()) == ["one", "two"]


@pytest.mark.anyio
async def test_a_changed_stream_mapping_resumes_from_its_checkpoint(
    endpoint: str, kinesis: Any, tmp_path: Path
) -> None:
    name = unique("s")
    arn = make_stream(kinesis, name)
    put(kinesis, name, [("k", f"a{i}") for i in range(20)])
    state = tmp_path / "s.db"
    async with running(stream_config(endpoint, arn, state, "batch_size: 3\n")) as daemon:
        await wait_for(lambda: len(itest_handlers.records()) >= 20)
        changed = stream_config(endpoint, arn, state, "batch_size: 7\n")
        await daemon.reload(parse_config(changed, os.environ))
        put(kinesis, name, [("k", f"b{i}") for i in range(10)])
        await wait_for(lambda: len(itest_handlers.records()) >= 30)
    data = [kinesis_data(r) for r in itest_handlers.records()]
    assert data == [f"a{i}" for i in range(20)] + [f"b{i}" for i in range(10)]  # no repeats
    assert max(len(c["event"]["Records"]) for c in itest_handlers.calls[-2:]) <= 7


def test_sighup_refuses_an_invalid_config_then_applies_a_valid_one(
    endpoint: str, sqs: Any, tmp_path: Path
) -> None:
    first, second = unique("q1"), unique("q2")
    url1, url2 = make_queue(sqs, first), make_queue(sqs, second)
    config = tmp_path / "poller.yaml"
    config.write_text(config_yaml(endpoint, first))
    log = tmp_path / "out.log"
    proc = start_poller(config, log)
    try:
        until(lambda: "daemon_started" in log.read_text(), 30)
        config.write_text(config_yaml(endpoint, first) + "    batch_size: lots\n")
        proc.send_signal(signal.SIGHUP)
        until(lambda: "reload_rejected" in log.read_text(), 10)
        assert proc.poll() is None  # still running on the old configuration
        config.write_text(_two_mappings(endpoint, first, second))
        proc.send_signal(signal.SIGHUP)
        until(lambda: "reloaded" in log.read_text(), 10)
        send(sqs, url2, ["via the new mapping"])
        send(sqs, url1, ["via the old one"])
        until(lambda: depth(sqs, url1) == 0 and depth(sqs, url2) == 0, 30)
    finally:
        code = stop_poller(proc)
    assert code == 0
    assert "mappings[0].batch_size" in log.read_text()  # the refused config's error, logged


@pytest.mark.anyio
async def test_a_reload_that_adds_the_first_stream_mapping_opens_the_checkpoint_store(
    endpoint: str, sqs: Any, kinesis: Any, tmp_path: Path
) -> None:
    queue, name = unique("q"), unique("s")
    make_queue(sqs, queue, visibility=3)
    arn = make_stream(kinesis, name)
    put(kinesis, name, [("k", f"r{i}") for i in range(5)])
    sqs_only = config_yaml(endpoint, queue)
    stream = stream_config(endpoint, arn, tmp_path / "s.db")
    async with running(sqs_only) as daemon:
        await daemon.reload(parse_config(stream, os.environ))
        await wait_for(lambda: len(itest_handlers.records()) >= 5)
    assert (tmp_path / "s.db").exists()
    assert [kinesis_data(r) for r in itest_handlers.records()] == [f"r{i}" for i in range(5)]


@pytest.mark.anyio
async def test_a_changed_function_closes_its_old_target_once_its_mappings_stop(
    endpoint: str, sqs: Any
) -> None:
    queue = unique("q")
    url = make_queue(sqs, queue, visibility=5)
    isolated = config_yaml(endpoint, queue).replace(
        "    timeout: 3\n", "    timeout: 3\n    isolation: process\n"
    )
    assert "isolation: process" in isolated
    with structlog.testing.capture_logs() as logs:
        async with running(isolated) as daemon:
            send(sqs, url, ["before"])
            await wait_for(lambda: depth(sqs, url) == 0, timeout=30)
            changed = isolated.replace("timeout: 3", "timeout: 4")
            await daemon.reload(parse_config(changed, os.environ))
            await wait_for(
                lambda: any(e["event"] == "function_target_closed" for e in logs), timeout=30
            )
            send(sqs, url, ["after"])
            await wait_for(lambda: depth(sqs, url) == 0, timeout=30)
    closed = [e for e in logs if e["event"] == "function_target_closed"]
    assert [e["function"] for e in closed] == ["fn"]
