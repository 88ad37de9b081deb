"""`poller demo` end to end, and the packaged poller/demo/demo.yaml it runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqs_support import MOTO_REPEATS

from poller.config.loader import load_config
from poller.demo.main import demo_config
from poller.demo.traffic import (
    CLICK_USERS,
    CLICKS,
    INVENTORY_WRITES,
    MESSAGES,
    POISON_EVERY,
    count_text,
    event_counts,
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_demo_yaml_in_the_tree_is_the_config_the_demo_runs() -> None:
    assert load_config(REPO / "poller" / "demo" / "demo.yaml", {}) == demo_config()


def figure(name: str, text: str) -> int:
    match = re.search(rf"{name}\s+(\d+)", text)
    assert match is not None, text
    return int(match[1])


@pytest.mark.timeout(120)
def test_demo_settles_every_message_click_and_inventory_change(tmp_path: Path) -> None:
    # Run from an empty directory: the demo needs nothing from the tree and leaves nothing
    # behind (with the embedded endpoint the daemon keeps checkpoints in a temporary directory).
    result = subprocess.run(
        [sys.executable, "-m", "poller", "demo"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    summary = output[output.index("Summary after") :]
    orders, rest = summary.split("Kinesis stream demo-clicks")
    clicks, inventory = rest.split("DynamoDB table demo-inventory")
    poison = MESSAGES // POISON_EVERY
    assert figure("in DLQ", orders) == poison, summary
    # moto, like SQS, may hand a message to two receivers at once: both handle and delete it,
    # both deletes count, and the story says so.
    twice = figure("handled OK", orders) - (MESSAGES - poison)
    assert 0 <= twice <= MOTO_REPEATS, summary
    assert ("handled and deleted twice" in " ".join(summary.split())) == (twice > 0), summary

    assert clicks.startswith(" -> clicks (2 shards, 2 lanes each)"), summary
    assert figure("put", clicks) == CLICKS, summary
    assert figure("delivered", clicks) == CLICKS, summary
    assert f"the handler counted {CLICKS} clicks from {CLICK_USERS} users" in clicks, summary
    assert re.search(r"max age\s+\d+\.\d s", clicks), summary

    changes = count_text(event_counts(INVENTORY_WRITES))
    assert inventory.startswith(" -> inventory (1 shard)"), summary
    assert figure("changed", inventory) == len(INVENTORY_WRITES), summary
    assert figure("delivered", inventory) == len(INVENTORY_WRITES), summary
    assert f"the handler counted {changes})" in inventory, summary
    assert "Every click and every inventory change was delivered." in " ".join(summary.split())
    assert "Not settled" not in summary
    assert list(tmp_path.iterdir()) == []
