"""A Lambda handler that does nothing: the benchmark measures delivery, not work."""

from __future__ import annotations

from typing import Any


def handler(event: dict[str, Any], context: Any) -> None:
    """Accept an SQS event and return at once (a successful, empty response)."""
    return None
