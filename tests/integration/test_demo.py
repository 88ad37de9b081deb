"""`poller demo` end to end, and the packaged poller/demo.yaml it runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from poller.demo import MESSAGES, POISON_EVERY, demo_config
from poller.loader import load_config

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_demo_yaml_in_the_tree_is_the_config_the_demo_runs() -> None:
    assert load_config(REPO / "poller" / "demo.yaml", {}) == demo_config()


@pytest.mark.timeout(120)
def test_demo_settles_every_message() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "poller", "demo"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    summary = output[output.index("Summary after") :]
    handled = re.search(r"handled OK\s+(\d+)", summary)
    in_dlq = re.search(r"in DLQ\s+(\d+)", summary)
    assert handled is not None, summary
    assert in_dlq is not None, summary
    poison = MESSAGES // POISON_EVERY
    assert int(in_dlq[1]) > 0
    assert int(in_dlq[1]) == poison, summary
    assert int(handled[1]) == MESSAGES - poison, summary
