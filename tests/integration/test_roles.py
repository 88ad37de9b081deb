"""Execution roles: a function's role is assumed through moto's STS and its credentials are the
ones its source's client signs with."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from sqs_support import ACCOUNT, REGION, unique

from poller.aws import Aws
from poller.config.settings import AwsConfig
from poller.roles import assume_role
from poller.telemetry.metrics import Metrics

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


def _role(endpoint: str) -> str:
    iam = boto3.client("iam", region_name=REGION, endpoint_url=endpoint)
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}],
    }
    name = unique("orders-exec")
    return str(
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    )


async def test_sources_are_read_as_the_assumed_role(endpoint: str, sqs: Any) -> None:
    role = _role(endpoint)
    base = Aws(AwsConfig(region=REGION, endpoint_url=endpoint), Metrics())
    aws = await assume_role(base, role, "orders")
    async with aws.client("sts") as sts:
        identity = await sts.get_caller_identity()
    assert identity["Arn"].startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/")
    assert "/poller-orders" in identity["Arn"]
    # The source client of that Aws signs with the assumed (temporary) credentials.
    async with aws.client("sqs") as client:
        credentials = await client._request_signer._credentials.get_frozen_credentials()
        url = (await client.create_queue(QueueName=unique("q")))["QueueUrl"]
    assert credentials.access_key != "testing"  # not the base credentials of the test suite
    assert credentials.token  # a session token: temporary credentials from STS
    assert url
