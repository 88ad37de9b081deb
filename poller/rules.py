"""AWS's own cross-field rules for event source mappings, as pure checks over parsed config.

Each check returns `(path, message)` pairs; messages quote AWS's error text where AWS has one.
"""

from __future__ import annotations

from collections.abc import Iterator

from poller.arns import Arn
from poller.config import PollerConfig, SqsMappingConfig

Issue = tuple[str, str]

WINDOW_REQUIRED = (
    "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater "
    "than 10"
)
FIFO_BATCH_SIZE = "Batch size for FIFO queues must be less than or equal to 10"
FIFO_WINDOW = "Batching window is not supported for FIFO queues"


def check(config: PollerConfig) -> list[Issue]:
    """Every rule violation in the configuration, in file order."""
    issues: list[Issue] = []
    seen_pairs: dict[tuple[str, str], str] = {}
    seen_names: set[str] = set()
    for index, mapping in enumerate(config.mappings):
        path = f"mappings[{index}]"
        issues.extend(_check_mapping(path, mapping, config))
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
    return issues


def _check_mapping(path: str, mapping: SqsMappingConfig, config: PollerConfig) -> Iterator[Issue]:
    if mapping.function not in config.functions:
        known = ", ".join(sorted(config.functions)) or "none"
        yield (f"{path}.function", f"no function named {mapping.function!r} (defined: {known})")
    try:
        arn = Arn.parse(mapping.event_source_arn)
    except ValueError as exc:
        yield (f"{path}.event_source_arn", str(exc))
        return
    if arn.service != "sqs":
        yield (
            f"{path}.event_source_arn",
            f"unsupported event source service {arn.service!r}: this version reads SQS queues",
        )
        return
    yield from sqs_batching_issues(
        path, mapping.batch_size, mapping.maximum_batching_window_in_seconds, arn.is_fifo_queue
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


def _duplicate_message(mapping: SqsMappingConfig, existing_uuid: str) -> str:
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
        for key, value in function.environment.items():
            if key in owner and owner[key][1] != value:
                yield (
                    f"functions.{fname}.environment.{key}",
                    f"conflicts with functions.{owner[key][0]}.environment.{key}: in-process "
                    "handlers share one environment",
                )
            owner.setdefault(key, (fname, value))


def visibility_timeout_issue(visibility_timeout: int, function_timeout: int) -> str | None:
    """Lambda's start-up check that a function cannot outlive its messages' invisibility."""
    if function_timeout > visibility_timeout:
        return (
            f"Queue visibility timeout: {visibility_timeout} seconds is less than Function "
            f"timeout: {function_timeout} seconds"
        )
    return None
