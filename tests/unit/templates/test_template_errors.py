"""Bad templates: each gives one clear message naming the resource and property, and exit 2.

`poller validate --template` runs in-process with the account given, so nothing is asked of
any AWS endpoint.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from poller.cli import main

HEAD = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function: {Runtime: python3.12, CodeUri: ., Handler: app.handler}
Resources:
  Q: {Type: AWS::SQS::Queue}
"""


def _function(
    properties: str, events: str = "Q: {Type: SQS, Properties: {Queue: !GetAtt Q.Arn}}"
) -> str:
    """HEAD and a function `Fn` with these properties (YAML lines) and events."""
    body = textwrap.indent(textwrap.dedent(properties), " " * 6)
    return (
        HEAD
        + "  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        + body
        + "      Events:\n"
        + textwrap.indent(events + "\n", " " * 8)
    )


CASES = [
    (
        "missing handler",
        HEAD.replace(", Handler: app.handler", "") + _function("Timeout: 3\n").removeprefix(HEAD),
        # SAM's own check, at the function's path.
        "Resources.Fn.Properties: Runtime and Handler needs to be present when PackageType is "
        "of type `Zip`",
    ),
    (
        "missing handler (CloudFormation)",
        "Resources:\n"
        "  Q: {Type: AWS::SQS::Queue}\n"
        "  Fn: {Type: AWS::Lambda::Function, Properties: {Runtime: python3.12,"
        " Code: {S3Bucket: b, S3Key: k}}}\n"
        "  M:\n    Type: AWS::Lambda::EventSourceMapping\n"
        "    Properties: {FunctionName: !Ref Fn, EventSourceArn: !GetAtt Q.Arn}\n",
        "Resources.Fn.Properties.Handler: required: module.function of the handler",
    ),
    (
        "unresolvable Ref",
        _function("Environment: {Variables: {URL: !Ref Nowhere}}\n"),
        "Resources.Fn.Properties.Environment.Variables.URL.Ref: Nowhere is neither a parameter "
        "nor a resource",
    ),
    (
        "GetAtt of an unknown resource",
        _function("Timeout: 3\n", "Q: {Type: SQS, Properties: {Queue: !GetAtt Missing.Arn}}"),
        "Resources.Fn.Properties.Events.Q.Properties.Queue.Fn::GetAtt: no resource named "
        "'Missing' in this template",
    ),
    (
        "GetAtt of an attribute poller cannot know",
        _function("Timeout: 3\n", "Q: {Type: SQS, Properties: {Queue: !GetAtt Q.Nope}}"),
        "Resources.Fn.Properties.Events.Q.Properties.Queue.Fn::GetAtt: Q.Nope (AWS::SQS::Queue) "
        "is not known without a deployed stack (poller knows: Arn, QueueName, QueueUrl)",
    ),
    (
        "a Kafka event",
        _function("Timeout: 3\n", "K: {Type: Kafka, Properties: {Topics: [t]}}"),
        "Resources.Fn.Properties.Events.K.Type: Kafka event sources are not supported (poller "
        "reads SQS, Kinesis, DynamoDB)",
    ),
    (
        "an MQ event",
        _function("Timeout: 3\n", "M: {Type: MQ, Properties: {Broker: b, Queues: [q]}}"),
        "Resources.Fn.Properties.Events.M.Type: MQ event sources are not supported",
    ),
    (
        "a Node.js function without an image or URL",
        _function("Runtime: nodejs20.x\nHandler: index.handler\n"),
        "Resources.Fn.Properties.Runtime: nodejs20.x: poller runs Python handlers itself; for "
        "others, give --function-url Fn=URL",
    ),
    (
        "an image function without a URL",
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Q: {Type: AWS::SQS::Queue}\n"
        "  Fn:\n    Type: AWS::Serverless::Function\n"
        "    Properties:\n      PackageType: Image\n      ImageUri: repo/fn:latest\n"
        "      Events: {Q: {Type: SQS, Properties: {Queue: !GetAtt Q.Arn}}}\n",
        "Resources.Fn.Properties.PackageType: Image: poller does not start containers; run the "
        "image with its emulator (docker run -p 9000:8080 IMAGE) and give --function-url Fn=URL",
    ),
    (
        "a BatchSize over Lambda's limit",
        _function(
            "Timeout: 3\n", "Q: {Type: SQS, Properties: {Queue: !GetAtt Q.Arn, BatchSize: 20000}}"
        ),
        "Resources.Fn.Properties.Events.Q.Properties.BatchSize: Value '20000' failed to satisfy "
        "constraint: Member must have value less than or equal to 10000",
    ),
    (
        "an event property SAM does not define",
        _function("Timeout: 3\n", "Q: {Type: SQS, Properties: {Queue: !GetAtt Q.Arn, Bogus: 1}}"),
        "Resources.Fn.Properties.Events.Q.Properties: property Bogus not defined for resource of "
        "type SQS",
    ),
    (
        "an import without a value",
        _function("Timeout: 3\n", "Q: {Type: SQS, Properties: {Queue: !ImportValue shared-queue}}"),
        "Resources.Fn.Properties.Events.Q.Properties.Queue.Fn::ImportValue: imports the export "
        "'shared-queue', which only a deployed stack has: give its value with --import-values "
        "shared-queue=VALUE",
    ),
    (
        "a CloudFormation mapping from an MQ broker",
        "Resources:\n"
        "  Fn: {Type: AWS::Lambda::Function, Properties: {Runtime: python3.12, Handler: a.b,"
        " Code: {ZipFile: x}}}\n"
        "  M:\n    Type: AWS::Lambda::EventSourceMapping\n"
        "    Properties: {FunctionName: !Ref Fn, Queues: [q],"
        " EventSourceArn: 'arn:aws:mq:us-east-1:123456789012:broker:b:b-1'}\n",
        "Resources.M.Properties.Queues: not supported: poller reads SQS, Kinesis and DynamoDB",
    ),
    (
        "inline code",
        "Resources:\n"
        "  Q: {Type: AWS::SQS::Queue}\n"
        "  Fn: {Type: AWS::Lambda::Function, Properties: {Runtime: python3.12, Handler: index.h,"
        " Code: {ZipFile: 'def h(e, c): pass'}}}\n"
        "  M:\n    Type: AWS::Lambda::EventSourceMapping\n"
        "    Properties: {FunctionName: !Ref Fn, EventSourceArn: !GetAtt Q.Arn}\n",
        "Resources.Fn.Properties.Code.ZipFile: inline code is not run",
    ),
    (
        "a mapping of a function not in the template",
        "Resources:\n"
        "  Q: {Type: AWS::SQS::Queue}\n"
        "  M:\n    Type: AWS::Lambda::EventSourceMapping\n"
        "    Properties: {FunctionName: orders-prod, EventSourceArn: !GetAtt Q.Arn}\n",
        "Resources.M.Properties.FunctionName: names the function 'orders-prod', which is not in "
        "this template",
    ),
    (
        "a template without triggers",
        "Resources:\n  Q: {Type: AWS::SQS::Queue}\n",
        "Resources: no SQS, Kinesis or DynamoDB event source mapping to run",
    ),
    (
        "YAML that is not a template",
        "- just\n- a list\n",
        "the top level must be a mapping (Resources, Parameters, ...)",
    ),
    (
        "an unknown transform",
        "Transform: AWS::Include\n" + HEAD.removeprefix("Transform: AWS::Serverless-2016-10-31\n"),
        "Transform: AWS::Include is not a transform poller can run",
    ),
]


CFN_FUNCTION = (
    "  Fn:\n    Type: AWS::Lambda::Function\n    Metadata: {aws:asset:path: .}\n"
    "    Properties: {Runtime: python3.12, Handler: app.handler, Code: {S3Bucket: b, S3Key: k}}\n"
)
CFN_MAPPING = (
    "  M:\n    Type: AWS::Lambda::EventSourceMapping\n"
    "    Properties: {FunctionName: !Ref Fn, EventSourceArn: !GetAtt Q.Arn}\n"
)

QUEUE_AND_FUNCTION = "  Q: {Type: AWS::SQS::Queue}\n" + CFN_FUNCTION + CFN_MAPPING

# Malformed templates, and what only the command line can get wrong: (id, template, the one
# expected message, extra arguments).
SHAPES = [
    (
        "Properties that are a list",
        "Resources:\n  Q: {Type: AWS::SQS::Queue, Properties: [a]}\n" + CFN_FUNCTION + CFN_MAPPING,
        "Resources.Q.Properties: must be a mapping",
        (),
    ),
    (
        "a resource that is a list",
        "Resources:\n  Odd: [1]\n" + QUEUE_AND_FUNCTION,
        "Resources.Odd: a resource must be a mapping with a Type",
        (),
    ),
    (
        "Parameters that are a list",
        "Parameters: [a]\n" + _function("Timeout: 3\n"),
        "Parameters: must be a mapping",
        (),
    ),
    (
        "Globals.Function that is text",
        _function("Timeout: 3\n").replace(
            "  Function: {Runtime: python3.12, CodeUri: ., Handler: app.handler}", "  Function: no"
        ),
        "Globals.Function: must be a mapping of properties",
        (),
    ),
    (
        "an event that is not a mapping",
        _function("Timeout: 3\n", "Q: [SQS]"),
        "Resources.Fn.Properties.Events.Q: an event must be a mapping with a Type",
        (),
    ),
    (
        "a FunctionName the Lambda API refuses",
        "Resources:\n  Q: {Type: AWS::SQS::Queue}\n"
        + CFN_FUNCTION
        + CFN_MAPPING.replace("!Ref Fn", "'not valid!'"),
        "Resources.M.Properties.FunctionName: Value 'not valid!' at 'functionName' failed to "
        "satisfy constraint",
        (),
    ),
    (
        "a ShardCount that is not a number",
        "Resources:\n  Q: {Type: AWS::Kinesis::Stream, Properties: {ShardCount: abc}}\n"
        + CFN_FUNCTION
        + CFN_MAPPING.replace("EventSourceArn", "StartingPosition: LATEST, EventSourceArn"),
        "Resources.Q.Properties.ShardCount: 'abc' is not a number",
        (),
    ),
    (
        "an SNS event with an SQS subscription",
        _function("Timeout: 3\n", "T: {Type: SNS, Properties: {Topic: t, SqsSubscription: true}}"),
        "Resources.Fn.Properties.Events.T.Properties.SqsSubscription: not supported",
        (),
    ),
    (
        "a nested application",
        _function("Timeout: 3\n")
        + "  App: {Type: AWS::Serverless::Application, Properties: {Location: x}}\n",
        "Resources.App.Type: nested applications are not supported",
        (),
    ),
    (
        "Fn::ForEach",
        "Transform: AWS::LanguageExtensions\nResources:\n  Fn::ForEach::Queues: [Q, [A], {}]\n",
        "Resources.Fn::ForEach::Queues: Fn::ForEach is not supported",
        (),
    ),
    (
        "a mapping of a function whose Condition is false",
        "Conditions: {Never: !Equals [a, b]}\nResources:\n  Q: {Type: AWS::SQS::Queue}\n"
        + CFN_FUNCTION.replace(
            "Type: AWS::Lambda::Function", "Type: AWS::Lambda::Function\n    Condition: Never"
        )
        + CFN_MAPPING,
        "Resources.M.Properties.FunctionName: Fn is not created: its Condition is false",
        (),
    ),
    (
        "a Runtime from a parameter",
        "Parameters: {Rt: {Type: String, Default: nodejs20.x}}\n" + _function("Runtime: !Ref Rt\n"),
        "Resources.Fn.Properties.Runtime: nodejs20.x: poller runs Python handlers itself",
        (),
    ),
    (
        "a circular condition",
        "Conditions: {A: !Not [!Condition A]}\n" + _function("Timeout: !If [A, 3, 4]\n"),
        "Conditions.A: depends on itself",
        (),
    ),
    (
        "a parameter outside its AllowedValues",
        "Parameters:\n  Stage: {Type: String, Default: dev, AllowedValues: [dev, prod]}\n"
        + _function("Timeout: 3\n"),
        "Parameters.Stage: 'qa' is not one of its AllowedValues ['dev', 'prod']",
        ("--parameter-overrides", "Stage=qa"),
    ),
    (
        "an override of no parameter",
        _function("Timeout: 3\n"),
        "--parameter-overrides: Stag is not a parameter of this template",
        ("--parameter-overrides", "Stag=prod"),
    ),
    (
        "a --function-url for no function",
        _function("Timeout: 3\n"),
        "--function-url: Fnn is not a function of this template (Fn)",
        ("--function-url", "Fnn=http://127.0.0.1:9000"),
    ),
    (
        "an unclosed quote",
        _function("Timeout: 3\n"),
        "--parameter-overrides: No closing quotation",
        ("--parameter-overrides", "A='b"),
    ),
]


ALL = [(c[0], c[1], c[2], ()) for c in CASES] + SHAPES


@pytest.mark.parametrize(
    ("text", "expected", "extra"), [c[1:] for c in ALL], ids=[c[0] for c in ALL]
)
def test_a_bad_template_exits_2_with_one_message_naming_where(
    text: str,
    expected: str,
    extra: tuple[str, ...],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(text)
    (tmp_path / "app.py").write_text("def handler(event, context):\n    return None\n")
    argv = ["validate", "--template", str(template), "--account-id", "123456789012", *extra]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    issues = [line.strip() for line in err.splitlines()[1:]]
    assert len(issues) == 1, err
    assert issues[0].startswith(f"{template}: ") or issues[0].startswith("--"), issues[0]
    assert expected in issues[0], issues[0]
