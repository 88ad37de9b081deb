"""`poller validate` on fuzzed input: every document either validates or is refused as a
ConfigError (exit 2) whose every issue names a field path or the document; never a traceback.

Three corpora: random YAML documents keyed by real field names and noise, mutations of a valid
config (keys dropped, wrong types, out-of-range numbers, unknown keys at every level, bad ARNs
and durations), and bytes that are not YAML at all. The path is `poller validate`'s own:
load_config (read, parse, interpolate, validate, rules) then cli.check_handlers.
"""

from __future__ import annotations

import copy
import json
import math
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic.alias_generators import to_pascal
from scale import scaled

from poller.cli import check_handlers
from poller.config import models
from poller.config.loader import load_config
from poller.errors import ConfigError

HANDLERS = Path(__file__).resolve().parents[2] / "integration"  # itest_handlers.py lives there
ROOT = Path(__file__).resolve().parents[3]
FUZZ = settings(
    max_examples=scaled(60, 2000),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=False,
)


def _field_names() -> list[str]:
    """Every field of the config models, snake_case and PascalCase: keys the fuzz must hit."""
    names: set[str] = set()
    for obj in vars(models).values():
        if isinstance(obj, type) and issubclass(obj, BaseModel):
            for name in obj.model_fields:
                names.update({name, to_pascal(name)})
    return sorted(names)


FIELDS = _field_names()
SOURCE = "config.yaml"
# What a document-level issue starts with (read, YAML, top-level shape, alias expansion).
DOCUMENT = f"{SOURCE}: "


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="poller-fuzz-") as name:
        yield Path(name)


def validate(
    workdir: Path, data: str | bytes, environ: dict[str, str] | None = None
) -> list[str] | None:
    """`poller validate -c FILE` in process: None when valid, else the issues it prints.

    Any exception other than ConfigError propagates and fails the test (a traceback)."""
    path = workdir / SOURCE
    path.write_bytes(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
    issues: list[str] | None = None
    try:
        config = load_config(path, {"SET": "value"} if environ is None else environ)
        check_handlers(config, workdir)
    except ConfigError as exc:
        issues = exc.issues
    if issues is None:
        return None
    assert issues, "a ConfigError with no issue prints nothing"
    # Document-level issues name the file as given: here its full path, shown as SOURCE.
    return [SOURCE + i[len(str(path)) :] if i.startswith(f"{path}: ") else i for i in issues]


def top_keys(document: Any) -> set[str]:
    """The document's top-level keys as a path writes them (odd ones quoted), and the fields."""
    keys = {str(k) for k in document} if isinstance(document, dict) else set()
    shown = {
        k if re.fullmatch(r'[^\s.\[\]:"]+', k) else json.dumps(k, ensure_ascii=False) for k in keys
    }
    return shown | set(models.PollerConfig.model_fields)


def assert_names_a_path(issues: list[str], data: str | bytes) -> None:
    """Each issue starts with the document's name or with a field path: a top-level key the
    document has as YAML reads it (or a field it lacks), followed by `.`, `[` or `: ` and then
    a message."""
    try:
        document = yaml.safe_load(data)
    except Exception:  # not text, or not YAML: only the document itself can be named
        document = None
    for issue in issues:
        if issue.startswith(DOCUMENT):
            assert len(issue) > len(DOCUMENT), issue
            continue
        heads = [k for k in top_keys(document) if issue.startswith(k)]
        assert any(issue[len(k) : len(k) + 1] in (".", "[", ":") for k in heads), issue
        assert ": " in issue, issue
        assert issue.split(": ", 1)[1].strip(), issue


# --- (a) arbitrary YAML-ish documents -------------------------------------------------------

KEYS = st.one_of(st.sampled_from(FIELDS), st.text(max_size=12), st.integers(-5, 5))
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["${SET}", "${UNSET}", "${UNSET:-d}", "$$", "arn:aws:sqs:x", "", "1e9"]),
    st.binary(max_size=8),
    st.dates(),
    st.datetimes(),
)
NODES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=25,
)
DOCUMENTS = st.one_of(st.dictionaries(KEYS, NODES, max_size=8), NODES)


def dump(document: Any, flow: bool) -> str:
    return yaml.safe_dump(document, default_flow_style=flow, allow_unicode=True, sort_keys=False)


@FUZZ
@given(document=DOCUMENTS, flow=st.booleans())
def test_any_yaml_document_validates_or_names_a_path(
    workdir: Path, document: Any, flow: bool
) -> None:
    text = dump(document, flow)
    issues = validate(workdir, text)
    if issues is not None:
        assert_names_a_path(issues, text)


# --- (b) mutations of a valid config ----------------------------------------------------------

QUEUE = "arn:aws:sqs:us-east-1:123456789012:orders"
FIFO = "arn:aws:sqs:us-east-1:123456789012:orders.fifo"
STREAM = "arn:aws:kinesis:us-east-1:123456789012:stream/clicks"
DDB = "arn:aws:dynamodb:us-east-1:123456789012:table/T/stream/2024-01-01T00:00:00.000"
VALID: dict[str, Any] = {
    "aws": {"region": "us-east-1", "endpoint_url": "http://127.0.0.1:1", "endpoints": {}},
    "embedded": {
        "enabled": False,
        "port": 0,
        "queues": [{"name": "q", "visibility_timeout": 30, "dead_letter": {"name": "d"}}],
        "streams": [{"name": "s", "shards": 2}],
        "tables": [{"name": "t", "partition_key": "pk", "stream_view_type": "NEW_IMAGE"}],
    },
    "http": {"enabled": True, "listen": "127.0.0.1:0", "control": False},
    "logging": {"level": "info", "format": "json", "log_records": False},
    "shutdown_timeout": 30,
    "shutdown_receives": "finish",
    "concurrency_limit": 100,
    "state": {"backend": "sqlite", "path": "state.db"},
    "functions": {
        "fn": {
            "handler": "itest_handlers:handler",
            "code_uri": str(HANDLERS),
            "timeout": 3,
            "memory_size": 256,
            "environment": {"A": "1"},
            "reserved_concurrency": 5,
        },
        "remote": {"url": "http://127.0.0.1:9/x", "timeout": 10},
    },
    "mappings": [
        {
            "function": "fn",
            "event_source_arn": QUEUE,
            "batch_size": 20,
            "maximum_batching_window_in_seconds": 1,
            "function_response_types": ["ReportBatchItemFailures"],
            "scaling_config": {"maximum_concurrency": 5},
            "filter_criteria": {"filters": [{"pattern": '{"body": {"a": ["b"]}}'}]},
        },
        {"FunctionName": "remote", "EventSourceArn": FIFO, "BatchSize": 10},
        {
            "FunctionName": "fn",
            "EventSourceArn": STREAM,
            "StartingPosition": "TRIM_HORIZON",
            "ParallelizationFactor": 2,
            "MaximumRetryAttempts": 3,
            "MaximumRecordAgeInSeconds": 60,
            "BisectBatchOnFunctionError": True,
            "DestinationConfig": {"OnFailure": {"Destination": QUEUE}},
            "TumblingWindowInSeconds": 0,
            "shard_refresh_seconds": 5,
        },
        {"function": "remote", "event_source_arn": DDB, "starting_position": "LATEST"},
    ],
}

BAD_VALUES = st.one_of(
    SCALARS,
    st.sampled_from(
        [
            -1,
            0,
            -(10**6),
            10**12,
            1.5,
            math.inf,
            -math.inf,
            math.nan,
            "",
            "10s",
            "1m",
            "PT30S",
            "-5",
            "arn:aws:sqs",
            "arn:aws:sqs:us-east-1:123:",
            "arn::sqs:us-east-1:123:q",
            "arn:aws:kinesis:us-east-1:123:stream/",
            "arn:aws:kinesis:us-east-1:123:stream/s/consumer/c:1",
            "arn:aws:dynamodb:us-east-1:123:table/",
            "arn:aws:lambda:us-east-1:123:function:f",
            "arn:aws:s3:::b/k",
            "not an arn",
            "AT_TIMESTAMP",
            "2999-01-01T00:00:00Z",
            "${UNSET}",
            [],
            {},
            [None],
            {"x": None},
        ]
    ),
    NODES,
)


def _paths(node: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every location in `node`: the containers and the leaves."""
    yield at
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*at, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*at, index))


def _at(document: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        document = document[part]
    return document


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    """A valid config with one to four faults: a key dropped, a value replaced (wrong type,
    out of range, bad ARN, bad duration), an unknown key added at some level."""
    document = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(document) if p]
        path = draw(st.sampled_from(paths))
        parent, last = _at(document, path[:-1]), path[-1]
        action = draw(st.sampled_from(["drop", "replace", "replace", "unknown"]))
        if action == "drop":
            del parent[last]
        elif action == "replace":
            parent[last] = copy.deepcopy(draw(BAD_VALUES))
        else:
            target = _at(document, path)
            container = target if isinstance(target, dict) else parent
            if isinstance(container, dict):
                container[draw(KEYS)] = copy.deepcopy(draw(BAD_VALUES))
            else:
                container.append(copy.deepcopy(draw(BAD_VALUES)))
    return document


def test_the_unmutated_config_is_valid(workdir: Path) -> None:
    # Otherwise the mutation fuzz below would say nothing about single faults.
    assert validate(workdir, dump(VALID, flow=False)) is None


@FUZZ
@given(document=mutated(), flow=st.booleans())
def test_a_mutated_config_validates_or_names_a_path(
    workdir: Path, document: dict[str, Any], flow: bool
) -> None:
    text = dump(document, flow)
    issues = validate(workdir, text)
    if issues is not None:
        assert_names_a_path(issues, text)


@FUZZ
@given(document=mutated())
def test_every_unknown_key_is_refused_with_its_path(
    workdir: Path, document: dict[str, Any]
) -> None:
    # An unknown key is never silently ignored: a typo in a field name is an error.
    path = ("functions", "fn", "zz_unknown")
    if isinstance(document.get("functions"), dict) and isinstance(
        document["functions"].get("fn"), dict
    ):
        document["functions"]["fn"]["zz_unknown"] = 1
        # Every variable set: an unset one is reported alone, before the fields are checked.
        issues = validate(workdir, dump(document, flow=False), {"SET": "v", "UNSET": "v"})
        assert issues is not None
        assert ".".join(path) + ": unknown field" in issues


# --- (c) bytes and text that are not YAML at all ----------------------------------------------


@FUZZ
@given(data=st.binary(max_size=200))
def test_arbitrary_bytes_are_refused_or_valid(workdir: Path, data: bytes) -> None:
    issues = validate(workdir, data)
    if issues is not None:
        assert_names_a_path(issues, data)


@FUZZ
@given(
    text=st.text(
        alphabet=st.sampled_from([*list("{}[]:,-?|>!&*#'\"%@` \t\n\\abc01.$"), "\x00", "\ufeff"]),
        max_size=80,
    )
)
def test_yaml_punctuation_soup_is_refused_or_valid(workdir: Path, text: str) -> None:
    issues = validate(workdir, text)
    if issues is not None:
        assert_names_a_path(issues, text)


# --- faults the fuzz found, each a regression test ---------------------------------------------

VALID_HEAD = (
    "functions: {fn: {handler: 'itest_handlers:handler', code_uri: '" + str(HANDLERS) + "'}}\n"
)
BAD_DOCUMENTS = [
    pytest.param("a: " + "9" * 5000 + "\n", "invalid YAML", id="int-over-4300-digits"),
    pytest.param("a: 2020-13-45\n", "invalid YAML", id="impossible-date"),
    pytest.param("a: 2020-01-01T00:00:00+99:00\n", "invalid YAML", id="impossible-zone"),
    pytest.param("a: !!timestamp x\n", "invalid YAML", id="tagged-non-timestamp"),
    pytest.param("a: !!int x\n", "invalid YAML", id="tagged-non-int"),
    pytest.param("a: " + "[" * 10_000 + "]" * 10_000 + "\n", "nested too deeply", id="deep-list"),
    pytest.param("a: " + "{b: " * 3000 + "1" + "}" * 3000, "nested too deeply", id="deep-map"),
    pytest.param("a: &a [*a]\n", "alias inside itself", id="self-alias"),
    pytest.param(
        "\n".join(
            ["l0: &l0 [x, x, x, x, x, x, x, x, x]"]
            + [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 10)]
        ),
        "YAML aliases",
        id="billion-laughs",
    ),
]


@pytest.mark.parametrize(("text", "says"), BAD_DOCUMENTS)
def test_a_document_yaml_cannot_build_is_refused_without_a_traceback(
    workdir: Path, text: str, says: str
) -> None:
    issues = validate(workdir, text)
    assert issues is not None
    assert len(issues) == 1, issues
    assert says in issues[0], issues
    assert issues[0].startswith(DOCUMENT) or issues[0].split(":")[0].split("[")[0] in text


@pytest.mark.parametrize(
    ("function", "path"),
    [
        pytest.param('code_uri: "a\\0b"', "functions.fn.code_uri", id="nul-in-code-uri"),
        pytest.param('environment: {"A=B": x}', "functions.fn.environment", id="equals-in-name"),
        pytest.param('environment: {"": x}', "functions.fn.environment", id="empty-name"),
        pytest.param('environment: {A: "x\\0"}', "functions.fn.environment", id="nul-in-value"),
    ],
)
def test_a_function_the_os_cannot_run_is_refused_by_validate(
    workdir: Path, function: str, path: str
) -> None:
    # These passed `validate` and then stopped `poller run` (os.environ, Path.resolve raised).
    text = f"functions: {{fn: {{handler: 'itest_handlers:handler', {function}}}}}\n"
    issues = validate(workdir, text)
    assert issues is not None
    assert len(issues) == 1
    assert issues[0].startswith(f"{path}: "), issues


# --- the real command -------------------------------------------------------------------------

COMMAND_CASES = [
    pytest.param(b"\xff\xfe\x00garbage", SOURCE, id="not-utf8"),
    pytest.param(b"functions: [unclosed\n", SOURCE, id="not-yaml"),
    pytest.param(b"a: " + b"[" * 10_000, SOURCE, id="deep"),
    pytest.param(b"a: " + b"7" * 5000, SOURCE, id="huge-int"),
    pytest.param(
        (VALID_HEAD + "mappings: [{function: fn, event_source_arn: 'arn:aws:sqs:x'}]").encode(),
        "mappings[0].event_source_arn",
        id="bad-arn",
    ),
    pytest.param(
        (
            VALID_HEAD + "mappings: [{function: fn, event_source_arn: '" + QUEUE + "', "
            "batch_size: .inf}]"
        ).encode(),
        "mappings[0].batch_size",
        id="infinite-batch-size",
    ),
]


@pytest.mark.parametrize(("data", "named"), COMMAND_CASES)
def test_poller_validate_exits_2_naming_the_path(tmp_path: Path, data: bytes, named: str) -> None:
    (tmp_path / SOURCE).write_bytes(data)
    done = subprocess.run(
        [sys.executable, "-m", "poller", "validate", "-c", SOURCE],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith(f"poller: invalid configuration {SOURCE}:")
    assert f"  {named}" in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("text", "issue"),
    [
        pytest.param("'': 1\n" + VALID_HEAD, '"": unknown field', id="empty-key"),
        pytest.param("0: 1\n" + VALID_HEAD, "0: Keys should be strings", id="numeric-key"),
        pytest.param("'a: b': 1\n" + VALID_HEAD, '"a: b": unknown field', id="key-with-colon"),
    ],
)
def test_an_empty_numeric_or_odd_key_is_named_in_the_path(
    workdir: Path, text: str, issue: str
) -> None:
    # These printed "unknown field" with no path, or "[0]" as if 0 were a list index.
    assert validate(workdir, text) == [issue]
