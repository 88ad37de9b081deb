"""AWS's own cross-field rules for event source mappings, as pure checks over parsed config.

Each check returns `(path, message)` pairs; messages quote AWS's error text where AWS has one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

from poller.arns import Arn
from poller.config.models import MappingConfig, PollerConfig, StreamMappingConfig
from poller.errors import InvalidPattern
from poller.filtering.pattern import compile_pattern, stream_pattern_issue

Issue = tuple[str, str]

WINDOW_REQUIRED = (
    "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater "
    "than 10"
)
FIFO_BATCH_SIZE = "Batch size for FIFO queues must be less than or equal to 10"
FIFO_WINDOW = "Batching window is not supported for FIFO queues"
POSITION_REQUIRED = (
    "Value null at 'startingPosition' failed to satisfy constraint: Member must not be null"
)
UNSUPPORTED_POSITION = "Unsupported starting position for arn type"
SOURCES = "poller reads SQS queues, Kinesis streams and DynamoDB streams"
RECORD_AGE_MINIMUM = (
    "The minimum valid value for maximum record age is 60s. Although values less than 60 and "
    "greater than -1 fall within the parameter's absolute range, they are not allowed"
)
DESTINATIONS = "an on-failure destination must be an SQS queue, SNS topic or S3 bucket ARN"


def check(config: PollerConfig, now: float | None = None) -> list[Issue]:
    """Every rule violation in the configuration, in file order (`now`: epoch seconds)."""
    now = time.time() if now is None else now
    issues: list[Issue] = []
    seen_pairs: dict[tuple[str, str], str] = {}
    seen_names: set[str] = set()
    for index, mapping in enumerate(config.mappings):
        path = f"mappings[{index}]"
        issues.extend(_check_mapping(path, mapping, config, now))
        pair = (mapping.function, mapping.event_source_arn)
        if pair in seen_pairs:
            issues.append((path, _duplicate_message(mapping, seen_pairs[pair])))
        seen_pairs.setdefault(pair, mapping.mapping_uuid)
        try:
            name = mapping.display_name
        except ValueError:
            continue  # a malformed ARN, reported above
        if name in seen_names:
            issues.append((f"{path}.name", f"duplicate mapping name {name!r}"))
        seen_names.add(name)
    issues.extend(_environment_conflicts(config))
    issues.extend(_module_conflicts(config))
    return issues


def _check_mapping(
    path: str, mapping: MappingConfig, config: PollerConfig, now: float
) -> Iterator[Issue]:
    if mapping.function not in config.functions:
        known = ", ".join(sorted(config.functions)) or "none"
        yield (f"{path}.function", f"no function named {mapping.function!r} (defined: {known})")
    try:
        arn = Arn.parse(mapping.event_source_arn)
    except ValueError as exc:
        yield (f"{path}.event_source_arn", str(exc))
        return
    yield from _filter_issues(path, mapping, isinstance(mapping, StreamMappingConfig))
    if arn.service not in ("sqs", "kinesis", "dynamodb"):
        yield (
            f"{path}.event_source_arn",
            f"unsupported event source service {arn.service!r}: {SOURCES}",
        )
    elif isinstance(mapping, StreamMappingConfig):
        yield from _stream_issues(path, mapping, arn, now)
    elif arn.service != "sqs":
        yield (
            f"{path}.event_source_arn",
            f"unsupported event source service {arn.service!r}: {SOURCES}",
        )
    else:
        yield from sqs_batching_issues(
            path, mapping.batch_size, mapping.maximum_batching_window_in_seconds, arn.is_fifo_queue
        )


def _stream_issues(
    path: str, mapping: StreamMappingConfig, arn: Arn, now: float
) -> Iterator[Issue]:
    kind = stream_arn_issue(arn)
    if kind:
        yield (f"{path}.event_source_arn", kind)
    if 0 <= mapping.maximum_record_age_in_seconds < 60:
        yield (f"{path}.maximum_record_age_in_seconds", RECORD_AGE_MINIMUM)
    if mapping.on_failure is not None:
        yield from _destination_issues(
            f"{path}.destination_config.on_failure.destination", mapping.on_failure
        )
    position = mapping.starting_position
    if position is None:
        yield (f"{path}.starting_position", POSITION_REQUIRED)
    elif position == "AT_TIMESTAMP":
        if arn.service == "dynamodb":
            yield (f"{path}.starting_position", UNSUPPORTED_POSITION)
        elif mapping.starting_position_timestamp is None:
            yield (
                f"{path}.starting_position_timestamp",
                "required when StartingPosition is AT_TIMESTAMP",
            )
        elif mapping.starting_position_timestamp.timestamp() > now:
            yield (f"{path}.starting_position_timestamp", "cannot be in the future")
    elif mapping.starting_position_timestamp is not None:
        yield (
            f"{path}.starting_position_timestamp",
            "only valid with StartingPosition AT_TIMESTAMP",
        )


def _filter_issues(path: str, mapping: MappingConfig, stream: bool) -> Iterator[Issue]:
    """Each pattern must be one Lambda accepts ("Invalid filter pattern definition."); at most
    `filter_quota` filters (Lambda's quota: 5, raised to 10 on request)."""
    filters = mapping.filter_criteria.filters
    if len(filters) > mapping.filter_quota:
        yield (
            f"{path}.filter_criteria.filters",
            f"{len(filters)} filters exceed the quota of {mapping.filter_quota} per event source "
            "mapping (filter_quota raises it, to at most 10)",
        )
    for index, item in enumerate(filters):
        where = f"{path}.filter_criteria.filters[{index}].pattern"
        try:
            pattern = compile_pattern(item.pattern)
        except InvalidPattern as exc:
            yield (where, str(exc))
            continue
        problem = stream_pattern_issue(pattern) if stream else None
        if problem:
            yield (where, problem)


def _destination_issues(path: str, text: str) -> Iterator[Issue]:
    try:
        arn = Arn.parse(text)
    except ValueError as exc:
        yield (path, str(exc))
        return
    if arn.service not in ("sqs", "sns", "s3"):
        yield (path, f"{DESTINATIONS}, not {arn.service!r}")
    elif arn.service == "s3" and ("/" in arn.resource or arn.region or arn.account):
        yield (path, f"{DESTINATIONS}: a bucket ARN is arn:aws:s3:::BUCKET")


def stream_arn_issue(arn: Arn) -> str | None:
    """Why an ARN cannot be a stream mapping's source, or None when it can.

    Kinesis: `stream/NAME` (enhanced fan-out consumer ARNs are not supported). DynamoDB:
    `table/NAME/stream/LABEL`, or `table/NAME` whose latest stream poller looks up.
    """
    parts = arn.resource.split("/")
    if arn.service == "kinesis":
        if len(parts) == 4 and parts[0] == "stream" and parts[2] == "consumer":
            return (
                "enhanced fan-out consumer ARNs are not supported: use the stream's ARN "
                "(arn:aws:kinesis:REGION:ACCOUNT:stream/NAME)"
            )
        if len(parts) != 2 or parts[0] != "stream" or not parts[1]:
            return "not a Kinesis stream ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME)"
        return None
    if (
        parts[0] == "table"
        and all(parts)
        and (len(parts) == 2 or (len(parts) == 4 and parts[2] == "stream"))
    ):
        return None
    return (
        "not a DynamoDB stream ARN (arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL) "
        "or table ARN (arn:aws:dynamodb:REGION:ACCOUNT:table/NAME)"
    )


def sqs_batching_issues(path: str, batch_size: int, window: int, fifo: bool) -> Iterator[Issue]:
    """SQS batching limits: FIFO ≤ 10 and no window; standard > 10 needs a window ≥ 1."""
    if fifo:
        if batch_size > 10:
            yield (f"{path}.batch_size", FIFO_BATCH_SIZE)
        if window > 0:
            yield (f"{path}.maximum_batching_window_in_seconds", FIFO_WINDOW)
    elif batch_size > 10 and window < 1:
        yield (f"{path}.maximum_batching_window_in_seconds", WINDOW_REQUIRED)


def _duplicate_message(mapping: MappingConfig, existing_uuid: str) -> str:
    if isinstance(mapping, StreamMappingConfig):
        return (
            f'The event source arn (" {mapping.event_source_arn} ") and function '
            f'(" {mapping.function} ") provided mapping already exists. Please update or delete '
            f"the existing mapping with UUID {existing_uuid}"
        )
    return (
        f'An event source mapping with SQS arn (" {mapping.event_source_arn} ") and function '
        f'(" {mapping.function} ") already exists. Please update or delete the existing mapping '
        f"with UUID {existing_uuid}"
    )


def _environment_conflicts(config: PollerConfig) -> Iterator[Issue]:
    # In-process handlers share one process environment, so two functions may not give the
    # same variable different values.
    owner: dict[str, tuple[str, str]] = {}
    for fname, function in config.functions.items():
        if function.target != "handler" or function.isolation != "thread":
            continue  # worker processes and remote targets have their own environment
        for key, value in function.environment.items():
            if key in owner and owner[key][1] != value:
                yield (
                    f"functions.{fname}.environment.{key}",
                    f"conflicts with functions.{owner[key][0]}.environment.{key}: in-process "
                    "handlers share one environment",
                )
            owner.setdefault(key, (fname, value))


def _module_conflicts(config: PollerConfig) -> Iterator[Issue]:
    # In-process handlers share one sys.modules: two functions whose handlers' top-level
    # modules have one name but live in different code directories (SAM's `a/app.py` and
    # `b/app.py`, both `app.handler`) would both run whichever was imported first.
    owner: dict[str, tuple[str, str]] = {}
    for fname, function in config.functions.items():
        if function.target != "handler" or function.isolation != "thread":
            continue
        top = function.module_and_attr[0].split(".")[0]
        where = os.path.normpath(function.code_uri or ".")
        if top in owner and owner[top][1] != where:
            yield (
                f"functions.{fname}.handler",
                f"module {top!r} is also functions.{owner[top][0]}'s, from another code_uri: "
                "in-process handlers share one set of modules (isolation: process gives each "
                "function its own)",
            )
        owner.setdefault(top, (fname, where))


def visibility_timeout_issue(visibility_timeout: int, function_timeout: int) -> str | None:
    """Lambda's start-up check that a function cannot outlive its messages' invisibility."""
    if function_timeout > visibility_timeout:
        return (
            f"Queue visibility timeout: {visibility_timeout} seconds is less than Function "
            f"timeout: {function_timeout} seconds"
        )
    return None
