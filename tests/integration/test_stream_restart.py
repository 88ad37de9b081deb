"""SIGKILL mid-stream, then restart: resume after the checkpoint, skip nothing, and redeliver
only what was in flight at the kill."""

from __future__ import annotations

import signal
import subprocess
from collections import defaultdict
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqs_support import json_lines, logged_port, scrape, start_poller, stop_poller, unique, until
from stream_support import make_stream, put, read_past, stream_config

pytestmark = pytest.mark.integration


def _start(config: Path, log: Path, output: Path | None = None) -> subprocess.Popen[bytes]:
    """poller run, its handler logging each batch to `log`, slowly enough to be killed
    mid-stream; its own log (JSON lines) goes to `output`."""
    return start_poller(config, output, POLLER_TEST_LOG=str(log), POLLER_TEST_SLEEP="0.03")


def _batches(log: Path) -> list[dict[str, Any]]:
    return json_lines(log)


def test_sigkill_then_restart_resumes_after_the_checkpoint(
    endpoint: str, kinesis: Any, tmp_path: Path
) -> None:
    name = unique("s")
    arn = make_stream(kinesis, name, shards=2)
    total = 600
    put(kinesis, name, [(f"k{i % 13}", f"r-{i}") for i in range(total)])
    config = tmp_path / "poller.yaml"
    config.write_text(
        stream_config(endpoint, arn, tmp_path / "state.db", "batch_size: 10\n").replace(
            "itest_handlers:handler", "file_handlers:handler"
        )
    )
    first_log, second_log = tmp_path / "first.jsonl", tmp_path / "second.jsonl"

    proc = _start(config, first_log, tmp_path / "first.log")
    try:
        until(lambda: sum(len(b["data"]) for b in _batches(first_log)) >= total // 3, 60)
    finally:
        stop_poller(proc, 10, sig=signal.SIGKILL)
    before = _batches(first_log)
    assert sum(len(b["data"]) for b in before) < total  # really killed mid-stream

    output = tmp_path / "second.log"
    proc = _start(config, second_log, output)
    try:
        until(
            lambda: (
                {d for b in before + _batches(second_log) for d in b["data"]}
                >= {f"r-{i}" for i in range(total)}
            ),
            90,
        )
        # Anything redelivered beyond the in-flight batches has shown up once each shard has
        # been read again and all that was read has reached the handler.
        port = logged_port(output)
        assert port is not None, output.read_text()
        until(
            read_past(
                partial(scrape, port),
                lambda: sum(len(b["data"]) for b in _batches(second_log)),
            ),
            30,
        )
    finally:
        code = stop_poller(proc)
    assert code == 0
    after = _batches(second_log)

    # Nothing skipped.
    assert {d for b in before + after for d in b["data"]} == {f"r-{i}" for i in range(total)}
    # Duplicates only from the batch each shard had in flight at the kill (its last one).
    last_batch: dict[str, set[str]] = {}
    for batch in before:
        last_batch[batch["ids"][0].split(":")[0]] = set(batch["ids"])
    redelivered = {i for b in after for i in b["ids"]} & {i for b in before for i in b["ids"]}
    in_flight = set().union(*last_batch.values())
    assert redelivered <= in_flight, sorted(redelivered - in_flight)[:5]
    # And the restart resumed each shard exactly after its checkpoint: in shard order.
    per_shard: dict[str, list[int]] = defaultdict(list)
    for batch in after:
        for event_id in batch["ids"]:
            shard, sequence = event_id.split(":")
            per_shard[shard].append(int(sequence))
    for sequences in per_shard.values():
        assert sequences == sorted(sequences)
