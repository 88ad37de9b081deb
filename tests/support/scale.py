"""How big the reliability suites run: small by default (CI's 2 cores, about 15 minutes for the
whole suite), full size with POLLER_TEST_SCALE=full (RELIABILITY.md quotes those runs)."""

from __future__ import annotations

import os

_SCALE = os.environ.get("POLLER_TEST_SCALE", "ci") or "ci"
if _SCALE not in ("ci", "full"):
    raise RuntimeError(f"POLLER_TEST_SCALE must be 'ci' or 'full', not {_SCALE!r}")

FULL = _SCALE == "full"
NAME = _SCALE


def scaled(ci: int, full: int) -> int:
    """`full` under POLLER_TEST_SCALE=full, else `ci`."""
    return full if FULL else ci


def scaled_seconds(ci: float, full: float) -> float:
    """A duration (a soak's length, a test's timeout) at the current scale."""
    return full if FULL else ci
