"""Intrinsic functions resolved without a deployed stack: a table of template fragments and
what each resolves to, and of what each refuses with its path."""

from __future__ import annotations

import re
from typing import Any

import pytest

from poller.templates.errors import TemplateError
from poller.templates.intrinsics import NO_VALUE, Resolver
from poller.templates.stack import Stack, default_stack_name, parse_pairs

TEMPLATE: dict[str, Any] = {
    "Parameters": {
        "Stage": {"Type": "String", "Default": "dev", "AllowedValues": ["dev", "prod"]},
        "Size": {"Type": "Number", "Default": 5},
        "Zones": {"Type": "CommaDelimitedList", "Default": "a,b,c"},
        "Secret": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/app/secret"},
        "Required": {"Type": "String"},
    },
    "Conditions": {
        "IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
        "IsDev": {"Fn::Not": [{"Condition": "IsProd"}]},
        "Both": {"Fn::And": [{"Condition": "IsDev"}, {"Fn::Equals": [{"Ref": "Size"}, "5"]}]},
        "Either": {"Fn::Or": [{"Condition": "IsProd"}, {"Condition": "IsDev"}]},
    },
    "Mappings": {"Sizes": {"dev": {"Batch": 10}, "prod": {"Batch": 100}}},
    "Resources": {
        "Queue": {"Type": "AWS::SQS::Queue"},
        "Fifo": {"Type": "AWS::SQS::Queue", "Properties": {"FifoQueue": True}},
        "Named": {
            "Type": "AWS::SQS::Queue",
            "Properties": {"QueueName": {"Fn::Sub": "q-${Stage}"}},
        },
        "Stream": {"Type": "AWS::Kinesis::Stream", "Properties": {"ShardCount": 1}},
        "Table": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": "items",
                "StreamSpecification": {"StreamViewType": "KEYS_ONLY"},
            },
        },
        "Plain": {"Type": "AWS::DynamoDB::Table"},
        "Topic": {"Type": "AWS::SNS::Topic"},
        "Bucket": {"Type": "AWS::S3::Bucket"},
        "Fn": {"Type": "AWS::Lambda::Function"},
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "runner"}},
        "ProdOnly": {"Type": "AWS::SQS::Queue", "Condition": "IsProd"},
        "Param": {"Type": "AWS::SSM::Parameter"},
    },
}
ACCOUNT = "123456789012"
ARN = f"arn:aws:sqs:eu-west-1:{ACCOUNT}"


def resolver(**parameters: str) -> Resolver:
    stack = Stack(
        "shop",
        "eu-west-1",
        lambda: ACCOUNT,
        endpoint_url="http://127.0.0.1:4566",
        parameters=parameters,
        imports={"shared-arn": "arn:aws:sqs:eu-west-1:1:shared"},
    )
    return Resolver(TEMPLATE, stack)


RESOLVED = [
    ({"Ref": "Stage"}, "dev"),
    ({"Ref": "Size"}, 5),
    ({"Ref": "Zones"}, ["a", "b", "c"]),
    ({"Ref": "AWS::Region"}, "eu-west-1"),
    ({"Ref": "AWS::AccountId"}, ACCOUNT),
    ({"Ref": "AWS::StackName"}, "shop"),
    ({"Ref": "AWS::Partition"}, "aws"),
    ({"Ref": "AWS::URLSuffix"}, "amazonaws.com"),
    ({"Ref": "Queue"}, f"http://127.0.0.1:4566/{ACCOUNT}/shop-Queue"),
    ({"Ref": "Named"}, f"http://127.0.0.1:4566/{ACCOUNT}/q-dev"),
    ({"Ref": "Stream"}, "shop-Stream"),
    ({"Ref": "Table"}, "items"),
    ({"Ref": "Topic"}, f"arn:aws:sns:eu-west-1:{ACCOUNT}:shop-Topic"),
    ({"Ref": "Bucket"}, "shop-bucket"),
    ({"Ref": "Fn"}, "Fn"),
    ({"Ref": "Role"}, "runner"),
    ({"Fn::GetAtt": ["Queue", "Arn"]}, f"{ARN}:shop-Queue"),
    ({"Fn::GetAtt": "Fifo.Arn"}, f"{ARN}:shop-Fifo.fifo"),
    ({"Fn::GetAtt": ["Queue", "QueueName"]}, "shop-Queue"),
    ({"Fn::GetAtt": ["Queue", "QueueUrl"]}, f"http://127.0.0.1:4566/{ACCOUNT}/shop-Queue"),
    ({"Fn::GetAtt": ["Stream", "Arn"]}, f"arn:aws:kinesis:eu-west-1:{ACCOUNT}:stream/shop-Stream"),
    ({"Fn::GetAtt": ["Table", "Arn"]}, f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/items"),
    # StreamArn: the table's ARN, which poller reads as the table's latest stream.
    ({"Fn::GetAtt": ["Table", "StreamArn"]}, f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/items"),
    ({"Fn::GetAtt": ["Topic", "TopicName"]}, "shop-Topic"),
    ({"Fn::GetAtt": ["Bucket", "Arn"]}, "arn:aws:s3:::shop-bucket"),
    ({"Fn::GetAtt": ["Fn", "Arn"]}, f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:Fn"),
    ({"Fn::GetAtt": ["Role", "Arn"]}, f"arn:aws:iam::{ACCOUNT}:role/runner"),
    ({"Fn::Sub": "${AWS::StackName}-${Stage}-${Queue.QueueName}"}, "shop-dev-shop-Queue"),
    ({"Fn::Sub": "${!Literal}-${Stage}"}, "${Literal}-dev"),
    ({"Fn::Sub": ["${A}/${Stage}", {"A": {"Ref": "Size"}}]}, "5/dev"),
    ({"Fn::Join": [":", ["a", {"Ref": "Stage"}, 3]]}, "a:dev:3"),
    ({"Fn::Select": [1, {"Ref": "Zones"}]}, "b"),
    ({"Fn::Select": ["0", ["x", "y"]]}, "x"),
    ({"Fn::Split": [",", "p,q"]}, ["p", "q"]),
    ({"Fn::If": ["IsProd", 100, 10]}, 10),
    ({"Fn::If": ["Both", "yes", "no"]}, "yes"),
    ({"Fn::If": ["Either", "yes", "no"]}, "yes"),
    ({"Fn::If": ["IsProd", 1, {"Ref": "AWS::NoValue"}]}, NO_VALUE),
    ({"Fn::FindInMap": ["Sizes", {"Ref": "Stage"}, "Batch"]}, 10),
    ({"Fn::ImportValue": "shared-arn"}, "arn:aws:sqs:eu-west-1:1:shared"),
    ({"Fn::Base64": "hi"}, "aGk="),
    ({"Fn::Length": [1, 2, {"Ref": "AWS::NoValue"}]}, 2),
    ({"Fn::ToJsonString": {"a": {"Ref": "Stage"}}}, '{"a":"dev"}'),
    ({"k": {"Fn::If": ["IsProd", 1, {"Ref": "AWS::NoValue"}]}, "j": 2}, {"j": 2}),
    ([1, {"Ref": "AWS::NoValue"}, 3], [1, 3]),
    ({"Plain": {"Nested": ["x"]}}, {"Plain": {"Nested": ["x"]}}),
]


@pytest.mark.parametrize(("value", "expected"), RESOLVED, ids=[str(v) for v, _ in RESOLVED])
def test_resolves(value: Any, expected: Any) -> None:
    assert resolver().resolve(value, "X") == expected


def test_parameters_take_overrides() -> None:
    r = resolver(Stage="prod", Size="7", Required="given")
    assert r.resolve({"Fn::If": ["IsProd", "p", "d"]}, "X") == "p"
    assert r.resolve({"Ref": "Size"}, "X") == 7
    assert r.resolve({"Ref": "Required"}, "X") == "given"
    assert r.resolve({"Ref": "Named"}, "X").endswith("/q-prod")


REFUSED = [
    ({"Ref": "Nowhere"}, "X.Ref: Nowhere is neither a parameter nor a resource"),
    ({"Ref": "AWS::Nope"}, "X.Ref: unknown pseudo parameter AWS::Nope"),
    (
        {"Ref": "Required"},
        "X.Ref: Parameters.Required has no Default: give it with "
        "--parameter-overrides Required=VALUE",
    ),
    (
        {"Ref": "Secret"},
        "X.Ref: Parameters.Secret is read from SSM Parameter Store (/app/secret) "
        "when deployed: give its value with --parameter-overrides Secret=VALUE",
    ),
    ({"Ref": "Param"}, "X.Ref: Ref of Param (AWS::SSM::Parameter) needs a deployed stack"),
    ({"Ref": "ProdOnly"}, "X.Ref: ProdOnly is not created: its Condition is false"),
    ({"Fn::GetAtt": ["Missing", "Arn"]}, "X.Fn::GetAtt: no resource named 'Missing'"),
    (
        {"Fn::GetAtt": ["Stream", "ShardCount"]},
        "X.Fn::GetAtt: Stream.ShardCount "
        "(AWS::Kinesis::Stream) is not known without a deployed stack (poller knows: Arn)",
    ),
    ({"Fn::GetAtt": "Queue"}, "X.Fn::GetAtt: Fn::GetAtt takes [LogicalId, Attribute]"),
    ({"Fn::If": ["Nope", 1, 2]}, "X.Fn::If[0]: no condition named 'Nope' in Conditions"),
    ({"Fn::Select": [5, ["a"]]}, "X.Fn::Select: index 5 is not in the list"),
    ({"Fn::FindInMap": ["Sizes", "qa", "Batch"]}, "X.Fn::FindInMap: no Sizes.qa.Batch in Mappings"),
    ({"Fn::ImportValue": "other"}, "X.Fn::ImportValue: imports the export 'other'"),
    ({"Fn::GetAZs": ""}, "X.Fn::GetAZs: Fn::GetAZs is not supported"),
    ({"Fn::Sub": "${Nope}"}, "X.Fn::Sub: Nope is neither a parameter nor a resource"),
    ({"Fn::Join": [",", "notalist"]}, "X.Fn::Join[1]: must be a list"),
    ({"Fn::Join": [",", [["nested"]]]}, "X.Fn::Join[1][0]: must be a string, not a list"),
    ({"Fn::If": [["IsProd"], 1, 2]}, "X.Fn::If[0]: must be the name of a condition"),
    (
        {"Fn::GetAtt": ["Plain", "StreamArn"]},
        "X.Fn::GetAtt: Plain has no stream: give it a StreamSpecification",
    ),
    ({"Fn::GetAtt": ["Role", "RoleId"]}, "X.Fn::GetAtt: Role.RoleId (AWS::IAM::Role) is not known"),
]


@pytest.mark.parametrize(("value", "message"), REFUSED, ids=[m for _, m in REFUSED])
def test_refuses_with_the_path(value: Any, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        resolver().resolve(value, "X")
    assert message in str(caught.value)


def test_a_value_outside_allowed_values_is_refused() -> None:
    with pytest.raises(TemplateError, match=r"Parameters.Stage: 'qa' is not one of"):
        resolver(Stage="qa")


def test_a_condition_that_depends_on_itself_is_refused() -> None:
    template = {
        "Conditions": {"A": {"Condition": "B"}, "B": {"Fn::Not": [{"Condition": "A"}]}},
        "Resources": {},
    }
    r = Resolver(template, Stack("s", "us-east-1", lambda: ACCOUNT))
    with pytest.raises(TemplateError, match=r"Conditions\.A: depends on itself"):
        r.condition("A", "X")


@pytest.mark.parametrize(
    ("spec", "given", "message"),
    [
        ({"AllowedPattern": "[a-z]+"}, "ABC", "'ABC' does not match its AllowedPattern [a-z]+"),
        ({"MinLength": 3}, "ab", "'ab' is outside its MinLength 3"),
        ({"MaxLength": "2"}, "abc", "'abc' is outside its MaxLength 2"),
        ({"Type": "Number", "MinValue": 1}, "0", "'0' is outside its MinValue 1"),
        ({"Type": "Number", "MaxValue": 10}, "11", "'11' is outside its MaxValue 10"),
        ({"Type": "Number"}, "ten", "'ten' is not a number (Type: Number)"),
        ({"Type": "CommaDelimitedList", "AllowedValues": ["a", "b"]}, "a, c", "'c' is not one of"),
    ],
)
def test_parameter_constraints_are_checked(spec: dict[str, Any], given: str, message: str) -> None:
    template = {"Parameters": {"P": spec}, "Resources": {}}
    with pytest.raises(TemplateError, match=re.escape(f"Parameters.P: {message}")):
        Resolver(template, Stack("s", "us-east-1", lambda: ACCOUNT, parameters={"P": given}))


def test_list_items_are_trimmed_and_within_constraints() -> None:
    template = {
        "Parameters": {"P": {"Type": "CommaDelimitedList", "AllowedValues": ["a", "b"]}},
        "Resources": {},
    }
    r = Resolver(template, Stack("s", "us-east-1", lambda: ACCOUNT, parameters={"P": "a, b"}))
    assert r.resolve({"Ref": "P"}, "X") == ["a", "b"]


def test_the_account_is_asked_for_once_and_only_when_needed() -> None:
    asked: list[int] = []

    def account() -> str:
        asked.append(1)
        return ACCOUNT

    r = Resolver(TEMPLATE, Stack("shop", "eu-west-1", account))
    assert r.resolve({"Ref": "Stream"}, "X") == "shop-Stream"
    assert asked == []
    r.resolve({"Fn::GetAtt": ["Queue", "Arn"]}, "X")
    r.resolve({"Fn::GetAtt": ["Stream", "Arn"]}, "X")
    assert asked == [1]


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (["A=1", "B=x=y"], {"A": "1", "B": "x=y"}),
        (["ParameterKey=Stage,ParameterValue=prod"], {"Stage": "prod"}),
        (["A="], {"A": ""}),
        (["Stage=prod Size=3"], {"Stage": "prod", "Size": "3"}),
        (['Desc="a b" X=1'], {"Desc": "a b", "X": "1"}),
        (
            ["ParameterKey=A,ParameterValue=1 ParameterKey=B,ParameterValue=2"],
            {"A": "1", "B": "2"},
        ),
    ],
)
def test_parse_pairs(items: list[str], expected: dict[str, str]) -> None:
    assert parse_pairs(items, "--parameter-overrides") == expected


def test_parse_pairs_names_a_malformed_item() -> None:
    with pytest.raises(TemplateError, match="--parameter-overrides: 'Stage' is not KEY=VALUE"):
        parse_pairs(["Stage"], "--parameter-overrides")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("apps/orders/template.yaml", "orders"),
        ("cdk.out/OrdersStack.template.json", "OrdersStack"),
        ("stacks/billing_v2.yml", "billing-v2"),
        ("apps/orders/.aws-sam/build/template.yaml", "orders"),
    ],
)
def test_default_stack_name(path: str, expected: str) -> None:
    assert default_stack_name(path) == expected
