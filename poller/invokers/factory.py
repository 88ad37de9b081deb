"""Build each function's invoker from its target, under the daemon's concurrency limits."""

from __future__ import annotations

import os
from contextlib import AsyncExitStack
from pathlib import Path

from poller.aws import Aws
from poller.config.settings import FunctionConfig
from poller.invokers import Invoker
from poller.invokers.http import HttpInvoker
from poller.invokers.lambda_ import LambdaInvoker
from poller.invokers.limits import ConcurrencyGate
from poller.invokers.process import ProcessInvoker
from poller.invokers.python import PythonInvoker, function_identity, load_handler


def process_workers(function: FunctionConfig) -> int:
    """Worker processes for `isolation: process`: the reserved concurrency, else one per CPU."""
    return max(function.reserved_concurrency or os.cpu_count() or 2, 1)


async def open_invoker(
    name: str,
    function: FunctionConfig,
    base_dir: Path,
    function_arn: str,
    aws: Aws,
    gate: ConcurrencyGate,
    stack: AsyncExitStack,
) -> Invoker:
    """Start the function's target (closed with `stack`) and wrap it in the limits.

    Raises StartupError when a handler cannot be imported.
    """
    inner: Invoker
    if function.handler and function.isolation == "process":
        process = ProcessInvoker(
            name,
            function,
            base_dir,
            function_arn,
            workers=process_workers(function),
            region=aws.region,
        )
        await process.start()
        stack.push_async_callback(process.close)
        inner = process
    elif function.handler:
        # In-process handlers share the daemon's environment (rules refuse conflicts).
        os.environ.update(function.environment)
        handler = load_handler(name, function, base_dir)
        inner = PythonInvoker(handler, function_identity(name, function, function_arn), function)
    elif function.url:
        http = HttpInvoker(name, function.url, function.timeout)
        stack.push_async_callback(http.close)
        inner = http
    else:
        assert function.function_name is not None
        remote = LambdaInvoker(
            function.function_name, aws, function.qualifier, timeout=function.timeout
        )
        await remote.start()
        stack.push_async_callback(remote.close)
        inner = remote
    return gate.limit(inner, function.reserved_concurrency)
