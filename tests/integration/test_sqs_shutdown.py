"""What a stop does with the SQS long polls in flight (`shutdown_receives`).

SQS cannot call back a long poll: a request the client gave up on still takes messages that
arrive before its wait ends, and hides them for their visibility timeout. `finish` waits for the
polls and handles what they bring; `cancel` stops at once and leaves that to the queue.
"""

from __future__ import annotations

import os
from typing import Any

import anyio
import itest_handlers
import pytest
from sqs_support import (
    HERE,
    MOTO_REPEATS,
    config_yaml,
    make_queue,
    metric,
    repeats,
    send,
    unique,
    wait_for,
)

from poller.config.loader import parse_config
from poller.daemon import Daemon
from poller.telemetry.metrics import Metrics

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
MESSAGES = 50


def _counts(sqs: Any, url: str) -> tuple[int, int]:
    """(visible, in flight) messages of the queue."""
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


async def _stop_then_send(endpoint: str, sqs: Any, mode: str) -> tuple[Daemon, str, list[str]]:
    """Start a daemon on an empty queue, let its pollers sit in their long polls, stop it, and
    send messages while those polls are still open on the server. Returns once it has exited."""
    queue = unique(f"stop-{mode}")
    url = make_queue(sqs, queue, visibility=120)
    text = config_yaml(endpoint, queue, shutdown_timeout=30, shutdown_receives=mode)
    daemon = Daemon(parse_config(text, os.environ), HERE, metrics=Metrics())
    bodies = [f"m{i}" for i in range(MESSAGES)]
    async with anyio.create_task_group() as tg:
        await tg.start(daemon.run)
        receives = {"operation": "ReceiveMessage"}
        await wait_for(lambda: metric(daemon, "poller_sqs_pollers") >= 5)
        await wait_for(lambda: metric(daemon, "poller_aws_api_calls_total", **receives) >= 5)
        await anyio.sleep(0.5)  # every poller is inside a 20 s long poll now
        daemon.stop()
        send(sqs, url, bodies)
    return daemon, url, bodies


async def test_finish_handles_what_the_open_polls_bring_and_hides_nothing(
    endpoint: str, sqs: Any
) -> None:
    daemon, url, bodies = await _stop_then_send(endpoint, sqs, "finish")
    handled = [r["body"] for r in itest_handlers.records()]
    assert handled, "the polls open at the stop returned messages, and they were handled"
    assert repeats(handled) <= MOTO_REPEATS
    assert set(handled) <= set(bodies)
    assert metric(daemon, "poller_deleted_events_total") >= len(set(handled))
    visible, in_flight = _counts(sqs, url)
    assert in_flight == 0, "no message was left with a request nobody reads"
    assert visible == MESSAGES - len(set(handled))
    assert daemon.drained


async def test_cancel_leaves_what_the_abandoned_polls_took_in_flight(
    endpoint: str, sqs: Any
) -> None:
    # The limit `finish` removes, shown on the same scenario: nothing is handled after the
    # stop, nothing is lost, and the messages the dead requests took stay hidden.
    _, url, _ = await _stop_then_send(endpoint, sqs, "cancel")
    assert itest_handlers.records() == []
    visible, in_flight = _counts(sqs, url)
    assert visible + in_flight == MESSAGES
    assert in_flight > 0
