"""Running the test templates (tests/integration/templates) against the suite's server, and the
views of delivered records that a template's run and a hand-written config's run must share."""

from __future__ import annotations

import base64
import json
import os
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import itest_handlers
from sqs_support import ACCOUNT, HERE, REGION, running_daemon

from poller.configuration import ConfigSource, Loaded, Overrides
from poller.daemon import Daemon
from poller.telemetry.metrics import Metrics
from poller.templates.build import TemplateOptions
from poller.templates.resources import create

TEMPLATES = HERE / "templates"
CODE = TEMPLATES / "src"


def base_config(tmp_path: Path, endpoint: str) -> Path:
    """The sections a test's `-c` file gives a template: the server, a free HTTP port, quick
    stops and a state file of the test's own."""
    path = tmp_path / "poller.yaml"
    path.write_text(hand_config(endpoint, tmp_path / "state.db"))
    return path


def hand_config(endpoint: str, state: Path | None = None) -> str:
    """The sections of a test's hand-written config before its functions and mappings: the
    same as base_config's."""
    text = textwrap.dedent(f"""\
        aws: {{region: {REGION}, endpoint_url: "{endpoint}"}}
        http: {{listen: "127.0.0.1:0"}}
        shutdown_timeout: 10
        shutdown_receives: cancel
        """)
    return text + (f'state: {{path: "{state}"}}\n' if state else "")


def load_template(
    name: str, config: Path, stack: str, **parameters: str
) -> tuple[ConfigSource, Loaded]:
    """`poller run -c config --template templates/<name>` as the CLI reads it."""
    options = TemplateOptions(
        path=TEMPLATES / name, parameters=parameters, stack_name=stack, account_id=ACCOUNT
    )
    source = ConfigSource(config, options, Overrides())
    return source, source.load(os.environ)


@asynccontextmanager
async def running_template(source: ConfigSource, loaded: Loaded) -> AsyncIterator[Daemon]:
    """The template's daemon with `--create-resources`, for the body of the block."""
    assert loaded.built is not None
    resources = loaded.built.plan.resources

    async def setup(aws: Any) -> None:
        await create(aws, resources, REGION)

    daemon = Daemon(loaded.config, source.base_dir, metrics=Metrics(), setup=setup)
    async with running_daemon(daemon):
        yield daemon


def calls() -> list[dict[str, Any]]:
    with itest_handlers.lock:
        return list(itest_handlers.calls)


def sqs_view(record: dict[str, Any], names: dict[str, str]) -> str:
    """An SQS record without what differs between two runs (ids, receipt handles, times), its
    queue named by role (`names`: ARN → role)."""
    attributes = record["attributes"]
    view = {
        "body": record["body"],
        "md5OfBody": record["md5OfBody"],
        "messageAttributes": record["messageAttributes"],
        "receiveCount": attributes["ApproximateReceiveCount"],
        "attributeNames": sorted(attributes),
        "eventSource": record["eventSource"],
        "queue": names[record["eventSourceARN"]],
        "awsRegion": record["awsRegion"],
        "keys": sorted(record),
    }
    return json.dumps(view, sort_keys=True)


def kinesis_view(record: dict[str, Any], names: dict[str, str]) -> str:
    kinesis = record["kinesis"]
    view = {
        "data": base64.b64decode(kinesis["data"]).decode(),
        "partitionKey": kinesis["partitionKey"],
        "kinesisKeys": sorted(kinesis),
        "eventName": record["eventName"],
        "eventSource": record["eventSource"],
        "stream": names[record["eventSourceARN"]],
        "shard": record["eventID"].split(":")[0],
        "keys": sorted(record),
    }
    return json.dumps(view, sort_keys=True)


def dynamodb_view(record: dict[str, Any], names: dict[str, str]) -> str:
    images = record["dynamodb"]
    table = record["eventSourceARN"].split("/stream/")[0]
    view = {
        "eventName": record["eventName"],
        "Keys": images["Keys"],
        "NewImage": images.get("NewImage"),
        "OldImage": images.get("OldImage"),
        "StreamViewType": images["StreamViewType"],
        "table": names[table],
        "keys": sorted(record),
    }
    return json.dumps(view, sort_keys=True)


def failure_view(message: dict[str, Any], names: dict[str, str]) -> str:
    """An on-failure destination's record of a discarded batch, without ids and times."""
    context = message["requestContext"]
    info = next(v for k, v in message.items() if k.endswith("BatchInfo"))
    view = {
        "condition": context["condition"],
        "approximateInvokeCount": context["approximateInvokeCount"],
        "functionError": message.get("responseContext", {}).get("functionError"),
        "batchSize": info["batchSize"],
        "shardId": info["shardId"],
        "stream": names[info["streamArn"]],
        "keys": sorted(message),
    }
    return json.dumps(view, sort_keys=True)


def drain(sqs: Any, url: str) -> list[str]:
    """Every message body on a queue (received and deleted)."""
    bodies: list[str] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = got.get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
