"""invokers.process: handlers in worker processes, killed at timeout, replaced on death (§5.8)."""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from poller.config.settings import FunctionConfig
from poller.errors import InvokeError, StartupError
from poller.invokers.process import ProcessInvoker
from poller.model import InvokeResult

pytestmark = pytest.mark.anyio

HERE = Path(__file__).parent
FUNCTION_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:orders"
REQUEST_ID = "8f507cfc-d2c1-4e62-b6b1-4f3e3d1c0a11"


def invoker(handler: str, workers: int = 1, **settings: Any) -> ProcessInvoker:
    function = FunctionConfig(handler=f"process_handlers:{handler}", code_uri=".", **settings)
    return ProcessInvoker(
        "orders", function, HERE, FUNCTION_ARN, workers=workers, region="eu-west-1"
    )


def body(result: InvokeResult) -> Any:
    assert result.error is None, result.error
    assert result.payload is not None
    return json.loads(result.payload)


def exists(pid: int) -> bool:
    """Whether /proc still lists the process: a zombie counts, a reaped process does not."""
    return Path(f"/proc/{pid}").exists()


def state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def dead(pid: int) -> bool:
    """A zombie whose every thread has exited: its files (its end of the connection) are closed.
    The leader of a process with more threads (a worker's lifeline watcher) shows Z a moment
    before the others are gone."""
    return state(pid) == "Z" and len(list(Path(f"/proc/{pid}/task").iterdir())) <= 1


def children() -> set[int]:
    """PIDs whose parent is this process, zombies included."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():
            found.add(int(stat.parent.name))
    return found


async def test_round_trips_event_and_context() -> None:
    event = {"Records": [{"messageId": "m1", "body": "hello"}]}
    with capture_logs() as logs:
        async with invoker("echo", timeout=5, memory_size=256) as process:
            result = await process.invoke(event, REQUEST_ID)
    reply = body(result)
    assert reply["event"] == event
    assert reply["pid"] != os.getpid()
    assert reply["aws_request_id"] == REQUEST_ID
    assert reply["function_name"] == "orders"
    assert reply["function_version"] == "$LATEST"
    assert reply["invoked_function_arn"] == FUNCTION_ARN
    assert reply["memory_limit_in_mb"] == "256"
    assert reply["log_group_name"] == "/aws/lambda/orders"
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", reply["log_stream_name"])
    assert 4000 < reply["remaining_ms"] <= 5000
    started = [entry for entry in logs if entry["event"] == "worker_started"]
    assert started[0]["pid"] == reply["pid"]
    assert started[0]["init_duration_ms"] >= 0


async def test_sets_the_runtime_and_function_environment() -> None:
    async with invoker("environment", memory_size=512, environment={"STAGE": "test"}) as process:
        reply = body(await process.invoke({}, REQUEST_ID))
    env = reply["env"]
    assert env["STAGE"] == "test"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "orders"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/orders"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"].startswith(time.strftime("%Y/%m/", time.gmtime()))
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["_HANDLER"] == "process_handlers.environment"
    assert (
        env["AWS_EXECUTION_ENV"] == f"AWS_Lambda_python{sys.version_info[0]}.{sys.version_info[1]}"
    )
    assert env["LAMBDA_TASK_ROOT"] == reply["cwd"] == str(HERE.resolve())
    assert env["LAMBDA_RUNTIME_DIR"].endswith("poller/invokers")
    assert env["TZ"] == ":UTC"
    assert reply["tzname"][0] == "UTC"


async def test_exception_becomes_lambda_error_payload_and_worker_is_reused() -> None:
    async with invoker("raises") as process:
        first = await process.invoke({"id": "m1"}, REQUEST_ID)
        second = await process.invoke({"id": "m2"}, REQUEST_ID)
        assert len(children()) == 1
    assert first.error is not None
    assert second.error is not None
    payload = first.error.payload(REQUEST_ID)
    assert payload["errorMessage"] == "bad record m1"
    assert payload["errorType"] == "ValueError"
    assert payload["requestId"] == REQUEST_ID
    trace = "".join(payload["stackTrace"])
    assert "process_handlers.py" in trace
    assert "raise ValueError" in trace
    assert "worker.py" not in trace
    assert second.error.error_message == "bad record m2"


async def test_unserialisable_response_is_a_marshal_error() -> None:
    async with invoker("unserialisable") as process:
        result = await process.invoke({}, REQUEST_ID)
    assert result.error is not None
    assert result.error.error_type == "Runtime.MarshalError"
    assert result.error.error_message.startswith("Unable to marshal response:")


@pytest.mark.parametrize(
    ("value", "payload", "error_type", "message"),
    [
        pytest.param("decimal-30-digits", b'{"n": 1.2345678901234568e+29}', None, "", id="decimal"),
        pytest.param("decimal-infinity", b'{"n": Infinity}', None, "", id="decimal-infinity"),
        pytest.param(
            "nested-too-deeply",
            None,
            "Runtime.MarshalError",
            "Unable to marshal response: maximum recursion depth exceeded while encoding a JSON "
            "object",
            id="nested-too-deeply",
        ),
        pytest.param(
            "items-raise",
            None,
            "Runtime.MarshalError",
            "Unable to marshal response: items() failed",
            id="items-raise",
        ),
        # Out of memory while marshalling is out of memory, not a marshal error.
        pytest.param(
            "items-memory-error",
            None,
            "Runtime.OutOfMemory",
            f"RequestId: {REQUEST_ID} Error: Runtime exited with error: signal: killed",
            id="memory-error",
        ),
    ],
)
async def test_return_values_are_marshalled_as_in_process(
    value: str, payload: bytes | None, error_type: str | None, message: str
) -> None:
    async with invoker("returns") as process:
        result = await process.invoke({"value": value}, REQUEST_ID)
    assert result.payload == payload
    if error_type is None:
        assert result.error is None
    else:
        assert result.error is not None
        assert (result.error.error_type, result.error.error_message) == (error_type, message)


async def test_timeout_kills_the_worker_and_the_next_call_gets_a_fresh_one() -> None:
    async with invoker("sleep", timeout=1) as process:
        before = body(await process.invoke({"seconds": 0}, REQUEST_ID))["pid"]
        started = time.monotonic()
        result = await process.invoke({"seconds": 30}, REQUEST_ID)
        timed = time.monotonic() - started
        assert not exists(before)  # SIGKILLed and reaped
        started = time.monotonic()
        after = body(await process.invoke({"seconds": 0}, REQUEST_ID))["pid"]
        replaced = time.monotonic() - started
    assert result.error is not None
    assert result.error.error_type == "Sandbox.Timedout"
    assert re.fullmatch(
        rf"\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z {REQUEST_ID} Task timed out after 1\.00 seconds",
        result.error.error_message,
    )
    assert 1.0 <= timed < 2.0
    assert after != before
    assert replaced < 2.0


async def test_allocating_past_memory_size_fails_cleanly_and_the_worker_is_replaced() -> None:
    async with invoker("allocate", memory_size=128) as process:
        within = body(await process.invoke({"mb": 64}, REQUEST_ID))
        result = await process.invoke({"mb": 256}, REQUEST_ID)
        after = body(await process.invoke({"mb": 64}, REQUEST_ID))
    assert within["bytes"] == 64 * 2**20
    assert result.error is not None
    assert result.error.error_type == "Runtime.OutOfMemory"
    assert result.error.error_message == (
        f"RequestId: {REQUEST_ID} Error: Runtime exited with error: signal: killed"
    )
    assert after["pid"] != within["pid"]


@pytest.mark.parametrize(
    ("how", "status"),
    [
        ("exit", "exit status 1"),
        ("SIGKILL", "signal: killed"),
        ("SIGSEGV", "signal: segmentation fault"),
    ],
)
async def test_a_crash_fails_only_its_invocation(how: str, status: str) -> None:
    async with invoker("crash") as process:
        before = body(await process.invoke({"how": None}, REQUEST_ID))["pid"]
        result = await process.invoke({"how": how}, REQUEST_ID)
        after = body(await process.invoke({"how": None}, REQUEST_ID))["pid"]
    assert result.error is not None
    assert result.error.error_type == "Runtime.ExitError"
    assert result.error.error_message == (
        f"RequestId: {REQUEST_ID} Error: Runtime exited with error: {status}"
    )
    assert after != before
    assert not exists(before)


async def test_a_worker_that_died_while_idle_is_replaced_before_the_event_is_sent() -> None:
    async with invoker("crash") as process:
        before = body(await process.invoke({"how": None}, REQUEST_ID))["pid"]
        os.kill(before, signal.SIGKILL)
        while not dead(before):  # dead, not yet reaped
            await anyio.sleep(0.01)
        after = body(await process.invoke({"how": None}, REQUEST_ID))["pid"]
    assert after != before


async def test_async_handler_runs_on_one_loop_per_worker() -> None:
    async with invoker("async_echo") as process:
        first = body(await process.invoke({"n": 1}, "r1"))
        second = body(await process.invoke({"n": 2}, "r2"))
    assert first == {"event": {"n": 1}, "request_id": "r1", "loops": 1}
    assert second == {"event": {"n": 2}, "request_id": "r2", "loops": 1}


async def test_workers_run_invocations_in_parallel() -> None:
    replies: list[dict[str, Any]] = []

    async def call(process: ProcessInvoker) -> None:
        replies.append(body(await process.invoke({"seconds": 0.6}, REQUEST_ID)))

    async with invoker("sleep", workers=2) as process, anyio.create_task_group() as tg:
        tg.start_soon(call, process)
        tg.start_soon(call, process)
    assert replies[0]["pid"] != replies[1]["pid"]
    overlap = min(r["ended"] for r in replies) - max(r["started"] for r in replies)
    assert overlap > 0.2


async def test_more_invocations_than_workers_wait_for_one() -> None:
    replies: list[dict[str, Any]] = []

    async def call(process: ProcessInvoker) -> None:
        replies.append(body(await process.invoke({"seconds": 0.2}, REQUEST_ID)))

    async with invoker("sleep", workers=1) as process, anyio.create_task_group() as tg:
        tg.start_soon(call, process)
        tg.start_soon(call, process)
    assert replies[0]["pid"] == replies[1]["pid"]
    assert replies[1]["started"] >= replies[0]["ended"]


async def test_close_reaps_every_worker_and_is_idempotent() -> None:
    process = invoker("sleep", workers=3)
    await process.start()
    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(process.invoke, {"seconds": 0.3}, REQUEST_ID)
    pids = children()
    assert len(pids) == 3
    await process.close()
    await process.close()
    assert children() == set()
    assert not any(exists(pid) for pid in pids)
    with pytest.raises(InvokeError):
        await process.invoke({"seconds": 0}, REQUEST_ID)


async def test_close_kills_a_busy_worker() -> None:
    process = invoker("sleep", timeout=60)
    await process.start()
    results: list[InvokeResult] = []

    async def call() -> None:
        results.append(await process.invoke({"seconds": 30}, REQUEST_ID))

    async with anyio.create_task_group() as tg:
        tg.start_soon(call)
        await anyio.sleep(0.2)
        with anyio.fail_after(3):
            await process.close()
    assert children() == set()
    assert results[0].error is not None
    assert results[0].error.error_type == "Runtime.ExitError"


async def test_import_error_fails_start() -> None:
    process = ProcessInvoker(
        "orders",
        FunctionConfig(handler="no_such_module:handler", code_uri="."),
        HERE,
        FUNCTION_ARN,
        workers=1,
        region="eu-west-1",
    )
    with pytest.raises(StartupError) as caught:
        await process.start()
    await process.close()
    assert str(caught.value) == (
        "functions.orders.handler: Runtime.ImportModuleError: "
        "Unable to import module 'no_such_module': No module named 'no_such_module'"
    )
    assert children() == set()


async def test_missing_handler_in_a_lazily_started_worker_is_a_function_error() -> None:
    process = invoker("missing")
    try:
        result = await process.invoke({}, REQUEST_ID)
    finally:
        await process.close()
    assert result.error is not None
    assert result.error.error_type == "Runtime.HandlerNotFound"
    assert result.error.error_message == "Handler 'missing' missing on module 'process_handlers'"


@contextmanager
def no_more_descriptors() -> Iterator[None]:
    """The process may open no further file descriptor (EMFILE) until the block ends."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@contextmanager
def code_dir_removed(path: Path) -> Iterator[None]:
    """The function's code directory is gone for a while (a redeploy): no worker starts there."""
    aside = path.with_name(f"{path.name}.aside")
    path.rename(aside)
    try:
        yield
    finally:
        aside.rename(path)


@pytest.mark.parametrize(
    ("failure", "text"),
    [
        pytest.param(lambda code: no_more_descriptors(), "Too many open files", id="EMFILE"),
        pytest.param(code_dir_removed, "No such file or directory", id="no-code-dir"),
    ],
)
async def test_a_worker_the_os_will_not_start_is_an_invoke_error(
    tmp_path: Path, failure: Callable[[Path], AbstractContextManager[None]], text: str
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "process_handlers.py").write_text((HERE / "process_handlers.py").read_text())
    process = ProcessInvoker(
        "orders",
        FunctionConfig(handler="process_handlers:sleep", code_uri=str(code)),
        HERE,
        FUNCTION_ARN,
        workers=1,
        region="eu-west-1",
    )
    try:
        with failure(code), pytest.raises(InvokeError, match=text) as caught:
            await process.invoke({"seconds": 0}, REQUEST_ID)
        assert caught.type is InvokeError  # not Throttled: no concurrency limit refused it
        assert str(caught.value).startswith("orders: cannot start a worker: ")
        # Nothing is held: the next invocation starts a worker and runs.
        assert "pid" in body(await process.invoke({"seconds": 0}, REQUEST_ID))
    finally:
        await process.close()
    assert children() == set()


async def test_a_cancelled_invocation_kills_its_worker() -> None:
    async with invoker("sleep", timeout=60) as process:
        before = body(await process.invoke({"seconds": 0}, REQUEST_ID))["pid"]
        with anyio.move_on_after(0.2):
            await process.invoke({"seconds": 30}, REQUEST_ID)
        after = body(await process.invoke({"seconds": 0}, REQUEST_ID))["pid"]
    assert after != before
    assert children() == set()
