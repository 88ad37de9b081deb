"""A template's functions and mappings as poller's: targets, settings, notes and the forms
FunctionName takes (tables of small templates, built without any AWS endpoint)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from poller.config.models import StreamMappingConfig
from poller.errors import ConfigError
from poller.templates.build import Built, TemplateOptions, build
from poller.templates.functions import Targets

SAM = "Transform: AWS::Serverless-2016-10-31\n"
QUEUE = "  Q: {Type: AWS::SQS::Queue}\n"
EVENT = "Events: {Q: {Type: SQS, Properties: {Queue: !GetAtt Q.Arn}}}"


def built(tmp_path: Path, text: str, targets: Targets | None = None, **options: Any) -> Built:
    template = tmp_path / "template.yaml"
    template.write_text(text)
    (tmp_path / "app.py").write_text("def handler(event, context):\n    return None\n")
    chosen = TemplateOptions(
        path=template, account_id="123456789012", targets=targets or Targets(), **options
    )
    return build(chosen, {}, lambda endpoint, region: "999999999999")


def sam_function(properties: str, events: str = EVENT) -> str:
    return (
        SAM
        + "Resources:\n"
        + QUEUE
        + "  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        + "".join(f"      {line}\n" for line in properties.splitlines())
        + f"      {events}\n"
    )


PYTHON = "Runtime: python3.12\nHandler: app.handler\nCodeUri: .\n"


def test_a_python_function_runs_its_handler_from_its_code_directory(tmp_path: Path) -> None:
    out = built(tmp_path, sam_function(PYTHON + "Timeout: 9\nMemorySize: 1024\n"))
    function = out.config.functions["Fn"]
    assert function.handler == "app.handler"
    assert function.code_uri == str(tmp_path)
    assert (function.timeout, function.memory_size, function.isolation) == (9, 1024, "thread")


def test_a_handler_in_a_subdirectory_is_a_dotted_module(tmp_path: Path) -> None:
    out = built(tmp_path, sam_function("Runtime: python3.12\nHandler: pkg/app.handler\n"))
    assert out.config.functions["Fn"].handler == "pkg.app.handler"


def test_isolation_process_applies_to_python_functions(tmp_path: Path) -> None:
    out = built(tmp_path, sam_function(PYTHON), Targets(isolation="process"))
    assert out.config.functions["Fn"].isolation == "process"


@pytest.mark.parametrize(
    ("given", "url"),
    [
        (
            "http://127.0.0.1:9000",
            "http://127.0.0.1:9000/2015-03-31/functions/function/invocations",
        ),
        (
            "http://127.0.0.1:9000/",
            "http://127.0.0.1:9000/2015-03-31/functions/function/invocations",
        ),
        ("http://127.0.0.1:8080/invoke", "http://127.0.0.1:8080/invoke"),
    ],
)
def test_an_image_function_runs_at_the_url_given(tmp_path: Path, given: str, url: str) -> None:
    text = sam_function("PackageType: Image\nImageUri: repo/fn:1\n")
    out = built(tmp_path, text, Targets(urls={"Fn": given}))
    assert out.config.functions["Fn"].url == url


def test_another_runtime_can_be_a_deployed_function(tmp_path: Path) -> None:
    text = sam_function("Runtime: nodejs20.x\nHandler: index.handler\nCodeUri: .\n")
    out = built(tmp_path, text, Targets(names={"Fn": "orders-prod"}))
    assert out.config.functions["Fn"].function_name == "orders-prod"


def test_functions_whose_environments_conflict_are_pointed_at_process_isolation(
    tmp_path: Path,
) -> None:
    text = (
        SAM
        + "Globals: {Function: {Runtime: python3.12, Handler: app.handler, CodeUri: .}}\n"
        + "Resources:\n"
        + QUEUE
        + "".join(
            f"  {name}:\n    Type: AWS::Serverless::Function\n    Properties:\n"
            f"      Environment: {{Variables: {{MODE: {name}}}}}\n      {EVENT}\n"
            for name in ("A", "B")
        )
    )
    with pytest.raises(ConfigError) as caught:
        built(tmp_path, text)
    (issue,) = caught.value.issues
    assert "Resources.B.Properties.Environment.Variables.MODE: conflicts with" in issue
    assert "--isolation process runs each function in processes of its own" in issue
    assert built(tmp_path, text, Targets(isolation="process")).config.functions["B"].environment


def test_what_is_not_run_is_noted(tmp_path: Path) -> None:
    text = sam_function(
        PYTHON
        + "Layers: [arn:aws:lambda:us-east-1:1:layer:x:1]\nRole: arn:aws:iam::123456789012:role/r\n",
        "Events:\n"
        "        Q: {Type: SQS, Properties: {Queue: !GetAtt Q.Arn}}\n"
        "        Nightly: {Type: Schedule, Properties: {Schedule: rate(1 day)}}",
    )
    out = built(tmp_path, text)
    assert out.notes == [
        "Resources.Fn.Properties.Events.Nightly: Schedule events are pushed by their service, "
        "not polled: not run",
        "Resources.Fn.Properties.Layers: layers are not added: put what the handler imports "
        "under its code directory",
    ]
    # A role written in the template is assumed, as a config's role is.
    assert out.config.functions["Fn"].role == "arn:aws:iam::123456789012:role/r"


CFN_FUNCTION = (
    "  Fn:\n    Type: AWS::Lambda::Function\n    Metadata: {aws:asset:path: .}\n"
    "    Properties: {Runtime: python3.12, Handler: app.handler, Code: {S3Bucket: b, S3Key: k}}\n"
)


@pytest.mark.parametrize(
    "function_name",
    [
        "!Ref Fn",
        "!GetAtt Fn.Arn",
        "Fn",
        "arn:aws:lambda:us-east-1:123456789012:function:Fn",
        "!Ref Live",
    ],
)
def test_a_mapping_names_its_function_in_any_form(tmp_path: Path, function_name: str) -> None:
    text = (
        "Resources:\n"
        + QUEUE
        + CFN_FUNCTION
        + "  Live: {Type: AWS::Lambda::Alias, Properties: {FunctionName: !Ref Fn, Name: live,"
        " FunctionVersion: '1'}}\n"
        + "  M:\n    Type: AWS::Lambda::EventSourceMapping\n"
        + f"    Properties: {{FunctionName: {function_name}, EventSourceArn: !GetAtt Q.Arn,"
        " Enabled: false, Tags: [{Key: a, Value: b}]}\n"
    )
    out = built(tmp_path, text)
    (mapping,) = out.config.mappings
    assert (mapping.function, mapping.enabled, mapping.name) == ("Fn", False, "M")
    assert out.notes == ["Resources.M.Properties.Tags: tags are not used"]


def test_starting_position_timestamp_is_seconds_since_the_epoch(tmp_path: Path) -> None:
    text = (
        "Resources:\n"
        + "  S: {Type: AWS::Kinesis::Stream, Properties: {ShardCount: 1}}\n"
        + CFN_FUNCTION
        + "  M:\n    Type: AWS::Lambda::EventSourceMapping\n"
        + "    Properties: {FunctionName: !Ref Fn, EventSourceArn: !GetAtt S.Arn,"
        " StartingPosition: AT_TIMESTAMP, StartingPositionTimestamp: 1700000000}\n"
    )
    (mapping,) = built(tmp_path, text).config.mappings
    assert isinstance(mapping, StreamMappingConfig)
    assert mapping.starting_position_timestamp is not None
    assert mapping.starting_position_timestamp.isoformat() == "2023-11-14T22:13:20+00:00"


def test_import_values_and_the_account_asked_for_once(tmp_path: Path) -> None:
    text = sam_function(
        PYTHON + "Environment: {Variables: {QUEUE: !GetAtt Q.Arn}}\n",
        "Events: {Q: {Type: SQS, Properties: {Queue: !ImportValue shared}}}",
    )
    template = tmp_path / "template.yaml"
    template.write_text(text)
    options = TemplateOptions(path=template, imports={"shared": "arn:aws:sqs:us-east-1:1:shared"})
    asked: list[tuple[str | None, str]] = []

    def account(endpoint: str | None, region: str) -> str:
        asked.append((endpoint, region))
        return "999999999999"

    sections = {"aws": {"region": "eu-west-1", "endpoint_url": "http://127.0.0.1:1"}}
    out = build(options, sections, account)
    assert asked == [("http://127.0.0.1:1", "eu-west-1")]
    assert out.config.mappings[0].event_source_arn == "arn:aws:sqs:us-east-1:1:shared"
    queue = tmp_path.name.replace("_", "-") + "-Q"
    assert out.config.functions["Fn"].environment == {
        "QUEUE": f"arn:aws:sqs:eu-west-1:999999999999:{queue}"
    }
    assert out.plan.resources[0].name == queue


def test_an_environment_chosen_by_a_condition(tmp_path: Path) -> None:
    text = "Conditions: {Chosen: !Equals [a, a]}\n" + sam_function(
        PYTHON + "Environment: !If [Chosen, {Variables: {MODE: fast}}, !Ref AWS::NoValue]\n"
    )
    assert built(tmp_path, text).config.functions["Fn"].environment == {"MODE": "fast"}
    no = text.replace("!Equals [a, a]", "!Equals [a, b]")
    assert built(tmp_path, no).config.functions["Fn"].environment == {}


def test_a_mapping_of_an_alias_names_its_qualifier(tmp_path: Path) -> None:
    text = sam_function(PYTHON + "AutoPublishAlias: live\n")
    (mapping,) = built(tmp_path, text).config.mappings
    assert (mapping.function, mapping.function_qualifier) == ("Fn", "live")
    remote = built(tmp_path, text, Targets(names={"Fn": "orders-prod"}))
    assert remote.config.functions["Fn"].qualifier == "live"


def test_a_config_files_own_mappings_come_first_and_keep_their_paths(tmp_path: Path) -> None:
    sections: dict[str, Any] = {
        "functions": {"mine": {"handler": "mine:handler"}},
        "mappings": [
            {"FunctionName": "mine", "EventSourceArn": "arn:aws:sqs:us-east-1:1:q", "BatchSize": 0}
        ],
    }
    template = tmp_path / "template.yaml"
    template.write_text(sam_function(PYTHON))
    (tmp_path / "app.py").write_text("def handler(event, context):\n    return None\n")
    options = TemplateOptions(path=template, account_id="123456789012")
    with pytest.raises(ConfigError) as caught:
        build(options, sections, lambda endpoint, region: "1")
    assert caught.value.issues == [
        "mappings[0].BatchSize: Value '0' failed to satisfy constraint: Member must have value "
        "greater than or equal to 1"
    ]
    sections["mappings"][0]["BatchSize"] = 1
    out = build(options, sections, lambda endpoint, region: "1")
    assert [m.function for m in out.config.mappings] == ["mine", "Fn"]
