"""async-kinesis's Consumer as a benchmark contender: drain a stream, count records until N.

    PYTHONPATH=<dir holding async-kinesis> python async_kinesis_consumer.py '<config JSON>'

config: {endpoint, region, stream, records, shard_fetch_rate, sleep_time_no_records}

One `kinesis.Consumer` over every shard of the stream from TRIM_HORIZON, its in-memory
checkpointer, `StringProcessor` (each record's data decoded to text, no JSON parsing), GetRecords
Limit 10000 (its default), and a no-op "handler": the loop only counts what the consumer yields.
API calls are counted by operation with a botocore `before-call` hook on the session it is given.
Speaks JSON lines on stdout (see bench_support.run_peer): start, done, stopped, error. `done`
carries seconds (start -> the N-th record, client creation and DescribeStream included) and
cpu_seconds (`time.process_time()`: every thread of this process).

Run by stream_throughput.py with poller's interpreter (same aiobotocore / botocore as poller)
and the package on PYTHONPATH, in a process of its own.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import traceback
from collections import Counter
from typing import Any

from aiobotocore.session import AioSession
from kinesis import Consumer, StringProcessor  # type: ignore[import-not-found, unused-ignore]


def emit(event: dict[str, Any]) -> None:
    print(json.dumps(event), flush=True)


async def drain(config: dict[str, Any]) -> None:
    started = time.perf_counter()
    cpu_started = time.process_time()
    emit({"event": "start"})
    target = int(config["records"])
    count = 0
    calls: Counter[str] = Counter()

    def count_call(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    session = AioSession()
    session.register("before-call.kinesis", count_call)  # every client made from the session
    consumer = Consumer(
        config["stream"],
        session=session,
        endpoint_url=config["endpoint"],
        region_name=config["region"],
        iterator_type="TRIM_HORIZON",
        processor=StringProcessor(),
        shard_fetch_rate=int(config["shard_fetch_rate"]),
        sleep_time_no_records=float(config["sleep_time_no_records"]),
    )
    async with consumer:
        while count < target:
            # The iterator ends after 2 s without a record (its idle_timeout); start it again.
            async for _item in consumer:
                count += 1
                if count >= target:
                    break
        emit(
            {
                "event": "done",
                "seconds": time.perf_counter() - started,
                "cpu_seconds": time.process_time() - cpu_started,
                "records": count,
                "calls": dict(calls),
            }
        )
    emit({"event": "stopped"})


def main() -> int:
    try:
        asyncio.run(drain(json.loads(sys.argv[1])))
    except Exception:
        emit({"event": "error", "message": traceback.format_exc()})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
