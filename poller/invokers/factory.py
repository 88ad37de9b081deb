"""Build each function's invoker from its target, under the daemon's concurrency limits."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

from poller.aws import Aws
from poller.config.settings import FunctionConfig
from poller.invokers import Invoker
from poller.invokers.http import HttpInvoker
from poller.invokers.lambda_ import LambdaInvoker
from poller.invokers.limits import ConcurrencyGate
from poller.invokers.process import ProcessInvoker
from poller.invokers.python import PythonInvoker, function_identity, load_handler


@dataclass(frozen=True, slots=True)
class Target:
    """One function's target to start: its config, where its code is, and what closes it."""

    name: str
    function: FunctionConfig
    base_dir: Path
    function_arn: str
    aws: Aws
    stack: AsyncExitStack


def process_workers(function: FunctionConfig) -> int:
    """Worker processes for `isolation: process`: the reserved concurrency, else one per CPU."""
    return max(function.reserved_concurrency or os.cpu_count() or 2, 1)


async def _process(target: Target) -> Invoker:
    """`isolation: process`: a pool of worker processes (the first started now)."""
    process = ProcessInvoker(
        target.name,
        target.function,
        target.base_dir,
        target.function_arn,
        workers=process_workers(target.function),
        region=target.aws.region,
    )
    await process.start()
    target.stack.push_async_callback(process.close)
    return process


async def _thread(target: Target) -> Invoker:
    """A handler in poller's own process: plain functions in threads, coroutines awaited."""
    function = target.function
    # In-process handlers share the daemon's environment (rules refuse conflicts).
    os.environ.update(function.environment)
    handler = load_handler(target.name, function, target.base_dir)
    identity = function_identity(target.name, function, target.function_arn)
    return PythonInvoker(handler, identity, function)


async def _http(target: Target) -> Invoker:
    """`url`: an HTTP endpoint such as the Lambda Runtime Interface Emulator's."""
    assert target.function.url is not None
    http = HttpInvoker(target.name, target.function.url, target.function.timeout)
    target.stack.push_async_callback(http.close)
    return http


async def _lambda(target: Target) -> Invoker:
    """`function_name`: Lambda's Invoke API."""
    function = target.function
    assert function.function_name is not None
    remote = LambdaInvoker(
        function.function_name, target.aws, function.qualifier, timeout=function.timeout
    )
    await remote.start()
    target.stack.push_async_callback(remote.close)
    return remote


# The one table from a function's kind of target to the invoker that runs it.
TARGETS: Mapping[str, Callable[[Target], Awaitable[Invoker]]] = {
    "process": _process,
    "thread": _thread,
    "url": _http,
    "function_name": _lambda,
}


def target_kind(function: FunctionConfig) -> str:
    """The function's key in TARGETS: a handler's isolation, else url or function_name."""
    return function.isolation if function.handler else function.target


async def open_invoker(target: Target, gate: ConcurrencyGate) -> Invoker:
    """Start the function's target (closed with `target.stack`) and wrap it in the limits.

    Raises StartupError when a handler cannot be imported.
    """
    inner = await TARGETS[target_kind(target.function)](target)
    return gate.limit(inner, target.function.reserved_concurrency)
