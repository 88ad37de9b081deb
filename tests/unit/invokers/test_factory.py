"""invokers.factory: the one table from a function's kind of target to its invoker."""

from __future__ import annotations

from typing import Any

import pytest

from poller.config.settings import FunctionConfig
from poller.invokers.factory import TARGETS, target_kind


@pytest.mark.parametrize(
    ("function", "kind"),
    [
        pytest.param({"handler": "app:handler"}, "thread", id="handler"),
        pytest.param({"handler": "app:handler", "isolation": "thread"}, "thread", id="thread"),
        pytest.param({"handler": "app:handler", "isolation": "process"}, "process", id="process"),
        pytest.param({"url": "http://127.0.0.1:9000/invoke"}, "url", id="url"),
        pytest.param({"function_name": "orders-prod"}, "function_name", id="lambda"),
        pytest.param(
            {"function_name": "orders-prod", "qualifier": "live"}, "function_name", id="qualified"
        ),
    ],
)
def test_every_target_has_one_kind_and_one_invoker(function: dict[str, Any], kind: str) -> None:
    config = FunctionConfig.model_validate(function)
    assert target_kind(config) == kind
    assert kind in TARGETS


def test_the_table_holds_nothing_else() -> None:
    assert set(TARGETS) == {"thread", "process", "url", "function_name"}
