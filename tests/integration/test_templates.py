"""SAM and CloudFormation templates run end to end (`--template ... --create-resources`) and
deliver exactly what the equivalent hand-written config delivers: the same records, seen the
same way by the handler, with the same outcomes (dead-letter queue, on-failure destination).

Each test runs the template, then a config written by hand for the same triggers on resources
the test creates itself, with the same input and handler behaviour, and compares what was
delivered record by record (ids, receipt handles and times aside; each source named by role).
"""

from __future__ import annotations

import collections
import json
import textwrap
from pathlib import Path
from typing import Any

import itest_handlers
import pytest
from sqs_support import (
    ACCOUNT,
    MOTO_REPEATS,
    REGION,
    make_queue,
    queue_arn,
    running,
    send,
    unique,
    wait_for,
)
from stream_support import kinesis_data, make_stream, put, stream_arn, wait_stream_enabled
from template_support import (
    CODE,
    TEMPLATES,
    base_config,
    calls,
    drain,
    dynamodb_view,
    failure_view,
    hand_config,
    kinesis_view,
    load_template,
    running_template,
    sqs_view,
)

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


def _fail_bodies_starting_fail(event: dict[str, Any], index: int) -> Any:
    return {
        "batchItemFailures": [
            {"itemIdentifier": r["messageId"]}
            for r in event["Records"]
            if r["body"].startswith("fail")
        ]
    }


def _sqs_views(names: dict[str, str]) -> list[str]:
    return [sqs_view(r, names) for r in itest_handlers.records()]


def _same_deliveries(template: list[str], hand: list[str]) -> None:
    """The same records, each as often (moto's rare repeats aside: see MOTO_REPEATS)."""
    assert set(template) == set(hand)
    extra = collections.Counter(template) - collections.Counter(hand)
    missing = collections.Counter(hand) - collections.Counter(template)
    assert sum(extra.values()) + sum(missing.values()) <= MOTO_REPEATS, (extra, missing)


BODIES = [f"ok-{i}" for i in range(8)] + ["fail-a", "fail-b"]


async def _sqs_run(sqs: Any, url: str, dlq_url: str | None, count: int) -> None:
    send(sqs, url, BODIES)
    oks = {b for b in BODIES if b.startswith("ok")}

    def done() -> bool:
        handled = {r["body"] for r in itest_handlers.records()}
        dead = len(drain_peek(sqs, dlq_url)) if dlq_url else count
        return oks <= handled and dead >= count

    await wait_for(done, timeout=60)


def drain_peek(sqs: Any, url: str) -> list[str]:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return ["m"] * int(attributes["ApproximateNumberOfMessages"])


async def test_sqs_with_a_dlq_and_partial_failures_runs_as_the_hand_written_config(
    sqs: Any, endpoint: str, tmp_path: Path
) -> None:
    stack = unique("tpl")
    config = base_config(tmp_path, endpoint)
    source, loaded = load_template("sqs_dlq.yaml", config, stack)
    orders, dead = f"{stack}-Orders", f"{stack}-OrdersDeadLetters"
    itest_handlers.behaviour = _fail_bodies_starting_fail
    async with running_template(source, loaded):
        url = sqs.get_queue_url(QueueName=orders)["QueueUrl"]
        dlq_url = sqs.get_queue_url(QueueName=dead)["QueueUrl"]
        redrive = json.loads(
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"][
                "RedrivePolicy"
            ]
        )
        assert redrive["deadLetterTargetArn"] == queue_arn(dead)
        assert int(redrive["maxReceiveCount"]) == 2
        await _sqs_run(sqs, url, dlq_url, 2)
    from_template = _sqs_views({queue_arn(orders): "orders"})
    assert calls()[0]["function_name"] == "OrdersFunction"
    template_dead = sorted(drain(sqs, dlq_url))

    itest_handlers.reset()
    itest_handlers.behaviour = _fail_bodies_starting_fail
    hand_queue, hand_dlq = unique("hand-orders"), unique("hand-dlq")
    hand_url = make_queue(sqs, hand_queue, visibility=2, dlq=hand_dlq, max_receive=2)
    hand = hand_config(endpoint) + textwrap.dedent(f"""\
        functions:
          OrdersFunction:
            handler: app.handler
            code_uri: "{CODE}"
            timeout: 2
            memory_size: 256
        mappings:
          - FunctionName: OrdersFunction
            EventSourceArn: "{queue_arn(hand_queue)}"
            BatchSize: 5
            MaximumBatchingWindowInSeconds: 1
            FunctionResponseTypes: [ReportBatchItemFailures]
            ScalingConfig: {{MaximumConcurrency: 2}}
        """)
    hand_dlq_url = sqs.get_queue_url(QueueName=hand_dlq)["QueueUrl"]
    async with running(hand):
        await _sqs_run(sqs, hand_url, hand_dlq_url, 2)
    from_hand = _sqs_views({queue_arn(hand_queue): "orders"})

    _same_deliveries(from_template, from_hand)
    assert template_dead == sorted(drain(sqs, hand_dlq_url)) == ["fail-a", "fail-b"]
    # Each failing message was handled twice (maxReceiveCount 2) before its redrive.
    assert sorted(json.loads(v)["receiveCount"] for v in from_template if "fail" in v) == [
        "1",
        "1",
        "2",
        "2",
    ]


def _poison(event: dict[str, Any], index: int) -> Any:
    if any(kinesis_data(r) == "poison" for r in event["Records"]):
        raise ValueError("poison record")
    return None


CLICKS = [(f"k{i % 3}", "poison" if i == 5 else f"click-{i}") for i in range(10)]


def _batches(view: Any, names: dict[str, str]) -> list[list[str]]:
    """Each invocation's records, in order: bisection and retries are in the sequence."""
    return [[view(r, names) for r in call["event"]["Records"]] for call in calls()]


async def _stream_failures(sqs: Any, url: str, names: dict[str, str]) -> list[str]:
    await wait_for(lambda: bool(drain_peek(sqs, url)), timeout=60)
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    return [failure_view(json.loads(m["Body"]), names) for m in got]


async def test_kinesis_with_bisect_retries_and_an_sqs_destination_runs_as_the_hand_written_config(
    sqs: Any, kinesis: Any, endpoint: str, tmp_path: Path
) -> None:
    stack = unique("tpl")
    source, loaded = load_template("kinesis_bisect.yaml", base_config(tmp_path, endpoint), stack)
    clicks, failed = f"{stack}-Clicks", f"{stack}-ClicksFailed"
    itest_handlers.behaviour = _poison
    async with running_template(source, loaded):
        put(kinesis, clicks, CLICKS)
        names = {stream_arn(clicks): "clicks"}
        failed_url = sqs.get_queue_url(QueueName=failed)["QueueUrl"]
        template_failures = await _stream_failures(sqs, failed_url, names)
        await wait_for(lambda: _delivered_all(), timeout=30)
    from_template = _batches(kinesis_view, names)

    itest_handlers.reset()
    itest_handlers.behaviour = _poison
    hand_stream, hand_failed = unique("hand-clicks"), unique("hand-failed")
    make_stream(kinesis, hand_stream)
    hand_failed_url = make_queue(sqs, hand_failed)
    put(kinesis, hand_stream, CLICKS)
    hand = hand_config(endpoint, tmp_path / "hand.db") + textwrap.dedent(f"""\
        functions:
          ClicksFunction: {{handler: app.handler, code_uri: "{CODE}", timeout: 3}}
        mappings:
          - FunctionName: ClicksFunction
            EventSourceArn: "{stream_arn(hand_stream)}"
            StartingPosition: TRIM_HORIZON
            BatchSize: 4
            BisectBatchOnFunctionError: true
            MaximumRetryAttempts: 1
            MaximumRecordAgeInSeconds: 3600
            ParallelizationFactor: 1
            DestinationConfig: {{OnFailure: {{Destination: "{queue_arn(hand_failed)}"}}}}
        """)
    names = {stream_arn(hand_stream): "clicks"}
    async with running(hand):
        hand_failures = await _stream_failures(sqs, hand_failed_url, names)
        await wait_for(lambda: _delivered_all(), timeout=30)
    from_hand = _batches(kinesis_view, names)

    assert from_template == from_hand
    assert template_failures == hand_failures
    assert [json.loads(v)["batchSize"] for v in template_failures] == [1]  # bisected to "poison"


def _delivered_all() -> bool:
    seen = {kinesis_data(r) for r in itest_handlers.records()}
    return seen >= {data for _, data in CLICKS if data != "poison"}


def _write_items(dynamodb: Any, table: str) -> None:
    for pk, kind in (("a", "book"), ("b", "film"), ("c", "book")):
        dynamodb.put_item(TableName=table, Item={"pk": {"S": pk}, "kind": {"S": kind}})
    dynamodb.put_item(
        TableName=table, Item={"pk": {"S": "a"}, "kind": {"S": "book"}, "n": {"N": "2"}}
    )
    dynamodb.delete_item(TableName=table, Key={"pk": {"S": "b"}})
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "z"}, "kind": {"S": "book"}})


async def test_dynamodb_with_filters_and_globals_runs_as_the_hand_written_config(
    dynamodb: Any, endpoint: str, tmp_path: Path
) -> None:
    stack = unique("tpl")
    source, loaded = load_template("dynamodb_filters.yaml", base_config(tmp_path, endpoint), stack)
    function = loaded.config.functions["ItemsFunction"]
    # Globals and the function's own properties, merged as SAM merges them.
    assert (function.timeout, function.memory_size) == (5, 512)
    assert function.environment == {
        "SERVICE": "inventory",
        "TABLE": f"{stack}-Items",
        "LEVEL": "debug",
    }
    items = f"{stack}-Items"
    async with running_template(source, loaded):
        _write_items(dynamodb, items)
        await wait_for(
            lambda: (
                {r["dynamodb"]["Keys"]["pk"]["S"] for r in itest_handlers.records()}
                >= {"a", "c", "z"}
            ),
            timeout=60,
        )
    table_arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/"
    from_template = [
        dynamodb_view(r, {table_arn + items: "items"}) for r in itest_handlers.records()
    ]

    itest_handlers.reset()
    hand_table = unique("hand-items")
    dynamodb.create_table(
        TableName=hand_table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    wait_stream_enabled(
        dynamodb, dynamodb.describe_table(TableName=hand_table)["Table"]["LatestStreamArn"]
    )
    hand = hand_config(endpoint, tmp_path / "hand.db") + textwrap.dedent(f"""\
        functions:
          ItemsFunction:
            handler: app.handler
            code_uri: "{CODE}"
            timeout: 5
            memory_size: 512
            environment: {{SERVICE: inventory, TABLE: {hand_table}, LEVEL: debug}}
        mappings:
          - FunctionName: ItemsFunction
            EventSourceArn: "{table_arn + hand_table}"
            StartingPosition: TRIM_HORIZON
            BatchSize: 10
            FilterCriteria:
              Filters:
                - Pattern: '{{"eventName": ["INSERT"], "dynamodb": {{"NewImage": {{"kind": {{"S": ["book"]}}}}}}}}'
        """)
    async with running(hand):
        _write_items(dynamodb, hand_table)
        await wait_for(
            lambda: (
                {r["dynamodb"]["Keys"]["pk"]["S"] for r in itest_handlers.records()}
                >= {"a", "c", "z"}
            ),
            timeout=60,
        )
    from_hand = [
        dynamodb_view(r, {table_arn + hand_table: "items"}) for r in itest_handlers.records()
    ]

    assert from_template == from_hand
    assert [json.loads(v)["Keys"]["pk"]["S"] for v in from_template] == ["a", "c", "z"]


def test_parameters_and_conditions_choose_what_runs(endpoint: str, tmp_path: Path) -> None:
    config = base_config(tmp_path, endpoint)
    _, dev = load_template("parameterised.yaml", config, "jobs", BatchSize="7")
    _, prod = load_template("parameterised.yaml", config, "jobs", Stage="prod")
    dev_function, prod_function = (
        dev.config.functions["jobs-dev"],
        prod.config.functions["jobs-prod"],
    )
    assert dev_function.environment == {"STAGE": "dev", "HOME_REGION": "eu-west-1", "DEBUG": "1"}
    assert prod_function.environment == {"STAGE": "prod", "HOME_REGION": "eu-west-1", "DEBUG": "0"}
    assert (dev_function.reserved_concurrency, prod_function.reserved_concurrency) == (None, 4)
    assert [
        (m.event_source_arn, m.batch_size, m.maximum_batching_window_in_seconds)
        for m in dev.config.mappings
    ] == [(queue_arn("jobs-jobs-dev"), 7, 0)]
    assert sorted(
        (m.event_source_arn, m.batch_size, m.maximum_batching_window_in_seconds)
        for m in prod.config.mappings
    ) == [(queue_arn("jobs-audit-prod"), 1, 0), (queue_arn("jobs-jobs-prod"), 10, 1)]
    assert prod.built is not None
    assert dev.built is not None
    assert [r.name for r in dev.built.plan.resources] == ["jobs-jobs-dev"]
    assert [r.name for r in prod.built.plan.resources] == ["jobs-jobs-prod", "jobs-audit-prod"]


async def test_a_parameterised_template_runs_as_the_hand_written_config(
    sqs: Any, endpoint: str, tmp_path: Path
) -> None:
    stack = unique("tpl")
    source, loaded = load_template(
        "parameterised.yaml", base_config(tmp_path, endpoint), stack, Stage="prod"
    )
    jobs, audit = f"{stack}-jobs-prod", f"{stack}-audit-prod"
    names = {queue_arn(jobs): "jobs", queue_arn(audit): "audit"}
    async with running_template(source, loaded):
        await _two_queues(sqs, jobs, audit)
    from_template = _sqs_views(names)

    itest_handlers.reset()
    hand_jobs, hand_audit = unique("hand-jobs"), unique("hand-audit")
    make_queue(sqs, hand_jobs)
    make_queue(sqs, hand_audit)
    hand = hand_config(endpoint) + textwrap.dedent(f"""\
        functions:
          jobs-prod:
            handler: app.handler
            code_uri: "{CODE}"
            reserved_concurrency: 4
            environment: {{STAGE: prod, HOME_REGION: eu-west-1, DEBUG: "0"}}
        mappings:
          - {{FunctionName: jobs-prod, EventSourceArn: "{queue_arn(hand_jobs)}", BatchSize: 10, MaximumBatchingWindowInSeconds: 1}}
          - {{FunctionName: jobs-prod, EventSourceArn: "{queue_arn(hand_audit)}", BatchSize: 1}}
        """)
    async with running(hand):
        await _two_queues(sqs, hand_jobs, hand_audit)
    from_hand = _sqs_views({queue_arn(hand_jobs): "jobs", queue_arn(hand_audit): "audit"})
    _same_deliveries(from_template, from_hand)
    assert {c["function_name"] for c in calls()} == {"jobs-prod"}


async def _two_queues(sqs: Any, jobs: str, audit: str) -> None:
    send(sqs, sqs.get_queue_url(QueueName=jobs)["QueueUrl"], [f"job-{i}" for i in range(6)])
    send(sqs, sqs.get_queue_url(QueueName=audit)["QueueUrl"], [f"audit-{i}" for i in range(3)])
    await wait_for(lambda: len({r["body"] for r in itest_handlers.records()}) >= 9, timeout=60)


async def test_a_cdk_synthesised_template_runs_as_the_hand_written_config(
    sqs: Any, endpoint: str, tmp_path: Path
) -> None:
    stack = unique("OrdersStack")
    source, loaded = load_template(
        "cdk.out/OrdersStack.template.json", base_config(tmp_path, endpoint), stack
    )
    queue = f"{stack}-OrdersQueue1A2B3C4D"
    function = loaded.config.functions["OrdersHandler5F6B0E8C"]
    assert function.code_uri == str(TEMPLATES / "cdk.out" / "asset.7c3f9a1e2b4d")
    assert function.environment == {"QUEUE_URL": f"{endpoint}/{ACCOUNT}/{queue}"}
    assert loaded.built is not None
    assert any(
        "OrdersHandlerServiceRole9E5D3B41 is the template's own role" in n
        for n in loaded.built.notes
    )
    async with running_template(source, loaded):
        url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])[
            "Attributes"
        ] == {"VisibilityTimeout": "20"}
        send(sqs, url, [f"ok-{i}" for i in range(9)])
        await wait_for(lambda: len(itest_handlers.records()) >= 9, timeout=60)
    from_template = _sqs_views({queue_arn(queue): "orders"})

    itest_handlers.reset()
    hand_queue = unique("hand-orders")
    hand_url = make_queue(sqs, hand_queue, visibility=20)
    hand = hand_config(endpoint) + textwrap.dedent(f"""\
        functions:
          OrdersHandler5F6B0E8C:
            handler: index.handler
            code_uri: "{TEMPLATES / "cdk.out" / "asset.7c3f9a1e2b4d"}"
            timeout: 10
        mappings:
          - FunctionName: OrdersHandler5F6B0E8C
            EventSourceArn: "{queue_arn(hand_queue)}"
            BatchSize: 4
            MaximumBatchingWindowInSeconds: 1
            FunctionResponseTypes: [ReportBatchItemFailures]
        """)
    async with running(hand):
        send(sqs, hand_url, [f"ok-{i}" for i in range(9)])
        await wait_for(lambda: len(itest_handlers.records()) >= 9, timeout=60)
    _same_deliveries(from_template, _sqs_views({queue_arn(hand_queue): "orders"}))
    assert {c["function_name"] for c in calls()} == {"OrdersHandler5F6B0E8C"}
