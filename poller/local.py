"""The embedded AWS-compatible endpoint (moto's server on 127.0.0.1) for demos and local work."""

from __future__ import annotations

import json
import logging
from typing import Any

from poller.arns import Arn
from poller.config.settings import QueueSpec, StreamSpec, TableSpec
from poller.errors import StartupError, error_code

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
            urls[spec.dead_letter.name] = await _queue_url(
                client, spec.dead_letter.name, dlq_attributes
            )
            attributes["RedrivePolicy"] = json.dumps(
                {
                    "deadLetterTargetArn": queue_arn(region, spec.dead_letter.name),
                    "maxReceiveCount": str(spec.dead_letter.max_receive_count),
                }
            )
        urls[spec.name] = await _queue_url(client, spec.name, attributes)
    return urls


async def _queue_url(client: Any, name: str, attributes: dict[str, str]) -> str:
    await ensure_queue(client, name, attributes)
    return str((await client.get_queue_url(QueueName=name))["QueueUrl"])


async def create_streams(client: Any, specs: list[StreamSpec]) -> None:
    """Create each Kinesis stream and wait until it is ACTIVE."""
    for spec in specs:
        await ensure_stream(client, spec.name, ShardCount=spec.shards)


async def create_tables(client: Any, specs: list[TableSpec]) -> dict[str, str]:
    """Create each table with its stream on; returns table name → stream ARN."""
    arns: dict[str, str] = {}
    for spec in specs:
        keys = [(spec.partition_key, "HASH")]
        if spec.sort_key:
            keys.append((spec.sort_key, "RANGE"))
        await ensure_table(
            client,
            spec.name,
            KeySchema=[{"AttributeName": name, "KeyType": kind} for name, kind in keys],
            AttributeDefinitions=[
                {"AttributeName": name, "AttributeType": "S"} for name, _ in keys
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": spec.stream_view_type},
        )
        described = await client.describe_table(TableName=spec.name)
        arns[spec.name] = described["Table"]["LatestStreamArn"]
    return arns


# Creating what a local run needs, once: each returns True if it created the resource, False if
# it was there already (left as it is). Shared by `embedded` and `--create-resources`.

_DELAY, _ATTEMPTS = 0.2, 300
_WAIT = {"Delay": _DELAY, "MaxAttempts": _ATTEMPTS}


async def ensure_queue(client: Any, name: str, attributes: dict[str, str]) -> bool:
    """An SQS queue of this name, created with `attributes` if missing."""
    try:
        await client.get_queue_url(QueueName=name)
        return False
    except Exception as exc:
        if not error_code(exc).endswith(("NonExistentQueue", "QueueDoesNotExist")):
            raise
    await client.create_queue(QueueName=name, Attributes=attributes)
    return True


async def ensure_stream(client: Any, name: str, **parameters: Any) -> bool:
    """A Kinesis stream of this name (CreateStream's `parameters`), ACTIVE when this returns."""
    try:
        await client.create_stream(StreamName=name, **parameters)
    except Exception as exc:
        if error_code(exc) != "ResourceInUseException":
            raise
        return False
    await client.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig=_WAIT)
    return True


async def ensure_table(client: Any, name: str, **parameters: Any) -> bool:
    """A DynamoDB table of this name (CreateTable's `parameters`), ACTIVE when this returns."""
    try:
        await client.create_table(TableName=name, **parameters)
    except Exception as exc:
        if error_code(exc) != "ResourceInUseException":
            raise
        return False
    await client.get_waiter("table_exists").wait(TableName=name, WaiterConfig=_WAIT)
    return True


async def wait_stream_enabled(streams: Any, stream_arn: str) -> None:
    """Until a new table's stream is ENABLED (`streams`: a dynamodbstreams client): what is
    written while it is ENABLING never reaches it (LocalStack takes about half a second)."""
    import anyio

    for _ in range(_ATTEMPTS):
        described = await streams.describe_stream(StreamArn=stream_arn)
        if described["StreamDescription"]["StreamStatus"] == "ENABLED":
            return
        await anyio.sleep(_DELAY)  # DescribeStream is the only signal; no waiter exists
