"""Configuration models mirroring CreateEventSourceMapping (snake_case or PascalCase names)."""

from __future__ import annotations

import re
import uuid as uuid_mod
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_pascal
from pydantic_core import PydanticCustomError

from poller.arns import Arn

_STRICT = ConfigDict(extra="forbid", frozen=True)
# Mapping fields accept the Lambda API's PascalCase names so SAM / CloudFormation / Terraform
# snippets paste unchanged; snake_case names work too.
_LAMBDA_API = ConfigDict(
    extra="forbid",
    frozen=True,
    alias_generator=to_pascal,
    validate_by_name=True,
    validate_by_alias=True,
)
_HANDLER = re.compile(r"^[A-Za-z_][\w.]*[:.][A-Za-z_]\w*$")
_LISTEN = re.compile(r"^(?P<host>\[[0-9a-fA-F:]+\]|[\w.-]+):(?P<port>\d{1,5})$")

LogLevel = Literal["debug", "info", "warning", "error"]


def _not_bool(value: object) -> object:
    # YAML's `true` would pass pydantic's lax int as 1: a BatchSize of `yes` is a mistake.
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "Input should be a valid integer, not a boolean")
    return value


Int = Annotated[int, BeforeValidator(_not_bool)]


class AwsConfig(BaseModel):
    """How to reach AWS: region and an optional endpoint (LocalStack, moto, ...)."""

    model_config = _STRICT
    region: str = "us-east-1"
    endpoint_url: str | None = None
    # Per-service endpoints over endpoint_url, e.g. {lambda: "http://localhost:3001"} for SAM
    # local's Invoke API while the sources stay on AWS.
    endpoints: dict[str, str] = {}
    profile: str | None = None


class DeadLetterSpec(BaseModel):
    model_config = _STRICT
    name: str
    max_receive_count: Annotated[Int, Field(ge=1, le=1000)] = 3


class QueueSpec(BaseModel):
    """A queue the embedded endpoint creates at start-up (local development only)."""

    model_config = _STRICT
    name: str
    visibility_timeout: Annotated[Int, Field(ge=0, le=43200)] = 30
    dead_letter: DeadLetterSpec | None = None


class StreamSpec(BaseModel):
    """A Kinesis stream the embedded endpoint creates at start-up."""

    model_config = _STRICT
    name: str
    shards: Annotated[Int, Field(ge=1, le=100)] = 1


class TableSpec(BaseModel):
    """A DynamoDB table (with a stream) the embedded endpoint creates at start-up.

    Keys are strings: `partition_key` and an optional `sort_key` attribute name.
    """

    model_config = _STRICT
    name: str
    partition_key: str = "pk"
    sort_key: str | None = None
    stream_view_type: Literal["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"] = (
        "NEW_AND_OLD_IMAGES"
    )


class EmbeddedConfig(BaseModel):
    """An AWS-compatible endpoint started inside poller (moto's server, from the `local` extra)."""

    model_config = _STRICT
    enabled: bool = False
    port: Annotated[Int, Field(ge=0, le=65535)] = 0
    queues: list[QueueSpec] = []
    streams: list[StreamSpec] = []
    tables: list[TableSpec] = []


class HttpConfig(BaseModel):
    """The operations server: /metrics, /healthz, /readyz."""

    model_config = _STRICT
    enabled: bool = True
    listen: str = "127.0.0.1:9102"

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        match = _LISTEN.match(value)
        if not match or not 0 <= int(match["port"]) <= 65535:
            raise ValueError("must be HOST:PORT, for example 127.0.0.1:9102")
        return value

    @property
    def host(self) -> str:
        match = _LISTEN.match(self.listen)
        assert match is not None
        return match["host"].strip("[]")

    @property
    def port(self) -> int:
        match = _LISTEN.match(self.listen)
        assert match is not None
        return int(match["port"])


class LoggingConfig(BaseModel):
    model_config = _STRICT
    level: LogLevel = "info"
    format: Literal["auto", "json", "console"] = "auto"


class FunctionConfig(BaseModel):
    """A function: its target and its Lambda settings.

    The target is exactly one of `handler` (a Python function run by poller, in its own process
    or, with `isolation: process`, in worker processes), `url` (an HTTP endpoint such as the
    Lambda Runtime Interface Emulator) or `function_name` (a Lambda function, through the
    Invoke API).
    """

    model_config = _STRICT
    handler: str | None = None
    url: Annotated[str | None, Field(pattern=r"^https?://")] = None
    function_name: str | None = None
    qualifier: str | None = None  # with function_name: a version or alias
    isolation: Literal["thread", "process"] = "thread"
    timeout: Annotated[Int, Field(ge=1, le=900)] = 3
    memory_size: Annotated[Int, Field(ge=128, le=10240)] = 128
    environment: dict[str, str] = {}
    code_uri: str | None = None
    # The execution role: assumed (STS) to read the function's sources and write its
    # destinations; stream events carry it as invokeIdentityArn. Unset, poller uses its own
    # credentials and arn:aws:iam::<source account>:role/<function name> as invokeIdentityArn.
    role: Annotated[str | None, Field(pattern=r"^arn:[\w-]+:iam::\d{12}:role/.+$")] = None
    # Invocations of this function at once; one over it is a throttle (Lambda's reserved
    # concurrency). With isolation: process, also the number of worker processes.
    reserved_concurrency: Annotated[Int | None, Field(ge=0, le=10000)] = None
    max_threads: Annotated[Int, Field(ge=1, le=1024)] = 64

    @field_validator("handler")
    @classmethod
    def _handler_form(cls, value: str | None) -> str | None:
        if value is not None and not _HANDLER.match(value):
            raise ValueError("must be 'module:function' (or Lambda's 'module.function')")
        return value

    @model_validator(mode="after")
    def _one_target(self) -> FunctionConfig:
        targets = [n for n in ("handler", "url", "function_name") if getattr(self, n)]
        if len(targets) != 1:
            given = " and ".join(targets) or "none"
            raise ValueError(f"give exactly one of handler, url or function_name (given: {given})")
        if self.isolation == "process" and not self.handler:
            raise ValueError("isolation: process applies to a handler")
        return self

    @property
    def target(self) -> str:
        return "handler" if self.handler else "url" if self.url else "function_name"

    @property
    def module_and_attr(self) -> tuple[str, str]:
        assert self.handler is not None
        if ":" in self.handler:
            module, attr = self.handler.split(":", 1)
        else:
            module, attr = self.handler.rsplit(".", 1)
        return module, attr


class ScalingConfig(BaseModel):
    model_config = _LAMBDA_API
    maximum_concurrency: Annotated[Int, Field(ge=2, le=1000)] | None = None


class FilterConfig(BaseModel):
    model_config = _LAMBDA_API
    pattern: str


class FilterCriteriaConfig(BaseModel):
    """Lambda's FilterCriteria: records matching any filter are delivered, the rest are not."""

    model_config = _LAMBDA_API
    filters: list[FilterConfig] = []


class _MappingConfig(BaseModel):
    """Fields every event source mapping has (CreateEventSourceMapping), plus poller's own."""

    model_config = _LAMBDA_API
    function: str = Field(alias="FunctionName")
    event_source_arn: str
    enabled: bool = True
    batch_size: Annotated[Int, Field(ge=1, le=10000)] = 10
    maximum_batching_window_in_seconds: Annotated[Int, Field(ge=0, le=300)] = 0
    function_response_types: Annotated[
        list[Literal["ReportBatchItemFailures"]], Field(max_length=1)
    ] = []
    filter_criteria: FilterCriteriaConfig = FilterCriteriaConfig()
    # poller's own fields (not in the Lambda API):
    name: str | None = None
    uuid: str | None = None
    # Lambda allows 5 filters per mapping, 10 after a quota increase.
    filter_quota: Annotated[Int, Field(ge=5, le=10)] = 5

    @property
    def arn(self) -> Arn:
        return Arn.parse(self.event_source_arn)

    @property
    def display_name(self) -> str:
        return self.name or f"{self.function}-{self.arn.resource_name}"

    @property
    def mapping_uuid(self) -> str:
        """Stable across restarts unless set: derived from function and source, like a key."""
        if self.uuid:
            return self.uuid
        return str(
            uuid_mod.uuid5(uuid_mod.NAMESPACE_URL, f"{self.function}|{self.event_source_arn}")
        )

    @property
    def report_batch_item_failures(self) -> bool:
        return "ReportBatchItemFailures" in self.function_response_types


class SqsMappingConfig(_MappingConfig):
    """One event source mapping from an SQS queue to a function."""

    scaling_config: ScalingConfig = ScalingConfig()
    visibility_heartbeat: bool = False


StartingPosition = Literal["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"]


class OnFailureConfig(BaseModel):
    model_config = _LAMBDA_API
    destination: str | None = None  # an SQS queue, SNS topic or S3 bucket ARN


class DestinationConfig(BaseModel):
    """Where a stream mapping sends a record of each batch it discards (Lambda's OnFailure)."""

    model_config = _LAMBDA_API
    on_failure: OnFailureConfig = OnFailureConfig()


class StreamMappingConfig(_MappingConfig):
    """One event source mapping from a Kinesis stream or a DynamoDB stream to a function.

    `event_source_arn` may also name a DynamoDB *table*: poller reads its latest stream.
    """

    batch_size: Annotated[Int, Field(ge=1, le=10000)] = 100
    parallelization_factor: Annotated[Int, Field(ge=1, le=10)] = 1
    # Required by AWS; checked in rules with AWS's message so it names the mapping.
    starting_position: StartingPosition | None = None
    starting_position_timestamp: datetime | None = None
    maximum_retry_attempts: Annotated[Int, Field(ge=-1, le=10000)] = -1
    # -1, or 60-604800 (the range check with AWS's message for 0-59 is in rules).
    maximum_record_age_in_seconds: Annotated[Int, Field(ge=-1, le=604800)] = -1
    bisect_batch_on_function_error: bool = False
    destination_config: DestinationConfig = DestinationConfig()
    tumbling_window_in_seconds: Annotated[Int, Field(ge=0, le=900)] = 0
    # poller's own: how often the shard list is refreshed (new shards, closed shards).
    shard_refresh_seconds: Annotated[float, Field(gt=0, le=3600)] = 10.0

    @field_validator("starting_position_timestamp")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        # A timestamp written without a zone is UTC, as AWS's API takes it, not local time.
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @property
    def on_failure(self) -> str | None:
        """The on-failure destination's ARN, or None ("" removes it, as in the API)."""
        return self.destination_config.on_failure.destination or None

    @property
    def is_dynamodb(self) -> bool:
        return self.arn.service == "dynamodb"


def _mapping_kind(value: object) -> str:
    """SQS or stream, by the source ARN's service; an unknown service goes by the fields given
    (the rule check then names the unsupported service)."""
    if not isinstance(value, dict):
        return "stream" if isinstance(value, StreamMappingConfig) else "sqs"
    arn = value.get("event_source_arn", value.get("EventSourceArn"))
    service = arn.split(":")[2:3] if isinstance(arn, str) else []
    if service in (["kinesis"], ["dynamodb"]):
        return "stream"
    if service != ["sqs"] and {"starting_position", "StartingPosition"} & set(value):
        return "stream"
    return "sqs"


MappingConfig = Annotated[
    Annotated[SqsMappingConfig, Tag("sqs")] | Annotated[StreamMappingConfig, Tag("stream")],
    Discriminator(_mapping_kind),
]


class StateConfig(BaseModel):
    """Where stream checkpoints live: one SQLite file (relative paths: to the config file)."""

    model_config = _STRICT
    backend: Literal["sqlite"] = "sqlite"
    path: str = ".poller/state.db"


class PollerConfig(BaseModel):
    """The whole configuration file."""

    model_config = _STRICT
    aws: AwsConfig = AwsConfig()
    embedded: EmbeddedConfig = EmbeddedConfig()
    http: HttpConfig = HttpConfig()
    logging: LoggingConfig = LoggingConfig()
    shutdown_timeout: Annotated[float, Field(gt=0, le=3600)] = 30.0
    functions: Annotated[dict[str, FunctionConfig], Field(min_length=1)]
    # Invocations at once across all functions (Lambda's account concurrency, 1000 by
    # default); one over it is a throttle.
    concurrency_limit: Annotated[Int, Field(ge=1, le=100000)] = 1000
    state: StateConfig = StateConfig()
    mappings: list[MappingConfig] = []
