"""invokers.reloading: a handler's code imported afresh into the running invoker (`--watch`)."""

from __future__ import annotations

import json
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

import poller
from poller.config.settings import FunctionConfig
from poller.invokers import Invoker
from poller.invokers.limits import ConcurrencyGate
from poller.invokers.process import ProcessInvoker
from poller.invokers.python import PythonInvoker, function_identity, load_handler
from poller.invokers.reloading import Handler, purge_modules, reload_handlers

pytestmark = pytest.mark.anyio

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:orders"
EVENT: dict[str, Any] = {"Records": [{"messageId": "m1", "body": "hello"}]}


@pytest.fixture
def code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A code directory; what load_handler adds to sys.path and sys.modules is undone after.

    Bytecode is written, here and in workers, as it is by default (the suite may turn it off):
    a stale `.pyc` is one way a reload can import the old code.
    """
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    yield tmp_path
    purge_modules({tmp_path})


def module_name() -> str:
    """A module name no other test has imported (sys.modules is the process's)."""
    return f"reload_{uuid.uuid4().hex[:8]}"


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def versioned(path: Path, version: int) -> Path:
    """A handler returning its VERSION: rewrites are the same size, in the same second."""
    return write(
        path,
        f"""\
        VERSION = {version}

        def handler(event, context):
            return VERSION
        """,
    )


def in_process(name: str, module: str, code: Path, **settings: Any) -> Handler:
    function = FunctionConfig(handler=f"{module}:handler", code_uri=str(code), **settings)
    handler = load_handler(name, function, code)
    identity = function_identity(name, function, FUNCTION_ARN)
    invoker = ConcurrencyGate(10).limit(PythonInvoker(handler, identity, function), None)
    return Handler(name, function, invoker, code)


async def answer(invoker: Invoker) -> Any:
    result = await invoker.invoke(EVENT, str(uuid.uuid4()))
    assert result.error is None, result.error
    assert result.payload is not None
    return json.loads(result.payload)


async def test_a_reload_imports_the_changed_module_afresh(code: Path) -> None:
    module = module_name()
    source = versioned(code / f"{module}.py", 1)
    handler = in_process("orders", module, code)
    assert await answer(handler.invoker) == 1
    versioned(source, 2)  # same size, same second: its old bytecode would still look valid
    assert await answer(handler.invoker) == 1  # nothing changes until the reload
    [outcome] = await reload_handlers([handler], {source})
    assert (outcome.name, outcome.error) == ("orders", None)
    assert outcome.seconds >= 0
    assert await answer(handler.invoker) == 2
    assert sys.modules[module].VERSION == 2


async def test_a_package_handler_gets_every_module_of_its_directory_afresh(code: Path) -> None:
    package = module_name()
    (code / package).mkdir()
    write(code / package / "__init__.py", "")
    helper = write(code / package / "helper.py", "WORD = 'old'\n")
    write(
        code / package / "app.py",
        """\
        from . import helper

        def handler(event, context):
            return helper.WORD
        """,
    )
    handler = in_process("orders", f"{package}.app", code)
    assert await answer(handler.invoker) == "old"
    write(helper, "WORD = 'new'\n")  # only the helper changed: the handler's module is re-run
    await reload_handlers([handler], {helper})
    assert await answer(handler.invoker) == "new"


async def test_functions_sharing_a_module_all_get_the_fresh_one(code: Path) -> None:
    shared, first, second = module_name(), module_name(), module_name()
    source = write(code / f"{shared}.py", "VALUE = 'before'\n")
    for module in (first, second):
        write(
            code / f"{module}.py",
            f"""\
            import {shared}

            def handler(event, context):
                return [{shared}.VALUE, id({shared})]
            """,
        )
    a, b = in_process("a", first, code), in_process("b", second, code)
    write(source, "VALUE = 'after'\n")
    outcomes = await reload_handlers([a, b], {source})
    assert [(o.name, o.error) for o in outcomes] == [("a", None), ("b", None)]
    value_a, module_a = await answer(a.invoker)
    value_b, module_b = await answer(b.invoker)
    assert value_a == value_b == "after"
    assert module_a == module_b == id(sys.modules[shared])  # purged once, imported once


@pytest.mark.parametrize(
    ("broken", "error"),
    [
        ("VERSION = (\n", "Runtime.ImportModuleError: Unable to import module '{module}': "),
        ("raise SystemExit(3)\n", "Runtime.ImportModuleError: Unable to import module '{module}'"),
        ("VERSION = 2\n", "Runtime.HandlerNotFound: Handler 'handler' missing on module"),
    ],
    ids=["syntax_error", "sys_exit", "no_handler"],
)
async def test_code_that_does_not_import_keeps_the_old_handler(
    code: Path, broken: str, error: str
) -> None:
    module = module_name()
    source = versioned(code / f"{module}.py", 1)
    handler = in_process("orders", module, code)
    write(source, broken)
    [outcome] = await reload_handlers([handler], {source})
    assert outcome.error is not None
    assert outcome.error.startswith(error.format(module=module))
    assert await answer(handler.invoker) == 1
    versioned(source, 3)  # fixed: the next change reloads
    [outcome] = await reload_handlers([handler], {source})
    assert outcome.error is None
    assert await answer(handler.invoker) == 3


async def test_an_invocation_in_flight_finishes_with_the_code_it_started_with(
    code: Path,
) -> None:
    module = module_name()
    source = write(
        code / f"{module}.py",
        """\
        import threading
        VERSION = 1
        started, release = threading.Event(), threading.Event()

        def handler(event, context):
            started.set()
            release.wait(5)
            return VERSION
        """,
    )
    handler = in_process("orders", module, code)
    old = sys.modules[module]
    results: list[Any] = []
    async with anyio.create_task_group() as group:
        group.start_soon(lambda: _collect(handler.invoker, results))
        await anyio.to_thread.run_sync(old.started.wait, 5)
        versioned(source, 2)
        await reload_handlers([handler], {source})
        assert await answer(handler.invoker) == 2  # the next invocation runs the new code
        old.release.set()
    assert results == [1]


async def _collect(invoker: Invoker, results: list[Any]) -> None:
    results.append(await answer(invoker))


def test_purge_leaves_poller_the_standard_library_and_other_directories(code: Path) -> None:
    module = module_name()
    other = code / "other"
    other.mkdir()
    write(other / f"{module}.py", "")
    sys.path.insert(0, str(other))
    __import__(module)
    assert purge_modules({Path(poller.__file__).parent, Path(json.__file__).parent}) == []
    assert purge_modules({code / "elsewhere"}) == []
    assert module in sys.modules
    assert purge_modules({code}) == [module]
    assert module not in sys.modules


# --- isolation: process --------------------------------------------------------------------


def in_processes(module: str, code: Path, workers: int = 2) -> tuple[Handler, ProcessInvoker]:
    function = FunctionConfig(
        handler=f"{module}:handler", code_uri=str(code), isolation="process", timeout=10
    )
    process = ProcessInvoker(
        "orders", function, code, FUNCTION_ARN, workers=workers, region="us-east-1"
    )
    return Handler("orders", function, process, code), process


def pid_versioned(path: Path, version: int) -> Path:
    """A handler answering [VERSION, its pid]; an event {"hold": file} makes it wait for the
    file to exist first (after writing file + ".started")."""
    return write(
        path,
        f"""\
        import os, time
        VERSION = {version}

        def handler(event, context):
            hold = event.get("hold")
            if hold:
                open(hold + ".started", "w").close()
                while not os.path.exists(hold):
                    time.sleep(0.01)
            return [VERSION, os.getpid()]
        """,
    )


async def call(invoker: Invoker, event: dict[str, Any]) -> Any:
    result = await invoker.invoke(event, str(uuid.uuid4()))
    assert result.error is None, result.error
    assert result.payload is not None
    return json.loads(result.payload)


async def wait_until(predicate: Any, timeout: float = 10) -> None:
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.01)


async def test_a_process_reload_replaces_idle_and_busy_workers(code: Path) -> None:
    module = module_name()
    source = pid_versioned(code / f"{module}.py", 1)
    hold = code / "hold"
    handler, process = in_processes(module, code)
    busy: list[Any] = []

    async def held() -> None:
        busy.append(await call(process, {"hold": str(hold)}))

    with capture_logs() as logs:
        async with process, anyio.create_task_group() as group:
            [version, idle_pid] = await call(process, {})
            group.start_soon(held)  # takes the idle worker; the next call cold-starts one
            await wait_until(Path(f"{hold}.started").exists)
            [_, second_pid] = await call(process, {})
            pid_versioned(source, 2)
            [outcome] = await reload_handlers([handler], {source})
            assert outcome.error is None
            [new_version, new_pid] = await call(process, {})
            hold.touch()  # the busy worker finishes on the old code...
            await wait_until(lambda: bool(busy))
            [after, after_pid] = await call(process, {})
    assert (version, new_version, after) == (1, 2, 2)
    assert busy[0][0] == 1
    old = {idle_pid, second_pid}
    assert new_pid not in old
    assert after_pid not in old  # ...and is stopped, not reused
    reloaded = {e["pid"] for e in logs if e.get("reason") == "reloaded"}
    assert reloaded == old


async def test_a_process_reload_that_fails_keeps_the_old_workers(code: Path) -> None:
    module = module_name()
    source = pid_versioned(code / f"{module}.py", 1)
    handler, process = in_processes(module, code, workers=2)
    async with process:
        [_, pid] = await call(process, {})
        write(source, "VERSION = (\n")
        [outcome] = await reload_handlers([handler], {source})
        assert outcome.error is not None
        assert outcome.error.startswith(
            f"Runtime.ImportModuleError: Unable to import module '{module}': "
        )
        # Two at once with one live worker: the second waits for it rather than cold-start a
        # worker on code that does not import.
        with anyio.fail_after(10):
            async with anyio.create_task_group() as group:
                answers: list[Any] = []
                for _ in range(2):
                    group.start_soon(lambda: _collect_call(process, answers))
        assert answers == [[1, pid], [1, pid]]
        pid_versioned(source, 3)
        [outcome] = await reload_handlers([handler], {source})
        assert outcome.error is None
        assert (await call(process, {}))[0] == 3


async def _collect_call(invoker: Invoker, answers: list[Any]) -> None:
    answers.append(await call(invoker, {}))
