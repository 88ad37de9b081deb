"""SAM templates: AWS's own transform (aws-sam-translator) turns them into the CloudFormation
they deploy as, so poller reads SAM, `sam build` output and `cdk synth` output one way:
`AWS::Lambda::Function` and `AWS::Lambda::EventSourceMapping` resources.

Before the transform, each `AWS::Serverless::Function`'s local `CodeUri` is put aside (the
transform takes only S3 locations) and its events that are not event source mappings (Api,
Schedule, S3, ...) are left out, with a note: they are triggers poller does not run.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from typing import Any

from poller.templates.errors import TemplateError

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
# Transforms a template may name besides SAM's: the intrinsics of AWS::LanguageExtensions that
# poller resolves (Fn::Length, Fn::ToJsonString) are in intrinsics.py.
_KNOWN_TRANSFORMS = {SAM_TRANSFORM, "AWS::LanguageExtensions"}
# SAM event types that become event source mappings poller runs, and the property naming the
# source (its EventSourceArn in the CloudFormation the transform writes).
TRIGGERS = {"SQS": "Queue", "Kinesis": "Stream", "DynamoDB": "Stream"}
# SAM event types that become event source mappings of sources poller does not read.
_OTHER_MAPPINGS = {"MSK", "MQ", "SelfManagedKafka", "DocumentDB", "Kafka"}
# SAM event types that are not event source mappings: the service pushes, no poller involved.
PUSHED = {
    "Api",
    "HttpApi",
    "S3",
    "SNS",
    "Schedule",
    "ScheduleV2",
    "CloudWatchEvent",
    "EventBridgeRule",
    "CloudWatchLogs",
    "IoTRule",
    "AlexaSkill",
    "Cognito",
}
# Resource types the transform would resolve by calling AWS itself.
_REFUSED = {
    "AWS::Serverless::Application": "nested applications are not supported: the transform "
    "would fetch them from the Serverless Application Repository",
}
# The bucket the put-aside code locations name while the transform runs.
_CODE_BUCKET = "poller-local-code"


@dataclass
class Expanded:
    """A template as CloudFormation, with what the transform's output cannot say itself."""

    template: dict[str, Any]
    # Function logical ID → its local code directory as written (CodeUri), or None.
    code: dict[str, str | None] = field(default_factory=dict)
    # Generated logical ID → the SAM path it came from (`Resources.Fn.Properties.Events.Q`).
    origins: dict[str, str] = field(default_factory=dict)
    # Generated logical ID → {CloudFormation property: the SAM property it came from}.
    renamed: dict[str, dict[str, str]] = field(default_factory=dict)
    # `(path, note)` for what was read and deliberately not run.
    notes: list[tuple[str, str]] = field(default_factory=list)
    # Functions whose execution role SAM writes (no `Role` given): nothing to say about it.
    generated_roles: set[str] = field(default_factory=set)


def transforms(template: dict[str, Any]) -> list[str]:
    named = template.get("Transform") or []
    return [named] if isinstance(named, str) else [str(t) for t in named]


def expand(template: dict[str, Any], parameters: dict[str, str], region: str) -> Expanded:
    """The template as CloudFormation; a template without SAM's transform is returned as it is.
    Raises TemplateError (one per problem the transform reports, joined) with SAM paths."""
    named = transforms(template)
    for name in named:
        if name not in _KNOWN_TRANSFORMS:
            raise TemplateError("Transform", f"{name} is not a transform poller can run")
    if SAM_TRANSFORM not in named:
        return Expanded(template)
    sam = copy.deepcopy(template)
    out = Expanded(sam)
    globals_ = ((sam.get("Globals") or {}).get("Function")) or {}
    shared_code = globals_.pop("CodeUri", None)
    for logical_id, resource in (sam.get("Resources") or {}).items():
        if resource["Type"] in _REFUSED:
            raise TemplateError(f"Resources.{logical_id}.Type", _REFUSED[resource["Type"]])
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = resource.setdefault("Properties", {})
        _put_code_aside(logical_id, properties, shared_code, out)
        if "Role" not in properties:
            out.generated_roles.add(logical_id)
        _keep_triggers(logical_id, properties, out)
    out.template = _translate(sam, parameters, region, out.origins)
    return out


def _put_code_aside(
    logical_id: str, properties: dict[str, Any], shared: Any, out: Expanded
) -> None:
    where = f"Resources.{logical_id}.Properties"
    if properties.get("PackageType") == "Image" or "InlineCode" in properties:
        return
    code = properties.get("CodeUri", shared)
    if code is None:
        code = "."  # SAM CLI's default: the template's own directory
    if isinstance(code, str) and not code.startswith("s3://"):
        out.code[logical_id] = code
    elif isinstance(code, str | dict):
        out.code[logical_id] = None  # in S3: runnable only through another target
    else:
        raise TemplateError(f"{where}.CodeUri", "must be a path or an S3 location")
    properties["CodeUri"] = f"s3://{_CODE_BUCKET}/{logical_id}"


def _keep_triggers(logical_id: str, properties: dict[str, Any], out: Expanded) -> None:
    events = properties.get("Events") or {}
    where = f"Resources.{logical_id}.Properties.Events"
    if not isinstance(events, dict):
        raise TemplateError(where, "must be a mapping of events")
    out.origins[logical_id] = f"Resources.{logical_id}.Properties"
    for name, event in list(events.items()):
        if not isinstance(event, dict) or not isinstance(event.get("Type"), str):
            raise TemplateError(f"{where}.{name}", "an event must be a mapping with a Type")
        kind = event["Type"]
        if kind == "SNS" and (event.get("Properties") or {}).get("SqsSubscription"):
            raise TemplateError(
                f"{where}.{name}.Properties.SqsSubscription",
                "not supported: SAM would subscribe a queue it creates to the topic; declare "
                "the queue, its subscription and an SQS event instead",
            )
        if kind in TRIGGERS:
            out.origins[f"{logical_id}{name}"] = f"{where}.{name}.Properties"
            out.renamed[f"{logical_id}{name}"] = {"EventSourceArn": TRIGGERS[kind]}
            continue
        if kind in PUSHED:
            out.notes.append(
                (
                    f"{where}.{name}",
                    f"{kind} events are pushed by their service, not polled: not run",
                )
            )
            del events[name]
            continue
        if kind in _OTHER_MAPPINGS:
            message = (
                f"{kind} event sources are not supported (poller reads SQS, Kinesis, DynamoDB)"
            )
        else:
            message = f"{kind!r} is not an event type poller runs (SQS, Kinesis, DynamoDB)"
        raise TemplateError(f"{where}.{name}.Type", message)


def _translate(
    sam: dict[str, Any], parameters: dict[str, str], region: str, origins: dict[str, str]
) -> dict[str, Any]:
    try:
        import boto3
        from samtranslator.parser.parser import Parser
        from samtranslator.public.exceptions import InvalidDocumentException
        from samtranslator.translator.translator import Translator
    except ImportError as exc:  # pragma: no cover - the extra is part of `local` and `test`
        raise TemplateError(
            "Transform",
            "SAM templates need the 'templates' extra: pip install 'poller[templates]'",
        ) from exc
    # Its metrics are CloudWatch's business when AWS runs the transform; here they are noise.
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    try:
        translated: dict[str, Any] = translator.translate(
            sam, parameter_values=dict(parameters), get_managed_policy_map=lambda: {}
        )
    except InvalidDocumentException as exc:
        raise TemplateError("", "\n".join(_cause(c.message, origins) for c in exc.causes)) from exc
    except Exception as exc:  # the transform's own failures: name them, never a traceback
        raise TemplateError("Transform", f"the SAM transform failed: {exc}") from exc
    return translated


def _cause(message: str, origins: dict[str, str]) -> str:
    """The transform's message with the path of the resource (or event) it names."""
    prefix = "Resource with id ["
    if message.startswith(prefix) and "]" in message:
        logical_id, rest = message[len(prefix) :].split("]", 1)
        rest = rest.removeprefix(" is invalid.").strip()
        return f"{origins.get(logical_id, f'Resources.{logical_id}')}: {rest}"
    return message
