"""`--watch` (Daemon(watch=True)): a saved handler serves within 2 s, in process and in worker
processes, with no message lost or handled twice and no mapping restarted; code that does not
import leaves the old code serving until it is fixed."""

from __future__ import annotations

import os
import sys
import textwrap
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqs_support import (
    HERE,
    MOTO_REPEATS,
    REGION,
    depth,
    json_lines,
    make_queue,
    metric,
    queue_arn,
    running_daemon,
    send,
    unique,
    wait_for,
)
from stream_support import make_stream, put, read_past
from structlog.testing import capture_logs

from poller.config.loader import parse_config
from poller.daemon import Daemon
from poller.invokers.reloading import purge_modules
from poller.telemetry.metrics import Metrics

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

# Records each record it handles: its key (SQS body, Kinesis data), the VERSION that handled
# it, when its invocation started (epoch seconds) and in which process.
HANDLER = """\
import base64, json, os, time

VERSION = {version}
OUT = {out!r}


def handler(event, context):
    started = time.time()
    lines = []
    for record in event["Records"]:
        if "body" in record:
            key = record["body"]
        else:
            key = base64.b64decode(record["kinesis"]["data"]).decode()
        line = {{"key": key, "version": VERSION, "started": started, "pid": os.getpid()}}
        lines.append(json.dumps(line) + "\\n")
    with open(OUT, "a", encoding="utf-8") as out:
        out.write("".join(lines))
"""
BROKEN = "VERSION = (\n"
BOUND = 2.0  # seconds from saving the file to the next invocation running the new code
Logs = list[MutableMapping[str, Any]]


class Code:
    """A function's code directory holding one handler module, and where the handler records
    what it handled (outside the directory: its writes are not code changes)."""

    def __init__(self, tmp_path: Path, name: str = "code") -> None:
        self.directory = tmp_path / name
        self.directory.mkdir()
        self.out = tmp_path / f"{name}.jsonl"
        self.module = f"watched_{uuid.uuid4().hex[:8]}"  # sys.modules is this process's
        self.source = self.directory / f"{self.module}.py"

    def write(self, version: int) -> float:
        """Save the handler with `version`; returns when it was saved (epoch seconds)."""
        return self.save(HANDLER.format(version=version, out=str(self.out)))

    def save(self, text: str) -> float:
        self.source.write_text(text)
        return time.time()

    def handled(self) -> list[dict[str, Any]]:
        return json_lines(self.out)

    def handled_keys(self) -> set[str]:
        return {r["key"] for r in self.handled()}

    def function(self, isolation: str, name: str = "fn") -> str:
        return textwrap.dedent(f"""\
            functions:
              {name}:
                handler: "{self.module}:handler"
                timeout: 5
                code_uri: "{self.directory}"
                isolation: {isolation}
            """)


@pytest.fixture
def code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Code]:
    monkeypatch.setattr(sys, "path", list(sys.path))  # load_handler adds the directory
    made = Code(tmp_path)
    made.write(1)
    yield made
    purge_modules({made.directory})


def sqs_config(endpoint: str, code: Code, isolation: str, queue: str, name: str = "fn") -> str:
    return (
        textwrap.dedent(f"""\
            aws: {{region: {REGION}, endpoint_url: "{endpoint}"}}
            http: {{listen: "127.0.0.1:0"}}
            shutdown_timeout: 10
            shutdown_receives: cancel
            """)
        + code.function(isolation, name)
        + textwrap.dedent(f"""\
            mappings:
              - function: {name}
                event_source_arn: "{queue_arn(queue)}"
                scaling_config: {{maximum_concurrency: 2}}
            """)
    )


@asynccontextmanager
async def watched(config_text: str) -> AsyncIterator[Daemon]:
    """`running` with watch=True: the daemon for the body of the block, then a clean stop."""
    daemon = Daemon(parse_config(config_text, os.environ), HERE, metrics=Metrics(), watch=True)
    async with running_daemon(daemon):
        yield daemon


def events(logs: Logs, name: str) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e["event"] == name]


async def watching(logs: Logs) -> None:
    await wait_for(lambda: bool(events(logs, "watch_started")), timeout=10)


def check_switch(handled: list[dict[str, Any]], saved: float, new: int) -> None:
    """Every record whose invocation started BOUND s or more after the save ran `new`, and
    the test saw enough of both sides for that to mean something."""
    late = [r for r in handled if r["started"] >= saved + BOUND]
    early = [r for r in handled if r["started"] < saved]
    stale = [r for r in late if r["version"] != new]
    assert not stale, f"{len(stale)} records ran the old code {BOUND} s after the save: {stale[:3]}"
    assert len(late) >= 30, f"only {len(late)} records started {BOUND} s after the save"
    assert early, "no record was handled before the save"
    assert all(r["version"] == 1 for r in early)


async def send_paced(sqs: Any, url: str, bodies: list[str], code: Code, save_at: int) -> float:
    """Send `bodies` 10 at a time, one call each 0.2 s (traffic, not a wait), and save the
    handler as version 2 after the `save_at`-th call; returns when it was saved."""
    saved = 0.0
    for call, start in enumerate(range(0, len(bodies), 10)):
        await anyio.to_thread.run_sync(send, sqs, url, bodies[start : start + 10])
        if call == save_at:
            saved = code.write(2)
        await anyio.sleep(0.2)
    return saved


@pytest.mark.parametrize("isolation", ["thread", "process"])
async def test_a_saved_handler_serves_within_two_seconds(
    endpoint: str, sqs: Any, code: Code, isolation: str
) -> None:
    queue = unique("watch")
    url = make_queue(sqs, queue, visibility=30)
    bodies = [f"m{i:03d}" for i in range(300)]
    with capture_logs() as logs:
        async with watched(sqs_config(endpoint, code, isolation, queue)) as daemon:
            assert daemon.supervisor is not None
            supervisor = daemon.supervisor
            [mapping] = supervisor.running.values()
            await watching(logs)
            saved = await send_paced(sqs, url, bodies, code, save_at=10)
            await wait_for(lambda: code.handled_keys() == set(bodies), timeout=30)
            await wait_for(lambda: depth(sqs, url) == 0, timeout=30)  # all deleted
            assert list(supervisor.running.values()) == [mapping]
            assert not mapping.lifecycle.stopping.is_set()
            assert metric(daemon, "poller_handler_reloads_total", outcome="ok") == 1
    [reloaded] = events(logs, "handler_reloaded")
    assert reloaded["function"] == "fn"
    assert reloaded["paths"] == [code.source.name]
    assert len(events(logs, "mapping_started")) == 1
    handled = code.handled()
    keys = [r["key"] for r in handled]
    assert sorted(set(keys)) == bodies
    assert len(keys) - len(set(keys)) <= MOTO_REPEATS  # the server's repeats (sqs_support)
    check_switch(handled, saved, new=2)
    if isolation == "process":  # the workers were replaced, not the daemon's own code
        old = {r["pid"] for r in handled if r["version"] == 1}
        new = {r["pid"] for r in handled if r["version"] == 2}
        assert old.isdisjoint(new)
        assert {e["pid"] for e in logs if e.get("reason") == "reloaded"} >= old


async def test_a_stream_keeps_its_checkpoint_across_a_reload(
    endpoint: str, kinesis: Any, code: Code, tmp_path: Path
) -> None:
    stream = unique("watch")
    arn = make_stream(kinesis, stream)
    config = (
        textwrap.dedent(f"""\
            aws: {{region: {REGION}, endpoint_url: "{endpoint}"}}
            http: {{listen: "127.0.0.1:0"}}
            state: {{path: "{tmp_path / "state" / "state.db"}"}}
            shutdown_timeout: 10
            """)
        + code.function("thread")
        + textwrap.dedent(f"""\
            mappings:
              - function: fn
                event_source_arn: "{arn}"
                starting_position: TRIM_HORIZON
                shard_refresh_seconds: 0.5
            """)
    )
    data = [f"r{i:03d}" for i in range(300)]
    with capture_logs() as logs:
        async with watched(config) as daemon:
            assert daemon.supervisor is not None
            [mapping] = daemon.supervisor.running.values()
            await watching(logs)
            saved = 0.0
            for call, start in enumerate(range(0, len(data), 10)):
                items = [(f"k{i % 4}", d) for i, d in enumerate(data[start : start + 10])]
                await anyio.to_thread.run_sync(put, kinesis, stream, items)
                if call == 10:
                    saved = code.write(2)
                await anyio.sleep(0.2)  # traffic, not a wait
            await wait_for(lambda: code.handled_keys() == set(data), timeout=30)

            def sample(name: str, **labels: str) -> float:
                return daemon.metrics.value(name, **labels)

            # Every record read has been handled: nothing more is coming that could repeat one.
            await wait_for(read_past(sample, lambda: len(code.handled())), timeout=30)
            assert list(daemon.supervisor.running.values()) == [mapping]
    assert len(events(logs, "handler_reloaded")) == 1
    handled = code.handled()
    repeated = {k: n for k, n in Counter(r["key"] for r in handled).items() if n > 1}
    assert not repeated, f"records handled more than once: {repeated}"
    assert sorted(r["key"] for r in handled) == data
    check_switch(handled, saved, new=2)


@pytest.mark.parametrize("isolation", ["thread", "process"])
async def test_code_that_does_not_import_leaves_the_old_code_serving(
    endpoint: str, sqs: Any, code: Code, isolation: str
) -> None:
    queue = unique("watch")
    url = make_queue(sqs, queue, visibility=30)

    async def handle(prefix: str) -> list[int]:
        """Send 20 messages; once all are handled, the versions that handled them."""
        bodies = {f"{prefix}{i}" for i in range(20)}
        await anyio.to_thread.run_sync(send, sqs, url, sorted(bodies))
        await wait_for(lambda: bodies <= code.handled_keys(), timeout=20)
        return sorted({r["version"] for r in code.handled() if r["key"] in bodies})

    with capture_logs() as logs:
        async with watched(sqs_config(endpoint, code, isolation, queue)) as daemon:
            await watching(logs)
            assert await handle("a") == [1]
            code.save(BROKEN)
            await wait_for(lambda: bool(events(logs, "handler_reload_failed")), timeout=10)
            assert await handle("b") == [1]
            code.write(3)
            await wait_for(lambda: bool(events(logs, "handler_reloaded")), timeout=10)
            assert await handle("c") == [3]
            await wait_for(lambda: depth(sqs, url) == 0, timeout=30)
            failed = metric(daemon, "poller_handler_reloads_total", outcome="failed")
            ok = metric(daemon, "poller_handler_reloads_total", outcome="ok")
    [error] = events(logs, "handler_reload_failed")
    assert error["log_level"] == "error"
    assert error["function"] == "fn"
    assert error["error"].startswith(
        f"Runtime.ImportModuleError: Unable to import module '{code.module}': "
    )
    assert (failed, ok) == (1, 1)
    assert not events(logs, "handler_error")  # no invocation ran the broken code
    assert len(events(logs, "mapping_started")) == 1


async def test_the_watch_follows_a_sighup_reload_to_new_functions(
    endpoint: str, sqs: Any, code: Code, tmp_path: Path
) -> None:
    # The new function reads a queue of its own: the old mapping's abandoned long poll (the
    # harness stops with `shutdown_receives: cancel`) could take a message sent to its queue.
    queue, second = unique("watch"), unique("watch2")
    make_queue(sqs, queue)
    url = make_queue(sqs, second)
    other = Code(tmp_path, "other")
    other.write(1)
    try:
        with capture_logs() as logs:
            async with watched(sqs_config(endpoint, code, "thread", queue)) as daemon:
                await watching(logs)
                assert events(logs, "watch_started")[0]["directories"] == [str(code.directory)]
                moved = sqs_config(endpoint, other, "process", second, name="fn2")
                await daemon.reload(parse_config(moved, os.environ))
                await wait_for(lambda: len(events(logs, "watch_started")) == 2, timeout=10)
                assert events(logs, "watch_started")[1]["directories"] == [str(other.directory)]
                other.write(2)
                await wait_for(lambda: bool(events(logs, "handler_reloaded")), timeout=10)
                await anyio.to_thread.run_sync(send, sqs, url, ["after"])
                await wait_for(lambda: "after" in other.handled_keys(), timeout=20)
        [reloaded] = events(logs, "handler_reloaded")
        assert reloaded["function"] == "fn2"
        assert [r["version"] for r in other.handled()] == [2]
    finally:
        purge_modules({other.directory})
