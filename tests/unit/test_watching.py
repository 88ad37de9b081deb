"""watching: which changes reload which handlers, and the watch loop around reload_handlers."""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs
from watchfiles import Change

from poller.config.settings import FunctionConfig
from poller.invokers import Invoker
from poller.invokers.python import PythonInvoker, function_identity, load_handler
from poller.invokers.reloading import Handler, purge_modules
from poller.telemetry.metrics import Metrics
from poller.watching import CodeFilter, CodeWatcher, affected, watch_roots

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:orders"


class _Unused:
    """An invoker the pure functions never call."""

    function_name = "unused"

    async def invoke(self, event: dict[str, Any], request_id: str) -> Any:
        raise AssertionError("not invoked")


def handler_in(name: str, directory: Path, invoker: Invoker | None = None) -> Handler:
    function = FunctionConfig(handler="app:handler", code_uri=str(directory))
    return Handler(name, function, invoker or _Unused(), Path("/"))


@pytest.mark.parametrize(
    ("path", "watched"),
    [
        ("/code/app.py", True),
        ("/code/settings.json", False),
        ("/code/run.log", False),
        ("/code/template.yaml", False),
        ("/code/ext.cpython-311-x86_64-linux-gnu.so", True),
        ("/code/pkg/module.py", True),
        ("/code/__pycache__/app.cpython-311.pyc", False),
        ("/code/.git/index", False),
        ("/code/.poller/state.db", False),
        ("/code/.poller/anything", False),
        ("/code/state.db", False),
        ("/code/state.db-journal", False),
        ("/code/state.db-wal", False),
        ("/code/state.db-shm", False),
        ("/code/.app.py.swp", False),
        ("/code/app.py~", False),
    ],
)
def test_the_filter_passes_python_code_only_and_ignores_caches_editors_files_and_state(
    path: str, watched: bool
) -> None:
    assert CodeFilter()(Change.modified, path) is watched


def test_roots_are_the_outermost_existing_code_directories(tmp_path: Path) -> None:
    inner, other = tmp_path / "a" / "inner", tmp_path / "b"
    inner.mkdir(parents=True)
    other.mkdir()
    handlers = [
        handler_in("outer", tmp_path / "a"),
        handler_in("inner", inner),
        handler_in("other", other),
        handler_in("twin", other),
        handler_in("missing", tmp_path / "gone"),
    ]
    assert watch_roots(handlers) == {tmp_path / "a", other}
    assert watch_roots([]) == frozenset()


def test_a_change_reloads_every_function_whose_directory_holds_it() -> None:
    outer, inner, twin, other = (
        handler_in("outer", Path("/code")),
        handler_in("inner", Path("/code/lib")),
        handler_in("twin", Path("/code")),
        handler_in("other", Path("/elsewhere")),
    )
    changed = {Path("/code/lib/b.py"), Path("/code/a.py")}
    plan = affected([outer, inner, twin, other], changed)
    assert [(h.name, paths) for h, paths in plan] == [
        ("outer", ["a.py", "lib/b.py"]),
        ("inner", ["b.py"]),
        ("twin", ["a.py", "lib/b.py"]),
    ]
    assert affected([other], changed) == []


# --- the watch loop, with in-process handlers ------------------------------------------------


@pytest.fixture
def modules(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield
    purge_modules({tmp_path})


def live(name: str, directory: Path, version: int) -> Handler:
    """A handler of a module of its own in `directory` answering `version`, loaded."""
    module = f"watched_{uuid.uuid4().hex[:8]}"
    (directory / f"{module}.py").write_text(
        f"VERSION = {version}\ndef handler(e, c): return VERSION\n"
    )
    function = FunctionConfig(handler=f"{module}:handler", code_uri=str(directory))
    identity = function_identity(name, function, FUNCTION_ARN)
    invoker = PythonInvoker(load_handler(name, function, directory), identity, function)
    return Handler(name, function, invoker, directory)


def source(handler: Handler) -> Path:
    return handler.code_dir / f"{handler.function.module_and_attr[0]}.py"


async def answer(handler: Handler) -> Any:
    result = await handler.invoker.invoke({}, "r")
    assert result.payload is not None, result.error
    return json.loads(result.payload)


async def wait_for(predicate: Callable[[], bool], timeout: float = 5) -> None:
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.02)


async def wait_answer(handler: Handler, expected: Any, timeout: float = 5) -> None:
    with anyio.fail_after(timeout):
        while await answer(handler) != expected:
            await anyio.sleep(0.02)


def events(logs: list[MutableMapping[str, Any]], name: str) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e["event"] == name]


@pytest.mark.anyio
@pytest.mark.usefixtures("modules")
async def test_the_watcher_reloads_changed_code_and_follows_the_functions(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    current = [live("one", first, 1)]
    stopping, metrics = anyio.Event(), Metrics()
    watcher = CodeWatcher(lambda: current, stopping, metrics)
    with capture_logs() as logs:
        async with anyio.create_task_group() as group:
            group.start_soon(watcher.run)
            await wait_for(lambda: bool(events(logs, "watch_started")))
            (first / ".poller").mkdir()
            (first / ".poller" / "state.db").write_text("ignored")
            source(current[0]).write_text("VERSION = 2\ndef handler(e, c): return VERSION\n")
            await wait_answer(current[0], 2)
            [reloaded] = events(logs, "handler_reloaded")
            assert reloaded["function"] == "one"
            assert reloaded["paths"] == [source(current[0]).name]  # the state file is ignored
            assert reloaded["changed"] == 1
            assert 0 <= reloaded["seconds"] < 1
            source(current[0]).write_text("VERSION = (\n")
            await wait_for(lambda: bool(events(logs, "handler_reload_failed")))
            [failed] = events(logs, "handler_reload_failed")
            assert failed["log_level"] == "error"
            assert failed["error"].startswith("Runtime.ImportModuleError: Unable to import module")
            assert await answer(current[0]) == 2  # the old code serves on
            current.append(live("two", second, 1))  # a SIGHUP added a function
            await wait_for(lambda: len(events(logs, "watch_started")) == 2)
            assert events(logs, "watch_started")[1]["directories"] == sorted(
                [str(first), str(second)]
            )
            source(current[1]).write_text("VERSION = 7\ndef handler(e, c): return VERSION\n")
            await wait_answer(current[1], 7)
            stopped = time.monotonic()
            stopping.set()
    assert time.monotonic() - stopped < 1  # run() returned at once
    assert metrics.value("poller_handler_reloads_total", function="one", outcome="ok") == 1
    assert metrics.value("poller_handler_reloads_total", function="one", outcome="failed") == 1
    assert metrics.value("poller_handler_reloads_total", function="two", outcome="ok") == 1


@pytest.mark.anyio
async def test_the_watcher_ends_at_once_when_cancelled(tmp_path: Path) -> None:
    watcher = CodeWatcher(lambda: [handler_in("fn", tmp_path)], anyio.Event(), Metrics())
    with capture_logs() as logs:
        async with anyio.create_task_group() as group:
            group.start_soon(watcher.run)
            await wait_for(lambda: bool(events(logs, "watch_started")))
            cancelled = time.monotonic()
            group.cancel_scope.cancel()
    # watchfiles' thread cannot be cancelled: only the stop event run() sets ends it early.
    assert time.monotonic() - cancelled < 1
