"""Handlers that test_process_invoker runs in worker processes (imported there by name)."""

from __future__ import annotations

import asyncio
import decimal
import os
import signal
import time
from typing import Any

from poller.invokers.context import LambdaContext

_loops: list[int] = []


def echo(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return {
        "event": event,
        "pid": os.getpid(),
        "aws_request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }


def environment(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return {"env": dict(os.environ), "cwd": os.getcwd(), "tzname": list(time.tzname)}


def raises(event: dict[str, Any], context: LambdaContext) -> Any:
    raise ValueError(f"bad record {event['id']}")


def unserialisable(event: dict[str, Any], context: LambdaContext) -> Any:
    return {1, 2}


class _Raising(dict[str, Any]):
    """A mapping json.dumps cannot read: its items() raises `error`."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(key="value")  # json.dumps writes an empty one without items()
        self.error = error

    def items(self) -> Any:
        raise self.error


def returns(event: dict[str, Any], context: LambdaContext) -> Any:
    """A return value that is hard to marshal, picked by event["value"]."""
    match event["value"]:
        case "decimal-30-digits":
            return {"n": decimal.Decimal("123456789012345678901234567890")}
        case "decimal-infinity":
            return {"n": decimal.Decimal("Infinity")}
        case "nested-too-deeply":
            value: list[Any] = []
            for _ in range(5000):
                value = [value]
            return value
        case "items-raise":
            return _Raising(RuntimeError("items() failed"))
        case "items-memory-error":
            return _Raising(MemoryError())
    raise ValueError(event["value"])


def sleep(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    started = time.time()
    time.sleep(event["seconds"])
    return {"pid": os.getpid(), "started": started, "ended": time.time()}


def allocate(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    block = bytearray(event["mb"] * 2**20)
    return {"pid": os.getpid(), "bytes": len(block)}


def crash(event: dict[str, Any], context: LambdaContext) -> Any:
    if event["how"] is None:
        return {"pid": os.getpid()}
    if event["how"] == "exit":
        os._exit(1)
    os.kill(os.getpid(), signal.Signals[event["how"]])
    time.sleep(5)


async def async_echo(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    await asyncio.sleep(0.01)
    _loops.append(id(asyncio.get_running_loop()))
    return {"event": event, "request_id": context.aws_request_id, "loops": len(set(_loops))}
