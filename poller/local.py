"""The embedded AWS-compatible endpoint (moto's server on 127.0.0.1) for demos and local work."""

from __future__ import annotations

import json
import logging
from typing import Any

from poller.arns import Arn
from poller.config import QueueSpec
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
