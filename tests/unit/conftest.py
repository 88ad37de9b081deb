"""Shared fixtures for the unit tests: pure functions and in-process handlers, no network."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Run `pytest.mark.anyio` tests on asyncio only: poller's AWS clients are asyncio-only."""
    return "asyncio"
