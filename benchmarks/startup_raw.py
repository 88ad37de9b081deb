"""The `raw` contender of `startup_idle.py`: a minimal aioboto3 consumer, as a process.

    python benchmarks/startup_raw.py --endpoint URL sqs QUEUE_URL
    python benchmarks/startup_raw.py --endpoint URL kinesis STREAM_ARN

What someone would write by hand instead of poller, and nothing more: one client, then

- sqs: loop ReceiveMessage (10 messages, 20 s long poll, all attributes: the request poller
  makes) -> `startup_handler.handler` inline -> DeleteMessageBatch;
- kinesis: ListShards, then per shard (one asyncio task each) GetShardIterator at TRIM_HORIZON
  and loop GetRecords (Limit 100, poller's default batch size) -> the handler, sleeping 1 s
  after an empty answer.

It runs until killed (the benchmark sends SIGTERM, whose default action ends it). It must not
import poller or `bench_support` (which imports poller's daemon): its start-up is the baseline.
The client settings are `bench_support.client_config`'s, written out. Region and credentials
come from the environment the benchmark gives it.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import aioboto3
from aiobotocore.config import AioConfig
from startup_handler import handler

CONFIG = AioConfig(
    connect_timeout=5,
    read_timeout=45,
    max_pool_connections=10,
    retries={"mode": "standard", "max_attempts": 3},
)


async def consume_queue(client: Any, queue_url: str) -> None:
    while True:
        response = await client.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=20,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            continue
        handler({"Records": messages}, None)
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
        ]
        await client.delete_message_batch(QueueUrl=queue_url, Entries=entries)


async def read_shard(client: Any, stream_arn: str, shard_id: str) -> None:
    response = await client.get_shard_iterator(
        StreamARN=stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
    )
    iterator = response["ShardIterator"]
    while iterator is not None:
        response = await client.get_records(StreamARN=stream_arn, ShardIterator=iterator, Limit=100)
        iterator = response.get("NextShardIterator")
        if response["Records"]:
            handler({"Records": response["Records"]}, None)
        else:
            await asyncio.sleep(1.0)


async def consume_stream(client: Any, stream_arn: str) -> None:
    shards = (await client.list_shards(StreamARN=stream_arn))["Shards"]
    await asyncio.gather(*(read_shard(client, stream_arn, s["ShardId"]) for s in shards))


async def main(endpoint: str, source: str, target: str) -> None:
    session = aioboto3.Session()
    async with session.client(source, endpoint_url=endpoint, config=CONFIG) as client:
        if source == "sqs":
            await consume_queue(client, target)
        else:
            await consume_stream(client, target)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True, help="the AWS-compatible endpoint URL")
    parser.add_argument("source", choices=("sqs", "kinesis"))
    parser.add_argument("target", help="the queue URL (sqs) or the stream ARN (kinesis)")
    args = parser.parse_args()
    asyncio.run(main(args.endpoint, args.source, args.target))
