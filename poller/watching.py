"""`poller run --watch`: a handler reloads when a file under its code directory changes."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from contextlib import aclosing
from pathlib import Path

import anyio
import structlog
from watchfiles import Change, DefaultFilter, awatch

from poller.invokers.reloading import Handler, reload_handlers
from poller.telemetry.metrics import Metrics

log = structlog.get_logger("poller.watch")

STEP_MS = 50  # a batch of changes is applied once none came for this long (an editor's save)
DEBOUNCE_MS = 400  # or, while changes keep coming, this long after its first one
RECHECK_MS = 1000  # with no change, how often the functions are looked up again (a SIGHUP)
_PATHS_LOGGED = 5


# What a change to reloads for: Python code (sources, .pth files, extension modules). Only
# these: with SAM's `CodeUri: .` the code directory also holds the template, logs and the output
# of `poller config`, and a log written there would otherwise reload the handler at each line.
CODE_SUFFIXES = frozenset({".py", ".pth", ".so", ".pyd"})


class CodeFilter(DefaultFilter):
    """Python code only (CODE_SUFFIXES), less DefaultFilter's ignores (`__pycache__`, `.git`,
    editors' swap files, ...) and poller's own state: the `.poller` directory and SQLite files,
    written at every checkpoint."""

    ignore_dirs = (*DefaultFilter.ignore_dirs, ".poller")
    ignore_entity_patterns = (
        *DefaultFilter.ignore_entity_patterns,
        r"\.db$",
        r"\.db-journal$",
        r"-wal$",
        r"-shm$",
    )

    def __call__(self, change: Change, path: str) -> bool:
        return Path(path).suffix in CODE_SUFFIXES and super().__call__(change, path)


def watch_roots(handlers: Iterable[Handler]) -> frozenset[Path]:
    """The directories to watch: every existing code directory, less those inside another
    (a watch is recursive)."""
    found = {h.code_dir for h in handlers if h.code_dir.is_dir()}
    return frozenset(d for d in found if not any(d != o and d.is_relative_to(o) for o in found))


def affected(
    handlers: Iterable[Handler], changed: Collection[Path]
) -> list[tuple[Handler, list[str]]]:
    """Each handler whose code directory holds a changed path, with those paths relative to
    it, sorted; in the order of `handlers`."""
    plan = []
    for handler in handlers:
        mine = sorted(
            str(path.relative_to(handler.code_dir))
            for path in changed
            if path.is_relative_to(handler.code_dir)
        )
        if mine:
            plan.append((handler, mine))
    return plan


class CodeWatcher:
    """Reloads the handlers whose code changed, for as long as the daemon runs.

    The handlers are looked up at every batch of changes and every RECHECK_MS, so the watch
    follows a reload of the configuration (and mappings stopping or starting): it restarts when
    the set of directories changes. A batch is applied STEP_MS after its last change (at most
    DEBOUNCE_MS after its first). A reload that fails leaves the old code serving (logged as
    `handler_reload_failed`, tried again at the next change); nothing here raises into the
    daemon or stops a mapping. `run` returns within one step of `stopping`, or of its
    cancellation: watchfiles waits in a thread that only its stop event ends.
    """

    def __init__(
        self,
        handlers: Callable[[], Sequence[Handler]],
        stopping: anyio.Event,
        metrics: Metrics,
    ) -> None:
        self._handlers = handlers
        self._stopping = stopping
        self._metrics = metrics

    async def run(self) -> None:
        stop = anyio.Event()
        async with anyio.create_task_group() as group:
            group.start_soon(self._stop_on_stopping, stop)
            while not stop.is_set():
                try:
                    await self._watch(stop)
                except Exception:  # a directory gone mid-watch, inotify's limits: watch again
                    log.exception("watch_failed")
                    with anyio.move_on_after(RECHECK_MS / 1000):
                        await stop.wait()
            group.cancel_scope.cancel()

    async def _stop_on_stopping(self, stop: anyio.Event) -> None:
        try:
            await self._stopping.wait()
        finally:
            stop.set()  # also when cancelled: the watch thread returns, and so does run()

    async def _watch(self, stop: anyio.Event) -> None:
        """Watch the current directories until the set of them changes, or `stop`."""
        handlers = self._handlers()
        roots = watch_roots(handlers)
        for handler in handlers:
            self._metrics.register_reloads(handler.name)
        if not roots:
            with anyio.move_on_after(RECHECK_MS / 1000):
                await stop.wait()
            return
        log.info("watch_started", directories=sorted(str(root) for root in roots))
        batches = awatch(
            *roots,
            watch_filter=CodeFilter(),
            debounce=DEBOUNCE_MS,
            step=STEP_MS,
            stop_event=stop,
            rust_timeout=RECHECK_MS,
            yield_on_timeout=True,
        )
        async with aclosing(batches):
            async for changes in batches:
                if changes:
                    await self._apply({Path(path) for _, path in changes})
                if watch_roots(self._handlers()) != roots:
                    return

    async def _apply(self, changed: set[Path]) -> None:
        """Reload every handler whose code directory holds a changed path; log each outcome."""
        plan = affected(self._handlers(), changed)
        if not plan:
            return
        paths = {handler.name: mine for handler, mine in plan}
        for outcome in await reload_handlers([handler for handler, _ in plan], changed):
            mine = paths[outcome.name]
            fields = {
                "function": outcome.name,
                "paths": mine[:_PATHS_LOGGED],
                "changed": len(mine),
                "seconds": round(outcome.seconds, 3),
            }
            if outcome.error is None:
                self._metrics.handler_reloads.labels(outcome.name, "ok").inc()
                log.info("handler_reloaded", **fields)
            else:
                self._metrics.handler_reloads.labels(outcome.name, "failed").inc()
                log.error("handler_reload_failed", error=outcome.error, **fields)
