"""examples/orders.py, the handler config/poller.example.yaml runs: Lambda's partial batch
responses for each source, built from the events poller delivers."""

from __future__ import annotations

import base64
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_orders", EXAMPLES / "orders.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sqs(message_id: str, body: str) -> dict[str, Any]:
    return {"messageId": message_id, "body": body, "eventSource": "aws:sqs"}


def kinesis(sequence: str, data: str) -> dict[str, Any]:
    encoded = base64.b64encode(data.encode()).decode()
    return {"kinesis": {"sequenceNumber": sequence, "data": encoded}, "eventSource": "aws:kinesis"}


GOOD = json.dumps({"id": "o-1", "quantity": 2})


@pytest.mark.parametrize(
    ("records", "failed"),
    [
        pytest.param([sqs("m1", GOOD), sqs("m2", GOOD)], [], id="sqs-all-good"),
        pytest.param([sqs("m1", GOOD), sqs("m2", "not json")], ["m2"], id="sqs-not-json"),
        pytest.param([sqs("m1", '{"id": "o"}')], ["m1"], id="sqs-no-quantity"),
        pytest.param([sqs("m1", '{"quantity": 0}')], ["m1"], id="sqs-zero-quantity"),
        pytest.param([sqs("m1", "[1]")], ["m1"], id="sqs-not-an-object"),
        pytest.param([kinesis("49", GOOD), kinesis("50", "{")], ["50"], id="kinesis"),
        pytest.param([], [], id="empty"),
    ],
)
def test_bad_orders_are_reported_as_batch_item_failures(
    records: list[dict[str, Any]], failed: list[str]
) -> None:
    response = _load().handler({"Records": records}, None)
    assert response == {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}


SAM_ORDERS = EXAMPLES / "sam-orders"


def test_the_sam_example_validates_and_names_what_it_runs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from poller.cli import main

    argv = ["-c", str(SAM_ORDERS / "local.yaml"), "--template", str(SAM_ORDERS / "template.yaml")]
    assert main(["validate", *argv]) == 0
    assert "OK (1 functions, 1 mappings)" in capsys.readouterr().out
    assert main(["config", *argv, "--parameter-overrides", "Stage=prod"]) == 0
    printed = capsys.readouterr().out
    assert "EventSourceArn: arn:aws:sqs:us-east-1:123456789012:orders-prod" in printed
    assert "STAGE: prod" in printed


def test_the_sam_example_handler_rejects_what_it_cannot_take(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STAGE", "test")
    spec = importlib.util.spec_from_file_location("sam_orders", SAM_ORDERS / "src" / "orders.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    records = [sqs("m1", GOOD), sqs("m2", '{"id": "o", "quantity": 0}'), sqs("m3", "nope")]
    assert module.handler({"Records": records}, None) == {
        "batchItemFailures": [{"itemIdentifier": "m2"}, {"itemIdentifier": "m3"}]
    }
