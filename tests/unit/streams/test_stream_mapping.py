"""StreamMapping and ShardReader against an in-memory stream with AWS's shard semantics.

moto cannot show these (see docs/testing.md): null iterators at shard end, records going to children
after a split, expired iterators, trimmed data, throughput errors.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from fake_stream import FakeStream, RecordingInvoker, client_error

from poller.aws import Aws
from poller.config.models import StreamMappingConfig
from poller.config.settings import AwsConfig, FunctionConfig
from poller.errors import InvokeError, Throttled
from poller.lifecycle import Lifecycle
from poller.runtime import Runtime
from poller.sources.shards import SHARD_END
from poller.sources.streams import ShardSource
from poller.state.sqlite import SqliteCheckpointStore
from poller.streams.mapping import StreamMapping
from poller.streams.progress import lane_of
from poller.telemetry.http import Readiness
from poller.telemetry.metrics import Metrics

pytestmark = pytest.mark.anyio


class Harness:
    def __init__(
        self,
        stream: FakeStream,
        state: Path,
        store: Callable[[SqliteCheckpointStore], Any] = lambda sqlite: sqlite,
        **fields: Any,
    ) -> None:
        """`store` wraps the SQLite checkpoint store the mapping is given (a slow one, say)."""
        self.stream = stream
        self.invoker = RecordingInvoker()
        self.metrics = Metrics()
        self.state = state
        self._wrap = store
        self.config = StreamMappingConfig.model_validate(
            {
                "function": "fn",
                "event_source_arn": stream.stream_arn,
                "starting_position": "TRIM_HORIZON",
                "shard_refresh_seconds": 0.05,
                **fields,
            }
        )

    async def run_until(self, predicate: Any, timeout: float = 10) -> None:
        """Run the mapping until predicate() holds, then shut it down gracefully."""
        lifecycle = Lifecycle()
        runtime = Runtime(Aws(AwsConfig(), self.metrics), self.metrics, Readiness(), lifecycle)
        store = await SqliteCheckpointStore.open(self.state)

        async def open_fake(*_: Any) -> ShardSource:
            return self.stream

        mapping = StreamMapping(
            self.config,
            "mappings[0]",
            FunctionConfig(handler="m:f"),
            self.invoker,
            runtime,
            self._wrap(store),
            sources={"kinesis": open_fake},
        )
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(mapping.run)
                with anyio.fail_after(timeout):
                    while not predicate():
                        await anyio.sleep(0.01)
                lifecycle.stop()
        finally:
            await store.close()

    async def checkpoints(self) -> dict[str, str]:
        store = await SqliteCheckpointStore.open(self.state)
        try:
            return await store.load(self.config.mapping_uuid)
        finally:
            await store.close()


def _parents_first(invoker: RecordingInvoker, lineage: dict[str, tuple[str, ...]]) -> None:
    def ancestors(shard: str) -> set[str]:
        out: set[str] = set()
        for parent in lineage.get(shard, ()):
            out |= {parent} | ancestors(parent)
        return out

    for key, order in invoker.shards_per_key().items():
        for i, shard in enumerate(order):
            assert not set(order[i + 1 :]) & ancestors(shard), (key, order)


@pytest.mark.parametrize("list_ending", [True, False], ids=["ending-listed", "null-iterator-only"])
async def test_split_then_merge_with_puts_throughout(tmp_path: Path, list_ending: bool) -> None:
    stream = FakeStream(shards=1, list_ending_sequence=list_ending)
    keys = [f"k{i}" for i in range(20)]
    sent: list[str] = []

    def put_round(tag: str) -> None:
        for n, key in enumerate(keys):
            sent.append(f"{tag}-{n}")
            stream.put(key, f"{tag}-{n}")

    put_round("a")
    h = Harness(stream, tmp_path / "s.db", batch_size=3, parallelization_factor=2)
    lineage: dict[str, tuple[str, ...]] = {}

    async def scenario() -> None:
        left, right = stream.split("shardId-000000000000")
        put_round("b")
        merged = stream.merge(left, right)
        put_round("c")
        lineage.update({left: ("shardId-000000000000",), right: ("shardId-000000000000",)})
        lineage[merged] = (left, right)

    async with anyio.create_task_group() as tg:
        tg.start_soon(h.run_until, lambda: len(h.invoker.data()) >= 60)
        await scenario()
    assert sorted(h.invoker.data()) == sorted(sent)
    _parents_first(h.invoker, lineage)
    checkpoints = await h.checkpoints()
    assert checkpoints["shardId-000000000000"] == SHARD_END
    assert checkpoints[lineage["shardId-000000000003"][0]] == SHARD_END


async def test_expired_iterator_resumes_after_the_last_record_read(tmp_path: Path) -> None:
    stream = FakeStream()
    for n in range(10):
        stream.put("k", f"r{n}")
    h = Harness(stream, tmp_path / "s.db", batch_size=4)
    await h.run_until(lambda: len(h.invoker.data()) >= 10)
    for n in range(10, 20):
        stream.put("k", f"r{n}")
    stream.errors = [client_error("ExpiredIteratorException")]
    await h.run_until(lambda: len(h.invoker.data()) >= 20)
    assert h.invoker.data() == [f"r{n}" for n in range(20)]  # no gap, no repeat


async def test_throughput_errors_back_off_and_lose_nothing(tmp_path: Path) -> None:
    stream = FakeStream()
    for n in range(8):
        stream.put("k", f"r{n}")
    stream.errors = [client_error("ProvisionedThroughputExceededException")] * 2
    h = Harness(stream, tmp_path / "s.db")
    await h.run_until(lambda: len(h.invoker.data()) >= 8)
    assert h.invoker.data() == [f"r{n}" for n in range(8)]
    errors = h.metrics.value(
        "poller_source_errors_total",
        **{
            "mapping": h.config.display_name,
            "function": "fn",
            "operation": "GetRecords",
            "code": "ProvisionedThroughputExceededException",
        },
    )
    assert errors == 2


@pytest.mark.parametrize("at_acquire", [False, True], ids=["kinesis-read", "dynamodb-acquire"])
async def test_trimmed_checkpoint_restarts_at_the_trim_horizon(
    tmp_path: Path, at_acquire: bool
) -> None:
    stream = FakeStream()
    stream.trimmed_at_acquire = at_acquire
    for n in range(10):
        stream.put("k", f"r{n}")
    h = Harness(stream, tmp_path / "s.db", batch_size=2)
    await h.run_until(lambda: len(h.invoker.data()) >= 4)
    stream.trim("shardId-000000000000", 7)  # r4..r6 expire before the restart
    await h.run_until(lambda: "r9" in h.invoker.data())
    assert h.invoker.data()[-3:] == ["r7", "r8", "r9"]


async def test_graceful_stop_checkpoints_so_restart_redelivers_nothing(tmp_path: Path) -> None:
    stream = FakeStream(shards=2)
    for n in range(200):
        stream.put(f"k{n % 9}", f"r{n}")
    h = Harness(stream, tmp_path / "s.db", batch_size=7, parallelization_factor=3)
    await h.run_until(lambda: len(h.invoker.data()) >= 80)
    first = list(h.invoker.data())
    await h.run_until(lambda: len(h.invoker.data()) >= 200)
    data = h.invoker.data()
    assert len(data) == len(set(data)) == 200
    assert first == data[: len(first)]


async def test_failing_batch_blocks_only_its_lane(tmp_path: Path) -> None:
    stream = FakeStream()
    keys: dict[int, str] = {}  # one key per lane
    for candidate in (f"k{i}" for i in range(100)):
        keys.setdefault(lane_of(candidate, 4), candidate)
    key_of = [keys[lane] for lane in range(4)]
    for n in range(40):
        stream.put(key_of[n % 4], f"{n % 4}:{n}")
    h = Harness(stream, tmp_path / "s.db", batch_size=2, parallelization_factor=4)
    poison_key = key_of[0]
    h.invoker.fail = lambda event: any(
        r["kinesis"]["partitionKey"] == poison_key for r in event["Records"]
    )
    others = [f"{n % 4}:{n}" for n in range(40) if n % 4]
    await h.run_until(lambda: set(others) <= set(h.invoker.data()), timeout=20)
    # The other keys all went through while the poison key's lane kept retrying its first batch...
    poisoned = [d for d in h.invoker.data() if d.startswith("0:")]
    assert set(poisoned) == {"0:0", "0:4"}
    # ...and the checkpoint stayed before the poison key's first record.
    assert await h.checkpoints() == {}


def _windowed(invoker: RecordingInvoker, big: bool = False) -> None:
    def respond(event: dict[str, Any]) -> dict[str, Any]:
        if event["isFinalInvokeForWindow"]:
            return {"state": {}}
        state = dict(event["state"])
        state["n"] = state.get("n", 0) + len(event["Records"])
        if big:
            state["padding"] = "x" * (1024 * 1024)
        return {"state": state}

    invoker.respond = respond


async def test_a_window_closes_at_shard_end_before_the_children_start(tmp_path: Path) -> None:
    stream = FakeStream()
    for n in range(6):
        stream.put("k", f"r{n}")
    stream.split("shardId-000000000000")
    for n in range(6, 9):
        stream.put("k", f"r{n}")
    h = Harness(stream, tmp_path / "s.db", tumbling_window_in_seconds=900, batch_size=2)
    _windowed(h.invoker)
    await h.run_until(lambda: sum(e["isFinalInvokeForWindow"] for e in h.invoker.events) >= 1)
    finals = [i for i, e in enumerate(h.invoker.events) if e["isFinalInvokeForWindow"]]
    parent_final = h.invoker.events[finals[0]]
    assert parent_final["shardId"] == "shardId-000000000000"
    assert parent_final["state"] == {"n": 6}
    # No child record was sent before the parent's window closed.
    before = [r for e in h.invoker.events[: finals[0]] for r in e["Records"]]
    assert {r["eventID"].split(":")[0] for r in before} == {"shardId-000000000000"}
    assert (await h.checkpoints())["shardId-000000000000"] == SHARD_END


async def test_state_over_1_mb_terminates_the_window_early(tmp_path: Path) -> None:
    stream = FakeStream()
    for n in range(4):
        stream.put("k", f"r{n}")
    h = Harness(stream, tmp_path / "s.db", tumbling_window_in_seconds=900, batch_size=2)
    _windowed(h.invoker, big=True)
    await h.run_until(lambda: sum(e["isFinalInvokeForWindow"] for e in h.invoker.events) >= 2)
    finals = [e for e in h.invoker.events if e["isFinalInvokeForWindow"]]
    assert all(f["isWindowTerminatedEarly"] for f in finals)
    assert all(f["Records"] == [] for f in finals)
    # After an early end the window goes on with a fresh state.
    firsts = [e for e in h.invoker.events if not e["isFinalInvokeForWindow"]]
    assert [e["state"] for e in firsts] == [{}, {}]


async def test_window_records_are_checkpointed_only_after_the_final_invocation(
    tmp_path: Path,
) -> None:
    stream = FakeStream()
    for n in range(4):
        stream.put("k", f"r{n}")
    h = Harness(stream, tmp_path / "s.db", tumbling_window_in_seconds=900, batch_size=2)
    _windowed(h.invoker)
    await h.run_until(lambda: len(h.invoker.data()) >= 4)
    assert await h.checkpoints() == {}  # the window is still open: nothing checkpointed


async def test_invocations_that_never_reach_the_handler_use_no_retries(tmp_path: Path) -> None:
    stream = FakeStream()
    stream.put("k", "r0")
    h = Harness(stream, tmp_path / "s.db", maximum_retry_attempts=0)
    refusals: list[Exception] = [Throttled("Rate Exceeded."), InvokeError("connection refused")]
    invoke = h.invoker.invoke

    async def flaky(event: dict[str, Any], request_id: str) -> Any:
        if refusals:
            raise refusals.pop(0)
        return await invoke(event, request_id)

    h.invoker.invoke = flaky  # type: ignore[method-assign]
    await h.run_until(lambda: h.invoker.data() == ["r0"])
    labels = {"mapping": h.config.display_name, "function": "fn"}
    assert h.metrics.value("poller_throttles_total", **labels) == 1
    assert h.metrics.value("poller_dropped_events_total", **labels) == 0


class SlowStore:
    """SQLite behind writes that take 50 ms each (the scenario: checkpoints slower than the
    handler); `durable` is what a crash would leave."""

    def __init__(self, inner: SqliteCheckpointStore) -> None:
        self.inner = inner
        self.durable: dict[str, str] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def save(self, mapping: str, shard_id: str, checkpoint: str) -> bool:
        await anyio.sleep(0.05)
        saved = await self.inner.save(mapping, shard_id, checkpoint)
        if saved:
            self.durable[shard_id] = checkpoint
        return saved


async def test_a_lane_runs_at_most_one_finished_batch_ahead_of_its_checkpoint(
    tmp_path: Path,
) -> None:
    """With checkpoint writes slower than the handler, a crash at any moment redelivers at most
    the batch in flight and the one finished before it: when batch n starts, the durable
    checkpoint covers batch n-2."""
    stream = FakeStream()
    for n in range(60):
        stream.put(f"k{n}", f"r{n}")
    stores: list[SlowStore] = []

    def slow(sqlite: SqliteCheckpointStore) -> SlowStore:
        stores.append(SlowStore(sqlite))
        return stores[-1]

    h = Harness(stream, tmp_path / "s.db", store=slow, batch_size=5)
    seen: list[tuple[int, int]] = []  # (first sequence of the batch, durable checkpoint)

    def observe(event: dict[str, Any]) -> bool:
        durable = next(iter(stores[0].durable.values()), "0")  # the stream has one shard
        seen.append((int(event["Records"][0]["kinesis"]["sequenceNumber"]), int(durable)))
        return False

    h.invoker.fail = observe
    await h.run_until(lambda: len(h.invoker.data()) >= 60, timeout=20)
    firsts = [first for first, _ in seen]
    assert len(seen) == 12
    for n in range(2, len(seen)):
        last_of_two_before = firsts[n - 1] - 1  # batch n-2 ends just before batch n-1 starts
        assert seen[n][1] >= last_of_two_before, (n, seen)
    # ...and the writes were not simply waited for: some batches started before their
    # predecessor's checkpoint was durable.
    assert any(durable < firsts[n] - 1 for n, (_, durable) in enumerate(seen) if n), seen


async def test_a_sparse_lane_runs_no_more_than_a_batch_ahead_of_the_checkpoint(
    tmp_path: Path,
) -> None:
    """The fault: with ParallelizationFactor 2 the checkpoint is the low-watermark over the
    lanes, and a lane whose keys are sparse in the shard covers its sequence numbers faster
    than one whose keys are dense; it ran ever further past the checkpoint the dense lane held
    back, so a crash redelivered all of that (seen in the crash loops: 56 records of a shard
    redelivered with batches of 10 and 2 lanes). Each lane now starts batch n only once the
    durable checkpoint covers its batch n-2, as with one lane."""
    stream = FakeStream()
    keys: dict[int, str] = {}
    for candidate in (f"k{i}" for i in range(100)):
        keys.setdefault(lane_of(candidate, 2), candidate)
    dense, sparse = keys[0], keys[1]
    for n in range(160):  # three records of the dense lane for each of the sparse one
        stream.put(sparse if n % 4 == 3 else dense, f"r{n}")
    stores: list[SlowStore] = []

    def slow(sqlite: SqliteCheckpointStore) -> SlowStore:
        stores.append(SlowStore(sqlite))
        return stores[-1]

    h = Harness(stream, tmp_path / "s.db", store=slow, batch_size=5, parallelization_factor=2)
    seen: dict[str, list[tuple[int, int]]] = {dense: [], sparse: []}  # (last sequence, durable)

    def observe(event: dict[str, Any]) -> bool:
        durable = int(next(iter(stores[0].durable.values()), "0"))
        records = event["Records"]
        key = records[0]["kinesis"]["partitionKey"]
        seen[key].append((int(records[-1]["kinesis"]["sequenceNumber"]), durable))
        return False

    h.invoker.fail = observe
    await h.run_until(lambda: len(h.invoker.data()) >= 160, timeout=20)
    assert len(h.invoker.data()) == 160
    for key, batches in seen.items():
        for n in range(2, len(batches)):
            assert batches[n][1] >= batches[n - 2][0], (key, n, batches)
