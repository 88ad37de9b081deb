"""`poller run | validate | config --template` as users run them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import itest_handlers
import pytest
from sqs_support import (
    ACCOUNT,
    HERE,
    REGION,
    depth,
    json_lines,
    queue_arn,
    running_daemon,
    send,
    spawn_poller,
    stop_poller,
    unique,
    until,
    wait_for,
)
from template_support import (
    TEMPLATES,
    base_config,
    load_template,
    running_template,
    sqs_view,
)

from poller.aws import Aws
from poller.config.loader import load_config
from poller.daemon import Daemon
from poller.telemetry.metrics import Metrics
from poller.templates.resources import create

pytestmark = pytest.mark.integration


def poller(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "poller", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(HERE)},
    )


@pytest.mark.anyio
async def test_poller_config_prints_a_config_that_validates_and_runs_as_the_template(
    sqs: Any, endpoint: str, tmp_path: Path
) -> None:
    stack = unique("tpl")
    config = base_config(tmp_path, endpoint)
    template = TEMPLATES / "sqs_dlq.yaml"
    common = ("-c", str(config), "--template", str(template), "--stack-name", stack)
    printed = poller("config", *common, "--account-id", ACCOUNT, cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    generated = tmp_path / "generated.yaml"
    generated.write_text(printed.stdout)
    assert "# Note: Resources.OrdersFunction.Properties.Events.Health: Api events" in printed.stdout
    checked = poller("validate", "-c", str(generated), cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "OK (1 functions, 1 mappings)" in checked.stdout

    _, loaded = load_template("sqs_dlq.yaml", config, stack)
    from_file = load_config(generated, os.environ)
    # The same functions and mappings; code_uri is relative to where the file was written.
    function = from_file.functions["OrdersFunction"]
    assert (tmp_path / str(function.code_uri)).resolve() == TEMPLATES / "src"
    assert function.model_copy(update={"code_uri": None}) == loaded.config.functions[
        "OrdersFunction"
    ].model_copy(update={"code_uri": None})
    assert from_file == loaded.config.model_copy(update={"functions": from_file.functions})

    # The template runs on its own queues (another stack), the printed file on the ones it
    # names, created as --create-resources creates them.
    assert loaded.built is not None
    await create(Aws(loaded.config.aws, Metrics()), loaded.built.plan.resources, REGION)
    other_stack = unique("tpl")
    other_source, other = load_template("sqs_dlq.yaml", config, other_stack)
    bodies = [f"m-{i}" for i in range(7)]
    async with running_template(other_source, other):
        send(sqs, sqs.get_queue_url(QueueName=f"{other_stack}-Orders")["QueueUrl"], bodies)
        await wait_for(lambda: len(itest_handlers.records()) >= len(bodies), timeout=60)
    from_template = sorted(
        sqs_view(r, {queue_arn(f"{other_stack}-Orders"): "orders"})
        for r in itest_handlers.records()
    )
    itest_handlers.reset()
    async with running_daemon(Daemon(from_file, tmp_path, metrics=Metrics())):
        send(sqs, sqs.get_queue_url(QueueName=f"{stack}-Orders")["QueueUrl"], bodies)
        await wait_for(lambda: len(itest_handlers.records()) >= len(bodies), timeout=60)
    names = {queue_arn(f"{stack}-Orders"): "orders"}
    assert sorted(sqs_view(r, names) for r in itest_handlers.records()) == from_template


def test_poller_run_template_creates_its_resources_and_handles_messages(
    sqs: Any, endpoint: str, tmp_path: Path
) -> None:
    stack = unique("tpl")
    output = tmp_path / "out.log"
    args = (
        "--template",
        str(TEMPLATES / "sqs_dlq.yaml"),
        "--create-resources",
        "--stack-name",
        stack,
    )
    proc = spawn_poller(
        ["run", "-c", str(base_config(tmp_path, endpoint)), *args, "--watch"], output
    )
    try:
        until(lambda: any(e.get("event") == "daemon_started" for e in json_lines(output)), 30)
        until(lambda: any(e.get("event") == "watch_started" for e in json_lines(output)), 10)
        created = {e["name"] for e in json_lines(output) if e.get("event") == "resource_created"}
        assert created == {f"{stack}-Orders", f"{stack}-OrdersDeadLetters"}
        url = sqs.get_queue_url(QueueName=f"{stack}-Orders")["QueueUrl"]
        send(sqs, url, ["hello", "world"])
        until(lambda: depth(sqs, url) == 0, 30)
    finally:
        assert stop_poller(proc) == 0
    watched = [e for e in json_lines(output) if e.get("event") == "watch_started"]
    assert watched[0]["directories"] == [str(TEMPLATES / "src")]
    notes = [e for e in json_lines(output) if e.get("event") == "template_note"]
    assert any("Events.Health" in e["note"] for e in notes)

    # A second start finds what the first one created.
    proc = spawn_poller(["run", "-c", str(base_config(tmp_path, endpoint)), *args], output)
    try:
        until(lambda: any(e.get("event") == "daemon_started" for e in json_lines(output)), 30)
    finally:
        assert stop_poller(proc) == 0
    existing = {e["name"] for e in json_lines(output) if e.get("event") == "resource_exists"}
    assert existing == {f"{stack}-Orders", f"{stack}-OrdersDeadLetters"}


def test_create_resources_against_real_aws_needs_yes(tmp_path: Path) -> None:
    # No endpoint: real AWS. The account is given, so nothing is asked of AWS at all.
    result = poller(
        "run",
        "--template",
        str(TEMPLATES / "sqs_dlq.yaml"),
        "--create-resources",
        "--account-id",
        "123456789012",
        "--region",
        "eu-west-1",
    )
    assert result.returncode == 2
    assert "--create-resources: this would create resources in real AWS (eu-west-1): add --yes" in (
        result.stderr
    )


@pytest.mark.anyio
async def test_create_resources_makes_each_kind_as_the_template_describes_it(
    sqs: Any, endpoint: str, tmp_path: Path
) -> None:
    import boto3

    stack = unique("res")
    prefix = unique("p")
    _, loaded = load_template(
        "resources.yaml", base_config(tmp_path, endpoint), stack, Prefix=prefix
    )
    assert loaded.built is not None
    plan = loaded.built.plan.resources
    # A queue comes after the dead-letter queue its RedrivePolicy names.
    names = [r.name for r in plan]
    assert names.index(f"{stack}-Dead.fifo") < names.index(f"{stack}-Work.fifo")
    aws = Aws(loaded.config.aws, Metrics())
    await create(aws, plan, REGION)
    await create(aws, plan, REGION)  # a second run finds them all

    def client(service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=endpoint)

    url = sqs.get_queue_url(QueueName=f"{stack}-Work.fifo")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["FifoQueue"] == "true"
    assert attributes["ContentBasedDeduplication"] == "true"
    assert attributes["VisibilityTimeout"] == "45"
    assert attributes["MessageRetentionPeriod"] == "3600"
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == queue_arn(f"{stack}-Dead.fifo")
    assert int(redrive["maxReceiveCount"]) == 4
    topics = [t["TopicArn"] for t in client("sns").list_topics()["Topics"]]
    assert f"arn:aws:sns:{REGION}:{ACCOUNT}:{prefix}-events" in topics
    buckets = [b["Name"] for b in client("s3").list_buckets()["Buckets"]]
    assert f"{stack}-archive".lower() in buckets
    stream = client("kinesis").describe_stream_summary(StreamName=f"{prefix}-feed")
    assert stream["StreamDescriptionSummary"]["OpenShardCount"] == 2
    table = client("dynamodb").describe_table(TableName=f"{stack}-Ledger")["Table"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["id", "at"]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}
