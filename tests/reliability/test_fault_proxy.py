"""The fault proxy itself: each fault reaches a botocore client as the real service's would."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import pytest
from fault_proxy import Call, FaultPlan, FaultProxy, plan
from sqs_support import REGION, make_queue, send, unique

pytestmark = pytest.mark.integration


@pytest.fixture
def proxy(endpoint: str) -> Iterator[FaultProxy]:
    with FaultProxy(endpoint, slow_cap=10) as proxy:
        yield proxy


def client(proxy: FaultProxy, service: str, read_timeout: float = 5) -> Any:
    config = botocore.config.Config(
        retries={"total_max_attempts": 1}, read_timeout=read_timeout, connect_timeout=2
    )
    return boto3.client(service, region_name=REGION, endpoint_url=proxy.url, config=config)


def test_calls_pass_through_unchanged_and_are_attributed(proxy: FaultProxy, sqs: Any) -> None:
    url = make_queue(sqs, unique("fp"))
    send(sqs, url, ["a", "b"])
    through = client(proxy, "sqs")
    got = through.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    assert sorted(m["Body"] for m in got["Messages"]) == ["a", "b"]
    assert proxy.tally.calls[Call("sqs", "ReceiveMessage")] == 1
    assert not proxy.tally.injected


@pytest.mark.parametrize(
    ("service", "codes"),
    [
        ("sqs", {"RequestThrottled", "ThrottlingException"}),
        ("kinesis", {"ProvisionedThroughputExceededException", "LimitExceededException"}),
        ("dynamodb", {"ProvisionedThroughputExceededException", "ThrottlingException"}),
    ],
)
def test_throttles_are_each_services_own(proxy: FaultProxy, service: str, codes: set[str]) -> None:
    proxy.plan = plan(1.0, ["throttle"])
    through = client(proxy, service)
    listing = {"sqs": "list_queues", "kinesis": "list_streams", "dynamodb": "list_tables"}
    call = getattr(through, listing[service])
    seen = set()
    for _ in range(12):
        with pytest.raises(botocore.exceptions.ClientError) as caught:
            call()
        seen.add(caught.value.response["Error"]["Code"])
    assert seen == codes
    assert proxy.tally.faults("throttle", service) == 12


@pytest.mark.parametrize(("kind", "status"), [("http_500", 500), ("http_503", 503)])
def test_server_errors(proxy: FaultProxy, kind: Any, status: int) -> None:
    proxy.plan = plan(1.0, [kind])
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        client(proxy, "kinesis").list_streams()
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


def test_reset_before_never_reaches_the_server(proxy: FaultProxy, sqs: Any) -> None:
    name = unique("fp")
    proxy.plan = plan(1.0, ["reset_before"])
    with pytest.raises(botocore.exceptions.HTTPClientError):
        client(proxy, "sqs").create_queue(QueueName=name)
    assert name not in str(sqs.list_queues().get("QueueUrls", []))


def test_reset_after_the_server_acted(proxy: FaultProxy, sqs: Any) -> None:
    name = unique("fp")
    proxy.plan = plan(1.0, ["reset_after"])
    with pytest.raises(botocore.exceptions.HTTPClientError):
        client(proxy, "sqs").create_queue(QueueName=name)
    assert name in str(sqs.list_queues().get("QueueUrls", []))


def test_slow_answers_outlast_the_read_timeout(proxy: FaultProxy) -> None:
    proxy.plan = plan(1.0, ["slow"])
    with pytest.raises(botocore.exceptions.ReadTimeoutError):
        client(proxy, "kinesis", read_timeout=0.5).list_streams()


def test_truncated_bodies(proxy: FaultProxy, sqs: Any) -> None:
    url = make_queue(sqs, unique("fp"))
    send(sqs, url, ["x" * 1000])
    proxy.plan = plan(1.0, ["truncated"])
    with pytest.raises((botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)):
        client(proxy, "sqs").receive_message(QueueUrl=url, WaitTimeSeconds=0)


def test_only_the_named_calls_get_faults(proxy: FaultProxy) -> None:
    proxy.plan = FaultPlan(1.0, ("http_500",), only=frozenset({"ListStreams"}))
    through = client(proxy, "kinesis")
    with pytest.raises(botocore.exceptions.ClientError):
        through.list_streams()
    through.describe_limits()  # not covered: forwarded
    assert proxy.tally.faults(None, "ListStreams") == 1
    assert proxy.tally.faults(None, "DescribeLimits") == 0
