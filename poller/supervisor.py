"""The running mappings, and what a reload (SIGHUP) changes about them.

Each mapping runs under its own child lifecycle, so one mapping can be stopped (its intake
cancelled, its in-flight batches drained and settled) while the others go on. A reload keeps
every mapping whose configuration (and function) is unchanged running untouched, stops the
removed and changed ones, and starts the new and changed ones once their old instance is done —
so a stream restarts from its checkpoint and no shard is read twice at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import anyio
import structlog

from poller.arns import Arn
from poller.config.models import (
    MappingConfig,
    PollerConfig,
    SqsMappingConfig,
    StreamMappingConfig,
)
from poller.config.settings import FunctionConfig
from poller.errors import StartupError
from poller.invokers import Invoker
from poller.invokers.factory import Target, open_invoker
from poller.invokers.limits import ConcurrencyGate
from poller.invokers.reloading import Handler
from poller.lifecycle import Lifecycle
from poller.roles import assume_role
from poller.runtime import Runtime
from poller.sqs.mapping import SqsMapping
from poller.state.base import CheckpointStore
from poller.streams.mapping import StreamMapping

log = structlog.get_logger("poller.supervisor")
Mapping = SqsMapping | StreamMapping
# Sections a reload cannot change in a running daemon: they need a restart.
FIXED_SECTIONS = (
    "aws",
    "embedded",
    "http",
    "logging",
    "state",
    "concurrency_limit",
    "shutdown_receives",
)


@dataclass(eq=False)
class _Running:
    config: MappingConfig
    function: FunctionConfig
    mapping: Mapping
    lifecycle: Lifecycle
    target: _Target
    done: anyio.Event = field(default_factory=anyio.Event)
    # Started with the daemon: a StartupError then ends the daemon (exit 2). One started later
    # (reload, enable) fails alone, and the rest run on.
    at_start: bool = False


@dataclass(eq=False)
class _Target:
    """One configuration of a function: its invoker, runtime, and what closes its target."""

    function_name: str
    function: FunctionConfig
    invoker: Invoker
    runtime: Runtime
    stack: AsyncExitStack


class Supervisor:
    """Builds mappings and their functions' targets; runs them in the daemon's task group."""

    def __init__(
        self,
        base_dir: Path,
        runtime: Runtime,
        store: Callable[[], Awaitable[CheckpointStore]],
        stack: AsyncExitStack,
        concurrency_limit: int,
    ) -> None:
        """`store` opens the checkpoint store (once) when the first stream mapping is built."""
        self._base_dir = base_dir
        self._runtime = runtime
        self._store = store
        self._stack = stack
        self._gate = ConcurrencyGate(concurrency_limit)
        self._functions: dict[str, _Target] = {}
        self.running: dict[str, _Running] = {}
        self.disabled: set[str] = set()  # display names disabled at runtime (Lambda's Enabled)
        self.failed: set[str] = set()  # display names started after start-up that could not start
        self._group: Any = None

    async def prepare(self, config: PollerConfig) -> list[_Running]:
        """Open every target the enabled mappings use and build the mappings (not started).

        Raises StartupError when a handler cannot be imported or a role cannot be assumed.
        """
        prepared = []
        for index, mapping in enumerate(config.mappings):
            if not mapping.enabled:
                log.info("mapping_disabled", mapping=mapping.display_name)
                continue
            prepared.append(await self._build(index, mapping, config))
        return prepared

    def start(self, group: Any, entries: list[_Running]) -> None:
        self._group = group
        for entry in entries:
            entry.at_start = True
            self._launch(entry)

    async def reload(self, old: PollerConfig, new: PollerConfig) -> None:
        """Apply `new`: restart what changed, keep what did not. Sections in FIXED_SECTIONS
        are left as they are (logged: they need a restart).

        Every new and changed mapping is built (handler imported, role assumed) before anything
        is stopped: if one cannot be built the error is raised and everything runs on as it was.
        """
        fixed = [s for s in FIXED_SECTIONS if getattr(old, s) != getattr(new, s)]
        if fixed:
            log.warning("reload_needs_restart", sections=fixed)
        wanted = {m.mapping_uuid: (i, m) for i, m in enumerate(new.mappings) if m.enabled}
        kept: list[str] = []
        previous: dict[str, _Running] = {}
        for key, entry in self.running.items():
            match = wanted.get(key)
            same = (
                match is not None
                and match[1] == entry.config
                and (new.functions.get(match[1].function) == entry.function)
            )
            if same:
                kept.append(entry.mapping.name)
            else:
                previous[key] = entry
        built = [
            (key, await self._build(index, mapping, new))
            for key, (index, mapping) in wanted.items()
            if key not in self.running or key in previous
        ]
        self.disabled.clear()  # the file decides again what runs
        self._clear_failed()  # and what failed to start is tried again
        for entry in previous.values():
            entry.lifecycle.stop()  # drains in the background; `done` tells when it is over
        for key, entry in built:
            self._group.start_soon(self._after, previous.get(key), entry)
        log.info(
            "reloaded",
            kept=kept,
            stopped=[e.mapping.name for e in previous.values()],
            started=[e.mapping.name for _, e in built],
        )

    async def set_enabled(self, config: PollerConfig, name: str, enabled: bool) -> bool:
        """Disable (stop; a stream keeps its checkpoint) or enable (start again) the mapping
        named `name`, as UpdateEventSourceMapping's Enabled does. False if no such mapping."""
        found = [(i, m) for i, m in enumerate(config.mappings) if m.display_name == name]
        if not found:
            return False
        index, mapping = found[0]
        entry = self.running.get(mapping.mapping_uuid)
        if not enabled:
            self._clear_failed(name)
            self.disabled.add(name)
            if entry is not None:
                entry.lifecycle.stop()
            log.info("mapping_disabled", mapping=name, by="control")
            return True
        if entry is None or entry.lifecycle.stopping.is_set():
            fresh = await self._build(index, mapping, config)  # raises: nothing changed
            self._group.start_soon(self._after, entry, fresh)
        self._clear_failed(name)
        self.disabled.discard(name)
        log.info("mapping_enabled", mapping=name, by="control")
        return True

    def handlers(self) -> list[Handler]:
        """The current target of each function with a `handler` that a running mapping names
        (after a reload that changed the function, its new target), for `--watch`."""
        used = {entry.target.function_name for entry in self.running.values()}
        return [
            Handler(name, target.function, target.invoker, self._base_dir)
            for name, target in self._functions.items()
            if name in used and target.function.handler
        ]

    async def _after(self, old: _Running | None, entry: _Running) -> None:
        if old is not None:
            await old.done.wait()
        self._launch(entry)

    def _launch(self, entry: _Running) -> None:
        self.running[entry.config.mapping_uuid] = entry
        self._group.start_soon(self._run, entry)

    async def _run(self, entry: _Running) -> None:
        name = entry.mapping.name
        failure = ""
        try:
            await entry.mapping.run()
        except StartupError as exc:
            if entry.at_start:
                raise
            # Like a CreateEventSourceMapping that AWS refuses: this mapping does not run, the
            # others do. It stays not ready (/readyz 503) until a reload or enable tries again.
            failure = str(exc)
            self._runtime.status.error(name, failure)
            self.failed.add(name)
        finally:
            entry.done.set()
            if self.running.get(entry.config.mapping_uuid) is entry:
                del self.running[entry.config.mapping_uuid]
            if name in self.failed:
                self._runtime.readiness.set(name, False)
            else:
                self._runtime.readiness.forget(name)
            self._runtime.lifecycle.forget(entry.lifecycle)
            if failure:
                log.error("mapping_failed", mapping=name, error=failure)
            await self._retire(entry.target)

    def _clear_failed(self, name: str | None = None) -> None:
        """Forget that `name` (default: every mapping) failed to start, and its unreadiness."""
        cleared = set(self.failed) if name is None else self.failed & {name}
        self.failed -= cleared
        for failed in cleared:
            self._runtime.readiness.forget(failed)

    async def _retire(self, target: _Target) -> None:
        """Close a function's old target (worker processes, HTTP pools) once a reload replaced
        its configuration and no running mapping uses it any more."""
        current = self._functions.get(target.function_name)
        if current is target or any(e.target is target for e in self.running.values()):
            return
        with anyio.CancelScope(shield=True):
            await target.stack.aclose()
        log.info("function_target_closed", function=target.function_name)

    async def _build(self, index: int, mapping: MappingConfig, config: PollerConfig) -> _Running:
        name = mapping.function
        function = config.functions[name]
        target = await self._function(name, function, mapping)
        lifecycle = self._runtime.lifecycle.child()
        runtime = replace(target.runtime, lifecycle=lifecycle)
        path = f"mappings[{index}]"
        qualifier = mapping.function_qualifier
        if qualifier is not None and qualifier != function.qualifier:
            # poller runs one version of each function: the one its config describes.
            log.warning(
                "function_qualifier_ignored",
                mapping=mapping.display_name,
                qualifier=qualifier,
                runs=function.qualifier or "$LATEST",
            )
        builder = _BUILDERS[type(mapping)]
        built = await builder(self, mapping, path, function, target.invoker, runtime)
        return _Running(mapping, function, built, lifecycle, target)

    async def _sqs(
        self,
        config: SqsMappingConfig,
        path: str,
        function: FunctionConfig,
        invoker: Invoker,
        runtime: Runtime,
    ) -> Mapping:
        return SqsMapping(config, path, function, invoker, runtime)

    async def _stream(
        self,
        config: StreamMappingConfig,
        path: str,
        function: FunctionConfig,
        invoker: Invoker,
        runtime: Runtime,
    ) -> Mapping:
        """A stream mapping, with the checkpoint store (opened by the first one built)."""
        return StreamMapping(config, path, function, invoker, runtime, await self._store())

    async def _function(
        self, name: str, function: FunctionConfig, mapping: MappingConfig
    ) -> _Target:
        """The function's target (invoker, runtime with its role's credentials), opened once
        per function configuration; a changed function gets a new target."""
        known = self._functions.get(name)
        if known is not None and known.function == function:
            return known
        arn = Arn.parse(mapping.event_source_arn).function_arn(name)
        aws = self._runtime.aws
        stack = AsyncExitStack()
        self._stack.push_async_callback(stack.aclose)  # closed at exit unless retired before
        invoker = await open_invoker(
            Target(name, function, self._base_dir, arn, aws, stack), self._gate
        )
        runtime = self._runtime
        if function.role:
            runtime = replace(runtime, aws=await assume_role(aws, function.role, name))
            log.info("role_assumed", function=name, role=function.role)
        target = _Target(name, function, invoker, runtime, stack)
        self._functions[name] = target
        if known is not None:
            await self._retire(known)
        return target


# The one table from a mapping's kind (its config model) to what runs it.
_BUILDERS: dict[type[MappingConfig], Callable[..., Awaitable[Mapping]]] = {
    SqsMappingConfig: Supervisor._sqs,
    StreamMappingConfig: Supervisor._stream,
}
