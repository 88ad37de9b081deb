"""Malformed templates never give a traceback: any value anywhere in a realistic template
(hypothesis replaces one node at a time) gives a configuration or one ConfigError (exit 2)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poller.errors import ConfigError
from poller.templates.build import TemplateOptions, build

SAM: dict[str, Any] = {
    "Transform": "AWS::Serverless-2016-10-31",
    "Parameters": {"Stage": {"Type": "String", "Default": "dev", "AllowedValues": ["dev", "prod"]}},
    "Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}},
    "Globals": {"Function": {"Runtime": "python3.12", "CodeUri": ".", "Timeout": 5}},
    "Resources": {
        "Dlq": {"Type": "AWS::SQS::Queue"},
        "Q": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": {"Fn::Sub": "q-${Stage}"},
                "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": ["Dlq", "Arn"]}},
            },
        },
        "S": {"Type": "AWS::Kinesis::Stream", "Properties": {"ShardCount": 1}},
        "Fn": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "Handler": "app.handler",
                "Environment": {"Variables": {"Q": {"Ref": "Q"}}},
                "ReservedConcurrentExecutions": {"Fn::If": ["IsProd", 5, {"Ref": "AWS::NoValue"}]},
                "Events": {
                    "Sqs": {"Type": "SQS", "Properties": {"Queue": {"Fn::GetAtt": ["Q", "Arn"]}}},
                    "K": {
                        "Type": "Kinesis",
                        "Properties": {
                            "Stream": {"Fn::GetAtt": ["S", "Arn"]},
                            "StartingPosition": "LATEST",
                            "DestinationConfig": {
                                "OnFailure": {"Destination": {"Fn::GetAtt": ["Dlq", "Arn"]}}
                            },
                        },
                    },
                },
            },
        },
    },
}
CFN: dict[str, Any] = {
    "Resources": {
        "Q": {"Type": "AWS::SQS::Queue"},
        "Fn": {
            "Type": "AWS::Lambda::Function",
            "Metadata": {"aws:asset:path": "."},
            "Properties": {
                "Runtime": "python3.12",
                "Handler": "app.handler",
                "Code": {"S3Bucket": "b", "S3Key": "k"},
            },
        },
        "M": {
            "Type": "AWS::Lambda::EventSourceMapping",
            "Properties": {
                "FunctionName": {"Ref": "Fn"},
                "EventSourceArn": {"Fn::GetAtt": ["Q", "Arn"]},
                "BatchSize": 5,
            },
        },
    }
}

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 20000)
    | st.sampled_from(["", "x", "Q", "Fn", "Arn", "Ref", "Fn::GetAtt", "AWS::NoValue", "IsProd"])
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["Ref", "Fn::GetAtt", "Fn::Sub", "Fn::If", "Type", "Properties", "x"]),
            inner,
            max_size=2,
        )
    ),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out.extend(_paths(value, (*prefix, index)))
    return out


def _replace(template: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(template)
    if not path:
        return changed
    node: Any = changed
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return changed


def _check(template: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template))
    (tmp_path / "app.py").write_text("def handler(event, context):\n    return None\n")
    options = TemplateOptions(path=path, account_id="123456789012")
    issues: list[str] | None = None
    try:
        build(options, {}, lambda endpoint, region: "123456789012")
    except ConfigError as exc:  # anything else fails the test, with its traceback
        issues = exc.issues
    assert issues is None or (issues and all(issue.strip() for issue in issues))
    assert not issues or not any("cannot read the template" in i for i in issues), issues


FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(data=st.data(), value=values)
def test_any_value_anywhere_in_a_sam_template(
    data: st.DataObject, value: Any, tmp_path: Path
) -> None:
    where = data.draw(st.sampled_from(_paths(SAM)))
    _check(_replace(SAM, where, value), tmp_path)


@FUZZ
@given(data=st.data(), value=values)
def test_any_value_anywhere_in_a_cloudformation_template(
    data: st.DataObject, value: Any, tmp_path: Path
) -> None:
    where = data.draw(st.sampled_from(_paths(CFN)))
    _check(_replace(CFN, where, value), tmp_path)
