"""SQS concurrency scales as Lambda's does (reference §3.1): 5 pollers to start, one more at most
every 0.2 s while receives come back full, capped by MaximumConcurrency, and back toward the
floor as long polls come back empty."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import itest_handlers
import pytest
from sqs_support import config_yaml, depth, make_queue, metric, running, send, unique, wait_for

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
CAP = 8
MAX_MESSAGES = 3000  # the backlog never grows past this, cap reached or not


async def test_pollers_grow_to_the_cap_under_a_backlog_and_shrink_when_idle(
    endpoint: str, sqs: Any
) -> None:
    queue = unique("scaling")
    url = make_queue(sqs, queue)
    # Keep a backlog while the pollers grow: produce alongside, until they reach the cap (moto
    # slows as a queue deepens; a fast server drains a fixed backlog before they can grow).
    grown = threading.Event()
    sent: list[str] = []

    def produce() -> None:
        while not grown.is_set() and len(sent) < MAX_MESSAGES:
            bodies = [f"m{len(sent) + i}" for i in range(10)]
            send(sqs, url, bodies)
            sent.extend(bodies)

    producer = threading.Thread(target=produce)
    extra = f"scaling_config: {{maximum_concurrency: {CAP}}}\n"
    pollers: list[float] = []
    executing: list[float] = []
    async with running(config_yaml(endpoint, queue, extra_mapping=extra)) as daemon:
        labels = {"mapping": f"fn-{queue}", "function": "fn"}
        await wait_for(lambda: metric(daemon, "poller_sqs_pollers", **labels) == 5)  # the start
        producer.start()
        with anyio.move_on_after(90):
            while depth(sqs, url) or producer.is_alive():
                pollers.append(metric(daemon, "poller_sqs_pollers", **labels))
                executing.append(metric(daemon, "poller_concurrent_executions", **labels))
                if pollers[-1] >= CAP:
                    grown.set()
                await anyio.sleep(0.05)
        grown.set()
        producer.join()
        assert depth(sqs, url) == 0
        # Idle: every empty 20 s long poll takes one poller away, down to the floor.
        await wait_for(lambda: metric(daemon, "poller_sqs_pollers", **labels) == 5, timeout=45)
    assert max(pollers) == CAP
    assert max(executing) <= CAP
    handled = [r["body"] for r in itest_handlers.records()]
    assert set(handled) == set(sent)
    assert len(handled) - len(sent) <= len(sent) // 100  # moto's concurrent-receive repeats
