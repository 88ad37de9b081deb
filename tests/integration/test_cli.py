"""The `poller` command as users run it: exit codes, clear errors, graceful SIGTERM."""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from sqs_support import (
    HERE,
    MOTO_REPEATS,
    config_yaml,
    depth,
    json_lines,
    make_queue,
    repeats,
    send,
    start_poller,
    stop_poller,
    unique,
    until,
)

pytestmark = pytest.mark.integration


def poller(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`poller ARGS` for the commands that return (validate); `poller run` is poller_run."""
    return subprocess.run(
        [sys.executable, "-m", "poller", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "PYTHONPATH": str(HERE)},
    )


def poller_run(config: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`poller run -c config` until it exits by itself (start_poller / stop_poller), with its
    stdout and stderr kept apart in files next to `config`."""
    out, err = config.with_suffix(".stdout"), config.with_suffix(".stderr")
    proc = start_poller(config, out, stderr=err)
    code = stop_poller(proc, timeout, sig=None)
    return subprocess.CompletedProcess(proc.args, code, out.read_text(), err.read_text())


BASE = """\
functions:
  fn: {handler: "itest_handlers:handler", timeout: 3}
mappings:
  - function: fn
    event_source_arn: arn:aws:sqs:us-east-1:123456789012:q
"""
BAD_CONFIGS = [
    ("unknown-field", BASE + "    colour: blue\n", "mappings[0].colour: unknown field"),
    (
        "wrong-type",
        BASE + "    batch_size: lots\n",
        "mappings[0].batch_size: Input should be a valid integer",
    ),
    (
        "out-of-range",
        BASE + "    BatchSize: 20000\n",
        "mappings[0].BatchSize: Value '20000' failed to satisfy constraint: Member must have value less than or equal to 10000",
    ),
    (
        "window-required",
        BASE + "    batch_size: 50\n",
        "mappings[0].maximum_batching_window_in_seconds: Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10",
    ),
    (
        "missing-env",
        BASE.replace("timeout: 3", "timeout: '${NOPE_NOT_SET}'"),
        "functions.fn.timeout: environment variable NOPE_NOT_SET is not set",
    ),
]


@pytest.mark.parametrize(
    ("text", "message"), [b[1:] for b in BAD_CONFIGS], ids=[b[0] for b in BAD_CONFIGS]
)
@pytest.mark.parametrize("command", ["validate", "run"])
def test_bad_config_exits_2_naming_the_field(
    tmp_path: Path, command: str, text: str, message: str
) -> None:
    path = tmp_path / "poller.yaml"
    path.write_text(text)
    result = poller_run(path) if command == "run" else poller(command, "-c", str(path))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_accepts_a_good_config(tmp_path: Path) -> None:
    path = tmp_path / "poller.yaml"
    path.write_text(BASE + "    BatchSize: 10\n")
    result = poller("validate", "-c", str(path))
    assert result.returncode == 0, result.stderr


def test_the_shipped_example_validates_as_shipped() -> None:
    """config/poller.example.yaml names a handler that exists (examples/orders.py, found through
    code_uri relative to the file), so it validates from any working directory."""
    example = HERE.parents[1] / "config" / "poller.example.yaml"
    result = poller("validate", "-c", str(example))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{example}: OK (1 functions, 2 mappings)"


def test_missing_handler_module_exits_2(tmp_path: Path, endpoint: str, sqs: Any) -> None:
    queue = unique("nohandler")
    make_queue(sqs, queue)
    path = tmp_path / "poller.yaml"
    path.write_text(config_yaml(endpoint, queue, handler="no_such_module:handler"))
    result = poller_run(path)
    assert result.returncode == 2
    assert "Runtime.ImportModuleError: Unable to import module 'no_such_module'" in result.stderr
    assert poller("validate", "-c", str(path)).returncode == 2


def test_nonexistent_queue_exits_2_with_aws_message(tmp_path: Path, endpoint: str) -> None:
    path = tmp_path / "poller.yaml"
    path.write_text(config_yaml(endpoint, unique("missing")))
    result = poller_run(path)
    assert result.returncode == 2
    assert (
        "mappings[0].event_source_arn: Error occurred while ReceiveMessage. SQS Error Code: "
        "AWS.SimpleQueueService.NonExistentQueue" in result.stderr
    )


def test_function_timeout_over_visibility_timeout_exits_2(
    tmp_path: Path, endpoint: str, sqs: Any
) -> None:
    queue = unique("vt")
    make_queue(sqs, queue, visibility=5)
    path = tmp_path / "poller.yaml"
    path.write_text(config_yaml(endpoint, queue, timeout=10))
    result = poller_run(path)
    assert result.returncode == 2
    assert (
        "Queue visibility timeout: 5 seconds is less than Function timeout: 10 seconds"
        in result.stderr
    )


def _http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _source_errors(http: int) -> float:
    """poller_source_errors_total for GetQueueAttributes, or 0 before the server answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http}/metrics", timeout=5) as response:
            metrics = response.read().decode()
    except OSError:
        return 0
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("poller_source_errors_total{")
        and 'operation="GetQueueAttributes"' in line
    ]
    assert len(values) <= 1, values
    return values[0] if values else 0


def test_unreachable_endpoint_is_retried_logged_and_counted(tmp_path: Path) -> None:
    import socket

    ports = []
    for _ in range(2):  # a port nothing listens on (the endpoint), and one for poller's HTTP
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    endpoint, http = ports
    path = tmp_path / "poller.yaml"
    # http: {listen: <port>}, then logging: {format: json, level: info} (the brace closes it)
    logging_json = f'listen: "127.0.0.1:{http}"}}\nlogging: {{format: json, level: info'
    path.write_text(
        config_yaml(f"http://127.0.0.1:{endpoint}", "q").replace(
            'listen: "127.0.0.1:0"', logging_json
        )
    )
    log = tmp_path / "poller.log"
    proc = start_poller(path, log)
    try:
        # Each counted error comes after botocore's own retries and poller's backoff: seconds,
        # more on a loaded machine. Wait for two, with the daemon alive throughout.
        def two_errors_while_alive() -> bool:
            assert proc.poll() is None, "the daemon must keep retrying, not exit"
            return _source_errors(http) >= 2

        until(two_errors_while_alive, 45, interval=0.2)
        assert _source_errors(http) >= 2
        assert proc.poll() is None, "the daemon must keep retrying, not exit"
        assert _http_status(f"http://127.0.0.1:{http}/healthz") == 200
        assert _http_status(f"http://127.0.0.1:{http}/readyz") == 503  # not polling yet
    finally:
        code = stop_poller(proc)
    out = log.read_text()
    assert code == 0, out
    errors = [line for line in json_lines(log) if line.get("event") == "source_error"]
    assert len(errors) >= 2, out
    assert "EndpointConnectionError" in {line["error_code"] for line in errors}, out


SLOW_HANDLER = """\
import pathlib, time
def handler(event, context):
    marker = pathlib.Path(__file__).with_name("started")
    marker.write_text(str(len(event["Records"])))
    time.sleep(2)
    with open(pathlib.Path(__file__).with_name("finished"), "a") as f:
        f.write("done\\n")
"""


def _config_with_handler(
    tmp_path: Path, endpoint: str, queue: str, source: str, **options: Any
) -> Path:
    """A config file whose function is `handler` in `source`, written as a module in tmp_path
    (where its handler leaves its marker files)."""
    (tmp_path / "tmp_handler.py").write_text(source)
    path = tmp_path / "poller.yaml"
    text = config_yaml(endpoint, queue, handler="tmp_handler:handler", **options)
    path.write_text(text.replace(f'code_uri: "{HERE}"', f'code_uri: "{tmp_path}"'))
    return path


SLOW_IMPORT_HANDLER = """\
import pathlib, time
pathlib.Path(__file__).with_name("importing").write_text("1")
time.sleep(1)  # a handler module whose import takes a while (a model, a connection pool)
def handler(event, context):
    return None
"""


def _catches_sigterm(pid: int) -> bool:
    """Whether the process has a handler for SIGTERM (Linux: SigCgt in /proc/PID/status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("moment", ["first-thing", "handler-import"])
def test_a_stop_during_start_up_exits_0_without_a_traceback(
    tmp_path: Path, endpoint: str, sqs: Any, signum: signal.Signals, moment: str
) -> None:
    """SIGTERM or SIGINT at any moment before the daemon is ready: a clean stop, exit 0.

    first-thing: as soon as poller has taken the signals over (the interpreter's own start-up
    comes before any program's code), while it loads its modules and the configuration.
    """
    queue = unique("early")
    make_queue(sqs, queue)
    path = _config_with_handler(tmp_path, endpoint, queue, SLOW_IMPORT_HANDLER)
    log = tmp_path / "poller.log"
    proc = start_poller(path, log)
    if moment == "first-thing":
        until(lambda: _catches_sigterm(proc.pid), 30)
    else:
        until(lambda: (tmp_path / "importing").exists(), 30)
    code = stop_poller(proc, sig=signum)
    out = log.read_text()
    assert code == 0, out
    assert "Traceback" not in out
    assert "KeyboardInterrupt" not in out
    assert not (tmp_path / "importing").exists() or moment == "handler-import"


def test_sigterm_during_slow_batch_finishes_deletes_and_exits_0(
    tmp_path: Path, endpoint: str, sqs: Any
) -> None:
    queue = unique("sigterm")
    url = make_queue(sqs, queue, visibility=30)
    path = _config_with_handler(tmp_path, endpoint, queue, SLOW_HANDLER, shutdown_timeout=15)
    log = tmp_path / "poller.log"
    proc = start_poller(path, log)
    try:
        send(sqs, url, ["slow"])
        until(lambda: (tmp_path / "started").exists(), 30)
    finally:
        signalled = time.monotonic()
        code = stop_poller(proc)
        elapsed = time.monotonic() - signalled
    out = log.read_text()
    assert code == 0, out
    assert elapsed < 15
    assert (tmp_path / "finished").read_text() == "done\n"  # handled once, not cut short
    assert depth(sqs, url) == 0  # deleted: it will not be redelivered


RECORDING_HANDLER = """\
import pathlib, time
def handler(event, context):
    for record in event["Records"]:
        if record["body"] == "slow":
            pathlib.Path(__file__).with_name("started").write_text("1")
            time.sleep(2)
    with open(pathlib.Path(__file__).with_name("handled"), "a") as f:
        f.writelines(record["body"] + "\\n" for record in event["Records"])
"""


def test_sigterm_with_the_default_finish_drains_the_open_long_polls_too(
    tmp_path: Path, endpoint: str, sqs: Any
) -> None:
    # The default `shutdown_receives: finish`, through the real signal handler: a slow batch is
    # in flight and the other pollers sit in long polls when SIGTERM arrives; messages sent
    # right after are taken by those polls, handled once and deleted, and nothing is left
    # hidden in the queue.
    queue = unique("sigterm-finish")
    url = make_queue(sqs, queue, visibility=120)
    path = _config_with_handler(
        tmp_path,
        endpoint,
        queue,
        RECORDING_HANDLER,
        shutdown_timeout=30,
        shutdown_receives="finish",
    )
    log = tmp_path / "poller.log"
    bodies = [f"after-{i}" for i in range(50)]
    proc = start_poller(path, log)
    try:
        send(sqs, url, ["slow"])
        until(lambda: (tmp_path / "started").exists(), 30)
        # SIGTERM, then the messages, sent while the daemon shuts down.
        code = stop_poller(proc, 45, while_stopping=lambda: send(sqs, url, bodies))
    finally:
        stop_poller(proc)  # only if the test failed before: it has exited otherwise
    out = log.read_text()
    assert code == 0, out
    assert "drain_timed_out" not in out
    handled = (tmp_path / "handled").read_text().splitlines()
    assert handled.count("slow") == 1
    late = [body for body in handled if body != "slow"]
    assert late, "the polls open at SIGTERM brought messages, and they were handled"
    assert repeats(late) <= MOTO_REPEATS
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "0"  # nothing hidden
    assert int(attrs["ApproximateNumberOfMessages"]) == len(bodies) - len(set(late))


class _Refusing(http.server.BaseHTTPRequestHandler):
    """An AWS JSON endpoint that refuses every call: AccessDeniedException."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b'{"__type":"AccessDeniedException","message":"not authorized"}'
        self.send_response(400)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return None


def test_a_source_that_refuses_for_good_exits_2_naming_the_field(
    tmp_path: Path, endpoint: str
) -> None:
    # Permissions will not come back by waiting: exit 2 at start-up, like a missing stream.
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        refusing = f"http://127.0.0.1:{server.server_address[1]}"
        path = tmp_path / "poller.yaml"
        path.write_text(
            f"""\
aws: {{region: us-east-1, endpoint_url: "{endpoint}", endpoints: {{kinesis: "{refusing}"}}}}
http: {{enabled: false}}
state: {{path: "{tmp_path / "state.db"}"}}
functions:
  fn: {{handler: "itest_handlers:handler"}}
mappings:
  - function: fn
    event_source_arn: arn:aws:kinesis:us-east-1:123456789012:stream/orders
    starting_position: TRIM_HORIZON
"""
        )
        result = poller_run(path)
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 2, result.stderr
    assert "mappings[0].event_source_arn: AccessDeniedException" in result.stderr


ORPHAN_HANDLER = """\
import os, pathlib, time
def handler(event, context):
    pathlib.Path(__file__).with_name("worker.pid").write_text(str(os.getpid()))
    time.sleep(60)  # still in its handler when the daemon is killed
"""


def _alive(pid: int) -> bool:
    """Whether the process runs (a zombie, left for init to reap, has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_a_sigkilled_daemon_takes_its_busy_workers_with_it(
    tmp_path: Path, endpoint: str, sqs: Any
) -> None:
    """No orphans: a worker in the middle of a handler dies with a SIGKILLed daemon at once, not
    when its handler returns, so a restarted daemon never runs the same batch beside it."""
    queue = unique("orphan")
    url = make_queue(sqs, queue, visibility=120)
    path = _config_with_handler(tmp_path, endpoint, queue, ORPHAN_HANDLER, timeout=90)
    isolated = path.read_text().replace(
        "    timeout: 90\n", "    timeout: 90\n    isolation: process\n"
    )
    assert "isolation: process" in isolated
    path.write_text(isolated)
    proc = start_poller(path, tmp_path / "poller.log")
    try:
        send(sqs, url, ["x"])
        until(lambda: (tmp_path / "worker.pid").exists(), 30)
        worker = int((tmp_path / "worker.pid").read_text())
        assert worker != proc.pid
        assert _alive(worker)
    finally:
        stop_poller(proc, sig=signal.SIGKILL)
    until(lambda: not _alive(worker), 10)  # its handler would sleep for almost a minute more
