"""Reloading a handler's code in a running daemon (`--watch`): purge, re-import, swap.

What is reloaded is the function's target as it runs: an in-process handler gets the module
imported afresh and swapped into its `PythonInvoker`; a process-isolated one gets its worker
pool moved to fresh workers (`ProcessInvoker.reload`). Mappings, their checkpoints and their
invocations in flight are not touched: those finish with the code they started with.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import site
import sys
import sysconfig
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import anyio
import anyio.to_thread

import poller
from poller.config.settings import FunctionConfig
from poller.errors import StartupError
from poller.invokers import Invoker
from poller.invokers.limits import LimitedInvoker
from poller.invokers.process import ProcessInvoker, code_dir
from poller.invokers.python import PythonInvoker, load_handler

# Never purged, wherever a code directory is (the current directory of a source checkout holds
# poller itself and its virtualenv): poller, the standard library, installed packages.
_KEPT = {
    str(Path(poller.__file__).parent),
    *(sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")),
    *site.getsitepackages(),
}
_KEPT_ROOTS = tuple(Path(root).resolve() for root in _KEPT)
# Most modules are found by their file's prefix, without a resolve() (a syscall per part).
_KEPT_PREFIXES = tuple({os.path.join(os.path.abspath(root), "") for root in _KEPT})


@dataclass(frozen=True, slots=True)
class Handler:
    """A running function with a `handler` target: what a reload needs to reach its code."""

    name: str
    function: FunctionConfig
    invoker: Invoker  # as the supervisor holds it: the target inside its concurrency limits
    base_dir: Path

    @property
    def code_dir(self) -> Path:
        """The directory its handler is imported from (LAMBDA_TASK_ROOT)."""
        return code_dir(self.function, self.base_dir)

    @property
    def in_process(self) -> bool:
        return self.function.isolation == "thread"


def _within(path: Path, directories: Iterable[Path]) -> bool:
    return any(path.is_relative_to(directory) for directory in directories)


def _module_path(module: ModuleType) -> Path | None:
    file = getattr(module, "__file__", None)
    if not isinstance(file, str):
        return None  # built-in, frozen, or a namespace package (its __path__ is read afresh)
    if os.path.abspath(file).startswith(_KEPT_PREFIXES):
        return None
    with contextlib.suppress(OSError, ValueError):
        return Path(file).resolve()
    return None


def purge_modules(directories: Collection[Path]) -> list[str]:
    """Remove from `sys.modules` every module whose file is under one of `directories` (never
    `__main__`, poller's own, the standard library's or an installed package's), so the next
    import runs the code as it is now. Returns the names removed, sorted."""
    if not directories:
        return []
    purged = []
    for name, module in sys.modules.copy().items():  # atomic: other threads import
        path = _module_path(module) if name != "__main__" else None
        if path is not None and _within(path, directories) and not _within(path, _KEPT_ROOTS):
            del sys.modules[name]
            purged.append(name)
    importlib.invalidate_caches()  # directory listings cached by the path finders
    return sorted(purged)


def forget_bytecode(paths: Iterable[Path]) -> None:
    """Delete the cached bytecode of changed `.py` files.

    A `.pyc` is checked against its source's mtime in whole seconds and its size, so a file
    rewritten within a second of its last import with the same size (`VERSION = 1` made
    `VERSION = 2`) would otherwise be imported as it was, in this process and in new workers.
    """
    for path in paths:
        if path.suffix != ".py":
            continue
        # cache_from_source raises NotImplementedError when the interpreter writes no bytecode
        # cache (sys.implementation.cache_tag is None), ValueError for an odd path; a .pyc that
        # cannot be removed (OSError) stays, and the import judges it by mtime and size as usual.
        with contextlib.suppress(OSError, ValueError, NotImplementedError):
            Path(importlib.util.cache_from_source(str(path))).unlink(missing_ok=True)


def _import_error(handler: Handler, exc: BaseException) -> str:
    """An import fault in the runtime's words, without load_handler's config path prefix."""
    if isinstance(exc, StartupError):
        return str(exc).removeprefix(f"functions.{handler.name}.handler: ")
    module, _ = handler.function.module_and_attr
    return f"Runtime.ImportModuleError: Unable to import module '{module}': {exc!r}"


async def _reload_one(handler: Handler) -> str | None:
    target = handler.invoker
    if isinstance(target, LimitedInvoker):
        target = target.inner
    if isinstance(target, ProcessInvoker):
        error = await target.reload()
        return None if error is None else f"{error.error_type}: {error.error_message}"
    if isinstance(target, PythonInvoker):
        try:
            # In a thread: a module's import may take a while, and the mappings run on.
            fresh = await anyio.to_thread.run_sync(
                load_handler, handler.name, handler.function, handler.base_dir
            )
        except (Exception, SystemExit) as exc:  # SystemExit: a module calling sys.exit()
            return _import_error(handler, exc)
        target.swap(fresh)
    return None


@dataclass(frozen=True, slots=True)
class Reloaded:
    """One function's reload: `error` is None when its new code serves, else the runtime's
    error text (`Runtime.ImportModuleError: ...`) and its old code serves on."""

    name: str
    error: str | None
    seconds: float  # from the start of the batch until this function's outcome


async def reload_handlers(handlers: Sequence[Handler], changed: Collection[Path]) -> list[Reloaded]:
    """Reload each handler's code after `changed` (absolute paths) were written, in order.

    The modules under the in-process handlers' code directories are purged once for the whole
    batch, then each handler is imported again: handlers sharing a module all get the one fresh
    module. In-process imports run one after another on the event loop's thread, as the
    start-up import does; worker pools start their new workers concurrently. A failed reload
    changes nothing for its function; calling again tries again. Never raises for what the
    handler's code does.
    """
    started = time.monotonic()
    forget_bytecode(changed)
    purge_modules({h.code_dir for h in handlers if h.in_process})
    done: dict[str, Reloaded] = {}

    async def reload(handler: Handler) -> None:
        error = await _reload_one(handler)
        done[handler.name] = Reloaded(handler.name, error, time.monotonic() - started)

    async with anyio.create_task_group() as group:
        for handler in handlers:
            if handler.in_process:
                await reload(handler)
            else:
                group.start_soon(reload, handler)
    return [done[handler.name] for handler in handlers]
