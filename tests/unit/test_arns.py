"""arns.Arn: parsing, the parts poller reads (queue name, FIFO), derived function ARNs."""

from __future__ import annotations

import pytest

from poller.arns import FUNCTION_NAME_PATTERN, Arn, FunctionRef


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "arn:aws:sqs:us-east-1:123456789012:orders",
            Arn("aws", "sqs", "us-east-1", "123456789012", "orders"),
            id="sqs",
        ),
        pytest.param(
            "arn:aws:sqs:us-east-1:123456789012:orders.fifo",
            Arn("aws", "sqs", "us-east-1", "123456789012", "orders.fifo"),
            id="sqs-fifo",
        ),
        pytest.param(
            "arn:aws-cn:sqs:cn-north-1:123456789012:q",
            Arn("aws-cn", "sqs", "cn-north-1", "123456789012", "q"),
            id="china-partition",
        ),
        pytest.param(
            "arn:aws:kinesis:us-east-1:123456789012:stream/clicks",
            Arn("aws", "kinesis", "us-east-1", "123456789012", "stream/clicks"),
            id="kinesis",
        ),
        pytest.param(
            "arn:aws:dynamodb:us-east-1:123456789012:table/T/stream/2024-01-01T00:00:00.000",
            Arn(
                "aws", "dynamodb", "us-east-1", "123456789012",
                "table/T/stream/2024-01-01T00:00:00.000",
            ),
            id="dynamodb-stream-colons-in-resource",
        ),
        pytest.param(
            "arn:aws:lambda:us-east-1:123456789012:function:fn:live",
            Arn("aws", "lambda", "us-east-1", "123456789012", "function:fn:live"),
            id="lambda-alias",
        ),
        pytest.param(
            "arn:aws:s3:::bucket",
            Arn("aws", "s3", "", "", "bucket"),
            id="s3-no-region-no-account",
        ),
    ],
)  # fmt: skip
def test_parse(text: str, expected: Arn) -> None:
    arn = Arn.parse(text)
    assert arn == expected
    assert str(arn) == text


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("orders", id="name"),
        pytest.param("https://sqs.us-east-1.amazonaws.com/123456789012/orders", id="queue-url"),
        pytest.param("arn:aws:sqs:us-east-1:123456789012", id="five-parts"),
        pytest.param("arn:aws:sqs:us-east-1:123456789012:", id="empty-resource"),
        pytest.param("arx:aws:sqs:us-east-1:123456789012:q", id="bad-prefix"),
        pytest.param("arn::sqs:us-east-1:123456789012:q", id="empty-partition"),
        pytest.param("arn:aws::us-east-1:123456789012:q", id="empty-service"),
    ],
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"^not an ARN: ") as info:
        Arn.parse(text)
    assert str(info.value) == f"not an ARN: {text!r}"


@pytest.mark.parametrize(
    ("text", "name", "fifo"),
    [
        pytest.param("arn:aws:sqs:us-east-1:123456789012:orders", "orders", False, id="sqs"),
        pytest.param(
            "arn:aws:sqs:us-east-1:123456789012:orders.fifo", "orders.fifo", True, id="sqs-fifo"
        ),
        pytest.param(
            "arn:aws:sqs:us-east-1:123456789012:fifo", "fifo", False, id="named-fifo-no-suffix"
        ),
        pytest.param(
            "arn:aws:sns:us-east-1:123456789012:topic.fifo",
            "topic.fifo",
            False,
            id="sns-fifo-topic-is-not-a-queue",
        ),
    ],
)
def test_queue_name_and_fifo(text: str, name: str, fifo: bool) -> None:
    arn = Arn.parse(text)
    assert arn.resource_name == name
    assert arn.is_fifo_queue is fifo


def test_kinesis_resource_name_is_stream_name() -> None:
    assert Arn.parse("arn:aws:kinesis:us-east-1:123456789012:stream/clicks").resource_name == (
        "clicks"
    )


@pytest.mark.parametrize(
    ("text", "function", "expected"),
    [
        pytest.param(
            "arn:aws:sqs:us-east-1:123456789012:orders",
            "fn",
            "arn:aws:lambda:us-east-1:123456789012:function:fn",
            id="aws",
        ),
        pytest.param(
            "arn:aws-us-gov:sqs:us-gov-west-1:210987654321:q",
            "other",
            "arn:aws-us-gov:lambda:us-gov-west-1:210987654321:function:other",
            id="gov-partition",
        ),
    ],
)
def test_function_arn(text: str, function: str, expected: str) -> None:
    assert Arn.parse(text).function_arn(function) == expected


def test_arn_is_a_frozen_value() -> None:
    arn = Arn.parse("arn:aws:sqs:us-east-1:123456789012:orders")
    assert arn == Arn.parse("arn:aws:sqs:us-east-1:123456789012:orders")
    assert hash(arn) == hash(Arn.parse("arn:aws:sqs:us-east-1:123456789012:orders"))
    with pytest.raises(AttributeError):
        arn.region = "eu-west-1"  # type: ignore[misc]


# --- FunctionName: every form CreateEventSourceMapping takes (reference §1, FunctionName) -----


@pytest.mark.parametrize(
    ("text", "name", "qualifier"),
    [
        pytest.param("orders", "orders", None, id="name"),
        pytest.param("orders:live", "orders", "live", id="name-alias"),
        pytest.param("orders:7", "orders", "7", id="name-version"),
        pytest.param("orders:$LATEST", "orders", None, id="name-latest"),
        pytest.param("123456789012:function:orders", "orders", None, id="partial-arn"),
        pytest.param("123456789012:function:orders:live", "orders", "live", id="partial-alias"),
        pytest.param(
            "arn:aws:lambda:us-east-1:123456789012:function:orders", "orders", None, id="arn"
        ),
        pytest.param(
            "arn:aws:lambda:us-east-1:123456789012:function:orders:7", "orders", "7",
            id="arn-version",
        ),
        pytest.param(
            "arn:aws:lambda:eu-west-1:123456789012:function:my_fn-2:$LATEST", "my_fn-2", None,
            id="arn-latest",
        ),
        pytest.param(
            "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f", "f", None,
            id="gov-partition",
        ),
        pytest.param("function:orders", "orders", None, id="function-prefix"),
        pytest.param("f" * 64, "f" * 64, None, id="name-64-chars"),
    ],
)  # fmt: skip
def test_function_name_forms(text: str, name: str, qualifier: str | None) -> None:
    assert FunctionRef.parse(text) == FunctionRef(name, qualifier)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("orders live", id="space"),
        pytest.param("f" * 65, id="name-65-chars"),
        pytest.param("orders:live:extra", id="two-qualifiers"),
        pytest.param("arn:aws:sqs:us-east-1:123456789012:orders", id="not-a-function-arn"),
        pytest.param("12345:function:orders", id="short-account"),
        pytest.param("arn:aws:lambda:us-east-1:123456789012:function:" + "f" * 100, id="too-long"),
    ],
)
def test_function_name_refused_in_the_apis_words(text: str) -> None:
    with pytest.raises(ValueError, match="at 'functionName' failed to satisfy constraint") as e:
        FunctionRef.parse(text)
    assert str(e.value).startswith(f"Value '{text}' at 'functionName'")
    assert str(e.value).endswith(FUNCTION_NAME_PATTERN)
