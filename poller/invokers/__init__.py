"""Handler targets. Every target implements `Invoker`; the mapping never knows which it has."""

from __future__ import annotations

from typing import Any, Protocol

from poller.model import InvokeResult


class Invoker(Protocol):
    """Invokes a function synchronously with one event, as Lambda's RequestResponse invoke does.

    Never raises for function errors: they come back in `InvokeResult.error`. Raises only for
    faults where the event never reached the function: `InvokeError` (or `Throttled`).
    """

    function_name: str

    async def invoke(self, event: dict[str, Any], request_id: str) -> InvokeResult: ...
