"""Shared fixtures for the unit tests: pure functions, in-process handlers and worker processes,
and (invoker tests) HTTP servers on 127.0.0.1 — never an AWS endpoint."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Run `pytest.mark.anyio` tests on asyncio only: poller's AWS clients are asyncio-only."""
    return "asyncio"
