"""A real AWS-compatible server over HTTP for every integration test, and a daemon runner.

The server is moto's (ThreadedMotoServer on 127.0.0.1, a free port), wiped between tests; set
POLLER_TEST_ENDPOINT to run the suite against another server (LocalStack, say) instead.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import boto3
import itest_handlers
import pytest
from prometheus_client.parser import text_string_to_metric_families

from poller.config.loader import parse_config
from poller.daemon import Daemon
from poller.telemetry.metrics import Metrics

HERE = Path(__file__).parent
REGION = "us-east-1"
# The test credentials: any key works on moto; on LocalStack an access key id that is not 12
# digits means account 000000000000.
TEST_KEY = "testing"
# The server under test when it is not moto's, started here (LocalStack: docs/testing.md).
EXTERNAL = os.environ.get("POLLER_TEST_ENDPOINT", "")


def _account() -> str:
    """The account the server puts this suite's resources in, as the server says it: STS's
    GetCallerIdentity on POLLER_TEST_ENDPOINT, else moto's account."""
    if not EXTERNAL:
        from moto.core import DEFAULT_ACCOUNT_ID  # type: ignore[attr-defined]

        return str(DEFAULT_ACCOUNT_ID)
    sts = boto3.client(
        "sts",
        region_name=REGION,
        endpoint_url=EXTERNAL,
        aws_access_key_id=TEST_KEY,
        aws_secret_access_key=TEST_KEY,
    )
    return str(sts.get_caller_identity()["Account"])


ACCOUNT = _account()


@pytest.fixture(scope="session", autouse=True)
def _credentials() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ["AWS_ACCESS_KEY_ID"] = TEST_KEY
    os.environ["AWS_SECRET_ACCESS_KEY"] = TEST_KEY
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def endpoint() -> Iterator[str]:
    if EXTERNAL:
        yield EXTERNAL
        return
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(autouse=True)
def _fresh_state(request: pytest.FixtureRequest) -> None:
    itest_handlers.reset()
    if "endpoint" in request.fixturenames and not EXTERNAL:
        url = request.getfixturevalue("endpoint")
        request_ = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request_, timeout=10) as response:
            assert response.status == 200


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sqs(endpoint: str) -> Any:
    return boto3.client("sqs", region_name=REGION, endpoint_url=endpoint)


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


def make_queue(
    sqs: Any, name: str, visibility: int = 30, dlq: str | None = None, max_receive: int = 2
) -> str:
    """Create a queue (and its DLQ); returns the queue URL."""
    attributes = {"VisibilityTimeout": str(visibility)}
    fifo = name.endswith(".fifo")
    if fifo:
        attributes["FifoQueue"] = "true"
    if dlq:
        sqs.create_queue(QueueName=dlq, Attributes={"FifoQueue": "true"} if fifo else {})
        attributes["RedrivePolicy"] = (
            f'{{"deadLetterTargetArn": "{queue_arn(dlq)}", "maxReceiveCount": "{max_receive}"}}'
        )
    return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])


def send(sqs: Any, url: str, bodies: list[str], **extra: Any) -> list[str]:
    """Send bodies in batches of 10 from one caller; returns the message ids in order."""
    ids: list[str] = []
    for start in range(0, len(bodies), 10):
        entries = [
            {"Id": str(i), "MessageBody": body, **extra}
            for i, body in enumerate(bodies[start : start + 10])
        ]
        response = sqs.send_message_batch(QueueUrl=url, Entries=entries)
        assert not response.get("Failed"), response
        by_id = {e["Id"]: e["MessageId"] for e in response["Successful"]}
        ids.extend(by_id[str(i)] for i in range(len(entries)))
    return ids


def depth(sqs: Any, url: str) -> int:
    """Visible plus in-flight messages: the larger of two readings.

    One reading can miss a message: the server counts visible messages, then in-flight ones,
    and a message whose visibility timeout ends between the two counts is in neither. A second
    reading counts that message (now visible, or received again and in flight), so a queue
    reads empty only when it is.
    """
    return max(_one_depth(sqs, url), _one_depth(sqs, url))


def _one_depth(sqs: Any, url: str) -> int:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


def config_yaml(
    endpoint: str,
    queue: str,
    handler: str = "itest_handlers:handler",
    timeout: int = 3,
    extra_mapping: str = "",
    shutdown_timeout: float = 10,
    shutdown_receives: str = "cancel",
) -> str:
    """A one-mapping config. Tests stop with `shutdown_receives: cancel` unless they test
    `finish` (the default), which would hold each teardown for the pollers' 20 s long polls."""
    return textwrap.dedent(f"""\
        aws: {{region: {REGION}, endpoint_url: "{endpoint}"}}
        http: {{listen: "127.0.0.1:0"}}
        shutdown_timeout: {shutdown_timeout}
        shutdown_receives: {shutdown_receives}
        functions:
          fn:
            handler: "{handler}"
            timeout: {timeout}
            code_uri: "{HERE}"
        mappings:
          - function: fn
            event_source_arn: "{queue_arn(queue)}"
        """) + textwrap.indent(textwrap.dedent(extra_mapping), "    ")


@asynccontextmanager
async def running(config_text: str) -> AsyncIterator[Daemon]:
    """Run a daemon for the body of the block, then shut it down gracefully."""
    daemon = Daemon(parse_config(config_text, os.environ), HERE, metrics=Metrics())
    async with running_daemon(daemon):
        yield daemon


@asynccontextmanager
async def running_daemon(daemon: Daemon) -> AsyncIterator[Daemon]:
    """Run `daemon` for the body of the block, then shut it down gracefully."""
    async with anyio.create_task_group() as tg:
        await tg.start(daemon.run)
        try:
            yield daemon
        finally:
            daemon.stop()


# moto sometimes hands one message to two concurrent ReceiveMessage calls inside its visibility
# timeout (seen with plain aioboto3 receivers too; see benchmarks/README.md): a handful of repeats
# in a test's deliveries are the server's, not poller's.
MOTO_REPEATS = 2


def repeats(handled: list[str]) -> int:
    """How many deliveries repeat one before them."""
    return len(handled) - len(set(handled))


def metric(daemon: Daemon, name: str, **labels: str) -> float:
    return daemon.metrics.value(name, **labels)


async def wait_for(predicate: Any, timeout: float = 30, interval: float = 0.1) -> None:
    """Poll until predicate() is true; fail the test with a clear message at the timeout."""
    with anyio.move_on_after(timeout):
        while not predicate():
            await anyio.sleep(interval)
        return
    raise AssertionError(f"condition not met within {timeout}s: {predicate}")


def until(predicate: Any, timeout: float, interval: float = 0.1) -> None:
    """wait_for for tests without an event loop (those driving a `poller run` process)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"condition not met within {timeout}s: {predicate}"
        time.sleep(interval)


def start_poller(
    config: Path, output: Path | None = None, *, stderr: Path | None = None, **env: str
) -> subprocess.Popen[bytes]:
    """`poller run -c config` as a child process (see spawn_poller)."""
    return spawn_poller(["run", "-c", str(config)], output, stderr=stderr, env=env)


def spawn_poller(
    argv: list[str],
    output: Path | None = None,
    *,
    stderr: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """`poller ARGV` as a child process, with this directory's handlers importable and `env`
    added to its environment. Its stdout and stderr go to `output` (or nowhere); with `stderr`,
    its stderr goes there instead. Every test that runs `poller run` starts it here and ends it
    with stop_poller."""
    with contextlib.ExitStack() as files:
        out = files.enter_context(open(output or os.devnull, "wb"))
        err: Any = subprocess.STDOUT
        if stderr is not None:
            err = files.enter_context(open(stderr, "wb"))
        return subprocess.Popen(
            [sys.executable, "-m", "poller", *argv],
            stdout=out,
            stderr=err,
            env={**os.environ, "PYTHONPATH": str(HERE), **(env or {})},
        )


def stop_poller(
    proc: subprocess.Popen[bytes],
    timeout: float = 30,
    sig: signal.Signals | None = signal.SIGTERM,
    while_stopping: Callable[[], object] | None = None,
) -> int:
    """Send `sig` (SIGTERM; SIGKILL to kill it; None to let it exit by itself) unless it has
    exited, run `while_stopping` (what the test does while the daemon shuts down), then return
    its exit code. One still running `timeout` s later is killed (by its PID), and the test
    fails. Calling it again once the process has exited only returns the code."""
    if sig is not None and proc.poll() is None:
        proc.send_signal(sig)
    try:
        if while_stopping is not None:
            while_stopping()
    finally:
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"poller did not exit within {timeout}s") from None
    return code


def json_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines file (a daemon's `logging: {format: json}` output, a
    file handler's batches); none while it does not exist, and not a line still being written."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out


def logged_port(output: Path) -> int | None:
    """The HTTP port a `poller run` logging JSON to `output` listens on (its daemon_started
    line), or None before it has started."""
    started = [e for e in json_lines(output) if e.get("event") == "daemon_started"]
    return int(started[0]["http_port"]) if started else None


def scrape(port: int, name: str, **labels: str) -> float:
    """Metrics.value for a daemon in another process: the sum of `name`'s samples on its
    /metrics whose labels include `labels` (0 when none)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def http_get(port: int | None, path: str) -> tuple[int, str]:
    """GET from the daemon's operations server; returns (status, body)."""
    import urllib.error

    def get() -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                return int(r.status), r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    return await anyio.to_thread.run_sync(get)
