"""Bad input at runtime: every kind of handler response, records and batches at and over 6 MB,
binary attributes, non-UTF-8 stream data, every DynamoDB type. Each is settled as the reference
says (docs/esm-semantics §3.4, §4.4, §5) and the daemon goes on to handle the next record.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import bad_handlers
import itest_handlers
import pytest
from aiohttp import web
from fake_targets import serve
from scale import scaled
from sqs_support import (
    HERE,
    config_yaml,
    depth,
    http_get,
    make_queue,
    metric,
    running,
    send,
    unique,
    wait_for,
)
from stream_support import make_stream, make_table, put, stream_config, wait_read_past

from poller.batching import MAX_PAYLOAD_BYTES, payload_bytes
from poller.daemon import Daemon
from poller.events import json_size
from poller.model import InvokeResult, Verdict
from poller.responses import SUCCESS, interpret

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
RELIABILITY = Path(__file__).parent
MiB = 1024 * 1024
REPORT = "function_response_types: [ReportBatchItemFailures]\n"


def _bad_handler(text: str) -> str:
    """A config running bad_handlers.handler instead of itest_handlers.handler."""
    return text.replace("itest_handlers:handler", "bad_handlers:handler").replace(
        f'code_uri: "{HERE}"', f'code_uri: "{RELIABILITY}"'
    )


async def _healthy(daemon: Daemon) -> None:
    status, _ = await http_get(daemon.http_port, "/healthz")
    assert status == 200


# --- handler responses: SQS ---------------------------------------------------------------------


async def test_every_bad_sqs_response_is_settled_as_the_reference_says(
    endpoint: str, sqs: Any
) -> None:
    # One message per case, one per batch: a case the reference calls a failure leaves its
    # message for the visibility timeout (2 s) and it comes back; a success deletes it. The
    # retry then succeeds, so the queue empties either way.
    bad_handlers.reset()
    queue = unique("bad-responses")
    url = make_queue(sqs, queue, visibility=2)
    send(sqs, url, list(bad_handlers.CASES))
    text = _bad_handler(
        config_yaml(endpoint, queue, timeout=2, extra_mapping=f"{REPORT}batch_size: 1\n")
    )
    async with running(text) as daemon:
        retried = [c for c, (_, again) in bad_handlers.CASES.items() if again]
        await wait_for(
            lambda: (
                depth(sqs, url) == 0 and all(len(bad_handlers.delivered(c)) >= 2 for c in retried)
            ),
            timeout=60,
        )
        # The daemon stands and handles the next message.
        send(sqs, url, ["good-after"])
        await wait_for(lambda: bad_handlers.delivered("good-after") != [], timeout=30)
        await wait_for(lambda: depth(sqs, url) == 0, timeout=10)
        await _healthy(daemon)
        labels = {"mapping": f"fn-{queue}", "function": "fn"}
        # Values the runtime cannot marshal are function errors (Runtime.MarshalError).
        marshal = {"a-set", "bytes", "invalid-utf8", "an-object", "nested-10000"}
        assert metric(daemon, "poller_errors_total", **labels) >= len(marshal) + 1
    for case, (_, again) in bad_handlers.CASES.items():
        times = bad_handlers.delivered(case)
        # A retry comes back after the visibility timeout; a second delivery within it is
        # moto handing one message to two receivers at once (sqs_support.MOTO_REPEATS).
        late = [t for t in times if t - times[0] >= 1.5]
        assert bool(late) == again, (case, times)


# --- handler responses: Kinesis -----------------------------------------------------------------


async def test_every_bad_kinesis_response_is_settled_as_the_reference_says(
    endpoint: str, kinesis: Any, tmp_path: Path
) -> None:
    # Streams retry a failed batch at once (no visibility timeout), so every failure case is
    # invoked exactly twice (the retry succeeds) and every success once: deterministic.
    # One partition key per case, ten lanes: the cases run side by side.
    bad_handlers.reset()
    name = unique("bad-responses")
    arn = make_stream(kinesis, name)
    put(kinesis, name, [(case, case) for case in bad_handlers.CASES])
    extra = f"{REPORT}batch_size: 1\nparallelization_factor: 10\nmaximum_retry_attempts: 3\n"
    text = _bad_handler(stream_config(endpoint, arn, tmp_path / "s.db", extra_mapping=extra))
    async with running(text) as daemon:
        retried = [c for c, (_, again) in bad_handlers.CASES.items() if again]
        await wait_for(
            lambda: (
                all(len(bad_handlers.delivered(c)) >= 1 for c in bad_handlers.CASES)
                and all(len(bad_handlers.delivered(c)) >= 2 for c in retried)
            ),
            timeout=60,
        )
        put(kinesis, name, [("good-after", "good-after")])
        await wait_for(lambda: bad_handlers.delivered("good-after") != [], timeout=30)
        await _healthy(daemon)
        labels = {"mapping": f"fn-{name}", "function": "fn"}
        assert metric(daemon, "poller_dropped_events_total", **labels) == 0
    counts = {case: len(bad_handlers.delivered(case)) for case in bad_handlers.CASES}
    expected = {case: 2 if again else 1 for case, (_, again) in bad_handlers.CASES.items()}
    assert counts == expected


async def test_a_kinesis_partial_response_retries_from_the_lowest_sequence_number(
    endpoint: str, kinesis: Any, tmp_path: Path
) -> None:
    # Reference §4.4: the lowest failed sequence number is the checkpoint; records before it
    # are done, it and every record after it are retried. Here the batch is a..e and the
    # handler names d and b (out of order), so b..e come again and a does not.
    name = unique("partial")
    arn = make_stream(kinesis, name)
    put(kinesis, name, [("k", x) for x in "abcde"])

    def behave(event: dict[str, Any], index: int) -> Any:
        if index > 0:
            return None
        by_data = {
            base64.b64decode(r["kinesis"]["data"]).decode(): r["kinesis"]["sequenceNumber"]
            for r in event["Records"]
        }
        return {"batchItemFailures": [{"itemIdentifier": by_data[x]} for x in "db"]}

    itest_handlers.behaviour = behave
    extra = f"{REPORT}batch_size: 5\nmaximum_batching_window_in_seconds: 1\n"
    async with running(stream_config(endpoint, arn, tmp_path / "s.db", extra)) as daemon:
        await wait_for(lambda: len(itest_handlers.calls) >= 2, timeout=30)
        await wait_read_past(daemon)
    data = [
        [base64.b64decode(r["kinesis"]["data"]).decode() for r in call["event"]["Records"]]
        for call in itest_handlers.calls
    ]
    assert data == [list("abcde"), list("bcde")]


# --- handler responses from an HTTP target: bytes no Python handler can return ------------------

RAW_ANSWERS: dict[str, tuple[bytes, bool]] = {
    # name → (the response body, whether the record is retried)
    "invalid-utf8": (b'\xff\xfe{"batchItemFailures": []}', True),
    "invalid-utf8-in-string": (b'{"batchItemFailures": [], "x": "\xc3\x28"}', True),
    "truncated": (b'{"batchItemFailures": [', True),
    "nested-10000": (b"[" * 10_000 + b"]" * 10_000, True),
    "nested-10000-object": (b'{"a": ' * 10_000 + b"1" + b"}" * 10_000, True),
    "huge": (b'{"batchItemFailures": [], "pad": "' + b"x" * (7 * MiB) + b'"}', True),
    "nan": (b'{"batchItemFailures": NaN}', True),
    "empty": (b"", False),
    "whitespace": (b" \n", False),
    "empty-object": (b"{}", False),
}


class RawTarget:
    """An RIE-protocol endpoint answering each record's first invocation with RAW_ANSWERS."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=8 * MiB)
        app.router.add_post("/2015-03-31/functions/function/invocations", self._invoke)
        return app

    async def _invoke(self, request: web.Request) -> web.Response:
        event = json.loads(await request.read())
        [record] = event["Records"]
        case = base64.b64decode(record["kinesis"]["data"]).decode()
        self.calls[case] += 1
        body, _ = RAW_ANSWERS.get(case, (b"", False))
        return web.Response(body=body if self.calls[case] == 1 else b"")


async def test_raw_bad_bytes_from_an_http_target_are_invalid_responses(
    endpoint: str, kinesis: Any, tmp_path: Path
) -> None:
    target = RawTarget()
    name = unique("raw")
    arn = make_stream(kinesis, name)
    put(kinesis, name, [(case, case) for case in RAW_ANSWERS])
    extra = f"{REPORT}batch_size: 1\nparallelization_factor: 10\nmaximum_retry_attempts: 3\n"
    async with serve(target.app()) as base:
        text = stream_config(endpoint, arn, tmp_path / "s.db", extra_mapping=extra).replace(
            'handler: "itest_handlers:handler"',
            f'url: "{base}/2015-03-31/functions/function/invocations"',
        )
        text = re.sub(r"\n *code_uri: .*", "", text)
        async with running(text) as daemon:
            expected = {c: 2 if again else 1 for c, (_, again) in RAW_ANSWERS.items()}
            await wait_for(lambda: all(target.calls[c] >= n for c, n in expected.items()), 60)
            put(kinesis, name, [("good-after", "good-after")])
            await wait_for(lambda: target.calls["good-after"] == 1, timeout=30)
            await _healthy(daemon)
    assert {c: target.calls[c] for c in RAW_ANSWERS} == expected


# --- records and batches at and over 6 MB -------------------------------------------------------


def _sizes(call: dict[str, Any]) -> list[int]:
    return [json_size(r) for r in call["event"]["Records"]]


async def test_sqs_batches_are_cut_at_6_mb_exactly_as_lambda_cuts_them(
    endpoint: str, sqs: Any
) -> None:
    # 1 MiB and 256 KiB bodies on a FIFO queue (one group: one ordered sequence of batches).
    # Lambda invokes when the payload reaches 6 MB: every batch is at most 6 MB; the first
    # (a receive of 10 messages, about 6.6 MB) stops at the record that would take it over,
    # and what did not fit opens the next batch, in order. FIFO has no batching window, so
    # later batches may also end where a receive ended (as on Lambda).
    queue = unique("six-mb") + ".fifo"
    url = make_queue(sqs, queue, visibility=60)
    count = scaled(14, 30)
    sizes = [MiB if i % 3 else 256 * 1024 for i in range(count)]
    bodies = [f"{i:03d}".ljust(size - 1, "x") + "." for i, size in enumerate(sizes)]
    for i, body in enumerate(bodies):  # 1 MiB each: one message per call (SQS's call limit)
        sqs.send_message(
            QueueUrl=url, MessageBody=body, MessageGroupId="g", MessageDeduplicationId=str(i)
        )
    async with running(config_yaml(endpoint, queue, extra_mapping="batch_size: 10\n")) as daemon:
        await wait_for(lambda: len(itest_handlers.records()) >= count, timeout=60)
        await wait_for(lambda: depth(sqs, url) == 0, timeout=20)
        labels = {"mapping": f"fn-{queue}", "function": "fn"}
        assert metric(daemon, "poller_polled_events_total", **labels) == count  # none resent
    calls = list(itest_handlers.calls)
    assert [r["body"] for c in calls for r in c["event"]["Records"]] == bodies
    assert all(payload_bytes(_sizes(c)) <= MAX_PAYLOAD_BYTES for c in calls)
    # The serialised event itself, not only poller's arithmetic, is within the limit.
    compact = [json.dumps(c["event"], separators=(",", ":"), ensure_ascii=False) for c in calls]
    assert all(len(text.encode()) <= MAX_PAYLOAD_BYTES for text in compact)
    first, second = _sizes(calls[0]), _sizes(calls[1])
    assert len(first) < 10
    assert payload_bytes([*first, second[0]]) > MAX_PAYLOAD_BYTES


def _attributes() -> dict[str, dict[str, Any]]:
    """Ten message attributes of every data type SQS has, custom labels included."""
    return {
        "s": {"DataType": "String", "StringValue": "plain"},
        "s_unicode": {"DataType": "String", "StringValue": "zażółć ✓ 🎉"},
        "s_label": {"DataType": "String.json", "StringValue": '{"a": [1, 2]}'},
        "n": {"DataType": "Number", "StringValue": "-12.5e3"},
        "n_label": {"DataType": "Number.int", "StringValue": "42"},
        "b": {"DataType": "Binary", "BinaryValue": bytes(range(256))},
        "b_zero": {"DataType": "Binary", "BinaryValue": b"\x00"},
        "b_label": {"DataType": "Binary.gzip", "BinaryValue": b"\x1f\x8b\x08\x00\xff"},
        "b_invalid_utf8": {"DataType": "Binary", "BinaryValue": b"\xc3\x28\xa0\xa1"},
        "b_big": {"DataType": "Binary", "BinaryValue": hashlib.sha256(b"x").digest() * 64},
    }


def _attributes_size(attributes: dict[str, dict[str, Any]]) -> int:
    """What the attributes count toward SQS's message size: names, types and values."""
    total = 0
    for name, value in attributes.items():
        data = value.get("StringValue", "").encode() + value.get("BinaryValue", b"")
        total += len(name.encode()) + len(value["DataType"].encode()) + len(data)
    return total


async def test_a_1_mib_sqs_message_with_10_attributes_arrives_in_lambdas_shape(
    endpoint: str, sqs: Any
) -> None:
    # SQS's limit is 1 MiB for body and attributes together: this message is at it.
    queue = unique("attrs")
    url = make_queue(sqs, queue)
    attributes = _attributes()
    body = "b" * (MiB - _attributes_size(attributes))
    sent = sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attributes)
    async with running(config_yaml(endpoint, queue)) as daemon:
        await wait_for(lambda: len(itest_handlers.records()) >= 1, timeout=30)
        send(sqs, url, ["good-after"])
        await wait_for(lambda: len(itest_handlers.records()) >= 2, timeout=30)
        await _healthy(daemon)
    record = itest_handlers.records()[0]
    assert record["body"] == body
    assert record["md5OfBody"] == sent["MD5OfMessageBody"]
    assert record["md5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    expected = {}
    for name, value in attributes.items():
        shaped: dict[str, Any] = {}
        if "StringValue" in value:
            shaped["stringValue"] = value["StringValue"]
        else:
            shaped["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
        shaped.update(stringListValues=[], binaryListValues=[], dataType=value["DataType"])
        expected[name] = shaped
    assert record["messageAttributes"] == expected
    # Key order too, as Lambda writes them.
    for name, value in record["messageAttributes"].items():
        assert list(value) == list(expected[name]), name


# --- Kinesis data that is not UTF-8 or not JSON -------------------------------------------------

KINESIS_DATA = [
    b"\xff\xfe\xfd",
    b"\x00",
    b"\xc3\x28",  # an invalid two-byte sequence
    b"\xed\xa0\x80",  # an encoded surrogate
    b"{not json",
    b'{"valid": "json"}',
    bytes(range(256)),
    "zażółć ✓ 🎉".encode(),
    b"\x00" * (1024 * 1024 - 2),  # at Kinesis's 1 MiB limit with its 2-byte partition key
]


async def test_kinesis_data_of_any_bytes_arrives_base64_unchanged(
    endpoint: str, kinesis: Any, tmp_path: Path
) -> None:
    name = unique("bytes")
    arn = make_stream(kinesis, name)
    for data in KINESIS_DATA:  # one by one, in order (the 1 MiB one fills a PutRecord call)
        kinesis.put_record(StreamName=name, PartitionKey="pk", Data=data)
    put(kinesis, name, [("pk", "good-after")])
    extra = "batch_size: 100\n"
    async with running(stream_config(endpoint, arn, tmp_path / "s.db", extra)) as daemon:
        await wait_for(lambda: len(itest_handlers.records()) >= len(KINESIS_DATA) + 1, 30)
        await _healthy(daemon)
    records = itest_handlers.records()
    assert [r["kinesis"]["data"] for r in records] == [
        base64.b64encode(d).decode("ascii") for d in [*KINESIS_DATA, b"good-after"]
    ]


async def test_kinesis_batches_of_1_mib_records_are_cut_at_6_mb(
    endpoint: str, kinesis: Any, tmp_path: Path
) -> None:
    # Base64 makes a 1 MiB record 1.33 MiB in the event: four fit in 6 MB, a fifth does not.
    name = unique("big")
    arn = make_stream(kinesis, name)
    count = scaled(10, 20)
    for i in range(count):
        kinesis.put_record(StreamName=name, PartitionKey="k", Data=bytes([i]) * (MiB - 1))
    extra = "batch_size: 100\nmaximum_batching_window_in_seconds: 1\n"
    async with running(stream_config(endpoint, arn, tmp_path / "s.db", extra)):
        await wait_for(lambda: len(itest_handlers.records()) >= count, timeout=60)
    calls = list(itest_handlers.calls)
    firsts = [base64.b64decode(r["kinesis"]["data"])[0] for r in itest_handlers.records()]
    assert firsts == list(range(count))
    for call, after in itertools.pairwise(calls):
        assert payload_bytes(_sizes(call)) <= MAX_PAYLOAD_BYTES
        assert payload_bytes([*_sizes(call), _sizes(after)[0]]) > MAX_PAYLOAD_BYTES
    assert max(len(c["event"]["Records"]) for c in calls) == 4


# --- DynamoDB images with every attribute type --------------------------------------------------


async def test_dynamodb_images_of_every_attribute_type_arrive_in_lambdas_shape(
    endpoint: str, dynamodb: Any, tmp_path: Path
) -> None:
    table = unique("types")
    stream = make_table(dynamodb, table)
    blob, blob2 = b"\x00\xff\xfe", b"\xc3\x28"
    item: dict[str, dict[str, Any]] = {
        "pk": {"S": "zażółć ✓"},
        "sk": {"N": "1"},
        "s_empty": {"S": ""},
        "n_big": {"N": "123456789012345678901234567890123456789"},
        "n_small": {"N": "-1.5E-130"},
        "b": {"B": blob},
        "ss": {"SS": ["a", "b"]},
        "ns": {"NS": ["1", "-2.5"]},
        "bs": {"BS": [blob, blob2]},
        "m": {
            "M": {"inner": {"L": [{"S": "x"}, {"NULL": True}]}, "deep": {"M": {"b": {"B": blob}}}}
        },
        "l": {
            "L": [{"N": "1"}, {"BOOL": False}, {"B": blob2}, {"SS": ["z"]}, {"M": {}}, {"L": []}]
        },
        "null": {"NULL": True},
        "bool": {"BOOL": True},
    }
    dynamodb.put_item(TableName=table, Item=item)
    extra = "batch_size: 10\n"
    async with running(stream_config(endpoint, stream, tmp_path / "s.db", extra)) as daemon:
        await wait_for(lambda: len(itest_handlers.records()) >= 1, timeout=30)
        dynamodb.put_item(TableName=table, Item={"pk": {"S": "good"}, "sk": {"N": "2"}})
        await wait_for(lambda: len(itest_handlers.records()) >= 2, timeout=30)
        await _healthy(daemon)
    record = itest_handlers.records()[0]
    image = record["dynamodb"]["NewImage"]

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    expected: dict[str, dict[str, Any]] = {
        **item,
        "b": {"B": b64(blob)},
        "bs": {"BS": [b64(blob), b64(blob2)]},
        "m": {
            "M": {
                "inner": {"L": [{"S": "x"}, {"NULL": True}]},
                "deep": {"M": {"b": {"B": b64(blob)}}},
            }
        },
        "l": {
            "L": [
                {"N": "1"},
                {"BOOL": False},
                {"B": b64(blob2)},
                {"SS": ["z"]},
                {"M": {}},
                {"L": []},
            ]
        },
    }
    # Sets have no order: compare them as sets, everything else exactly.
    for key in ("ss", "ns", "bs"):
        [kind] = expected[key]
        assert sorted(image.pop(key)[kind]) == sorted(expected.pop(key)[kind]), key
    assert image == expected
    assert record["dynamodb"]["Keys"] == {"pk": item["pk"], "sk": item["sk"]}
    assert json.loads(json.dumps(record)) == record  # plain JSON values only


# --- faults found here, each a regression test ---------------------------------------------------


@pytest.mark.parametrize("report", [True, False], ids=["report-failures", "plain"])
def test_a_response_over_6_mb_fails_the_batch_even_when_it_says_success(report: bool) -> None:
    # Lambda refuses a synchronous response over 6 MB (Function.ResponseSizeTooLarge): the
    # invocation fails whatever it says. poller read it, and deleted / checkpointed the batch.
    huge = json.dumps({"batchItemFailures": [], "pad": "x" * (7 * MiB)}).encode()
    outcome = interpret(InvokeResult("r", 0.1, payload=huge), report, {"a"})
    assert outcome.verdict is Verdict.FAILURE
    assert "ResponseSizeTooLarge" in outcome.reason
    under = json.dumps({"batchItemFailures": [], "pad": "x" * 6_000_000}).encode()
    assert interpret(InvokeResult("r", 0.1, payload=under), report, {"a"}) == SUCCESS
