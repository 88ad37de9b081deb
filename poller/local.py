"""The embedded AWS-compatible endpoint (moto's server on 127.0.0.1) for demos and local work."""

from __future__ import annotations

import json
import logging
from typing import Any

from poller.arns import Arn
from poller.config.settings import QueueSpec, StreamSpec, TableSpec
from poller.errors import StartupError

# moto accepts any credentials; these keep botocore from searching for real ones.
LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
LOCAL_ACCOUNT = "123456789012"


class EmbeddedEndpoint:
    """moto's threaded server bound to loopback; `port=0` picks a free port."""

    def __init__(self, port: int = 0) -> None:
        try:
            from moto.server import ThreadedMotoServer
        except ImportError as exc:
            raise StartupError(
                "embedded: the embedded endpoint needs the 'local' extra: "
                "pip install 'poller[local]'"
            ) from exc
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.url = ""

    def start(self) -> str:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self.url

    def stop(self) -> None:
        self._server.stop()


def queue_arn(region: str, name: str) -> str:
    return str(Arn("aws", "sqs", region, LOCAL_ACCOUNT, name))


async def create_queues(client: Any, region: str, specs: list[QueueSpec]) -> dict[str, str]:
    """Create each queue (and its dead-letter queue first); returns name → URL."""
    urls: dict[str, str] = {}
    for spec in specs:
        attributes: dict[str, str] = {"VisibilityTimeout": str(spec.visibility_timeout)}
        fifo = spec.name.endswith(".fifo")
        if fifo:
            attributes["FifoQueue"] = "true"
        if spec.dead_letter is not None:
            dlq_attributes = {"FifoQueue": "true"} if fifo else {}
            created = await client.create_queue(
                QueueName=spec.dead_letter.name, Attributes=dlq_attributes
            )
            urls[spec.dead_letter.name] = created["QueueUrl"]
            attributes["RedrivePolicy"] = json.dumps(
                {
                    "deadLetterTargetArn": queue_arn(region, spec.dead_letter.name),
                    "maxReceiveCount": str(spec.dead_letter.max_receive_count),
                }
            )
        created = await client.create_queue(QueueName=spec.name, Attributes=attributes)
        urls[spec.name] = created["QueueUrl"]
    return urls


async def create_streams(client: Any, specs: list[StreamSpec]) -> None:
    """Create each Kinesis stream and wait until it is ACTIVE."""
    for spec in specs:
        await client.create_stream(StreamName=spec.name, ShardCount=spec.shards)
    for spec in specs:
        waiter = client.get_waiter("stream_exists")
        await waiter.wait(StreamName=spec.name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})


async def create_tables(client: Any, specs: list[TableSpec]) -> dict[str, str]:
    """Create each table with its stream on; returns table name → stream ARN."""
    arns: dict[str, str] = {}
    for spec in specs:
        keys = [(spec.partition_key, "HASH")]
        if spec.sort_key:
            keys.append((spec.sort_key, "RANGE"))
        created = await client.create_table(
            TableName=spec.name,
            KeySchema=[{"AttributeName": name, "KeyType": kind} for name, kind in keys],
            AttributeDefinitions=[
                {"AttributeName": name, "AttributeType": "S"} for name, _ in keys
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": spec.stream_view_type},
        )
        arns[spec.name] = created["TableDescription"]["LatestStreamArn"]
    return arns
