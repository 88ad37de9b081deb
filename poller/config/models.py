"""Configuration models mirroring CreateEventSourceMapping (snake_case or PascalCase names).

The daemon-level sections (aws, embedded, http, logging, functions, state) are in settings.py
and re-exported here, so `poller.config` names the whole file's model.
"""

from __future__ import annotations

import uuid as uuid_mod
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Discriminator, Field, Tag, field_validator, model_validator
from pydantic_core import PydanticCustomError

from poller.arns import Arn, FunctionRef
from poller.config.settings import (
    AwsConfig,
    DeadLetterSpec,
    DynamoDbState,
    EmbeddedConfig,
    FunctionConfig,
    HttpConfig,
    LoggingConfig,
    QueueSpec,
    SqliteState,
    StateConfig,
    StreamSpec,
    TableSpec,
)
from poller.config.types import LAMBDA_API, STRICT, Int

__all__ = [
    "AwsConfig",
    "DeadLetterSpec",
    "DestinationConfig",
    "DynamoDbState",
    "EmbeddedConfig",
    "FilterConfig",
    "FilterCriteriaConfig",
    "FunctionConfig",
    "HttpConfig",
    "LoggingConfig",
    "MappingConfig",
    "OnFailureConfig",
    "PollerConfig",
    "QueueSpec",
    "ScalingConfig",
    "SqliteState",
    "SqsMappingConfig",
    "StateConfig",
    "StreamMappingConfig",
    "StreamSpec",
    "TableSpec",
]


class ScalingConfig(BaseModel):
    model_config = LAMBDA_API
    maximum_concurrency: Annotated[Int, Field(ge=2, le=1000)] | None = None


class FilterConfig(BaseModel):
    model_config = LAMBDA_API
    pattern: str


class FilterCriteriaConfig(BaseModel):
    """Lambda's FilterCriteria: records matching any filter are delivered, the rest are not."""

    model_config = LAMBDA_API
    filters: list[FilterConfig] = []


class _MappingConfig(BaseModel):
    """Fields every event source mapping has (CreateEventSourceMapping), plus poller's own."""

    model_config = LAMBDA_API
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
    # The version or alias FunctionName named (read from it; `function` keeps the bare name).
    function_qualifier: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _function_reference(cls, data: Any) -> Any:
        """FunctionName in any form the API takes (name, partial or full ARN, qualified or not)
        names the function of that name; its qualifier is kept apart. A malformed one is left
        for `_function_form` to refuse with the field's path."""
        if not isinstance(data, dict):
            return data
        for key in ("FunctionName", "function"):
            value = data.get(key)
            if not isinstance(value, str):
                continue
            try:
                ref = FunctionRef.parse(value)
            except ValueError:
                continue
            data = {**data, key: ref.name}
            if ref.qualifier is not None:
                data["function_qualifier"] = ref.qualifier
        return data

    @field_validator("function")
    @classmethod
    def _function_form(cls, value: str) -> str:
        try:
            return FunctionRef.parse(value).name
        except ValueError as exc:  # AWS's own message, without pydantic's "Value error, "
            raise PydanticCustomError("function_name", str(exc)) from None

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
    def filter_patterns(self) -> list[str]:
        """FilterCriteria's patterns, in order (empty: every record is delivered)."""
        return [f.pattern for f in self.filter_criteria.filters]

    @property
    def report_batch_item_failures(self) -> bool:
        return "ReportBatchItemFailures" in self.function_response_types


class SqsMappingConfig(_MappingConfig):
    """One event source mapping from an SQS queue to a function."""

    scaling_config: ScalingConfig = ScalingConfig()
    visibility_heartbeat: bool = False


StartingPosition = Literal["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"]


class OnFailureConfig(BaseModel):
    model_config = LAMBDA_API
    destination: str | None = None  # an SQS queue, SNS topic or S3 bucket ARN


class DestinationConfig(BaseModel):
    """Where a stream mapping sends a record of each batch it discards (Lambda's OnFailure)."""

    model_config = LAMBDA_API
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


class PollerConfig(BaseModel):
    """The whole configuration file."""

    model_config = STRICT
    aws: AwsConfig = AwsConfig()
    embedded: EmbeddedConfig = EmbeddedConfig()
    http: HttpConfig = HttpConfig()
    logging: LoggingConfig = LoggingConfig()
    shutdown_timeout: Annotated[float, Field(gt=0, le=3600)] = 30.0
    # An SQS long poll in flight when a mapping stops: `finish` lets it end (at most 20 s) and
    # handles what it brings, so the queue hands nothing to a dead request; `cancel` stops at
    # once, and messages the queue hands the abandoned request wait out their visibility timeout.
    shutdown_receives: Literal["finish", "cancel"] = "finish"
    functions: Annotated[dict[str, FunctionConfig], Field(min_length=1)]
    # Invocations at once across all functions (Lambda's account concurrency, 1000 by
    # default); one over it is a throttle.
    concurrency_limit: Annotated[Int, Field(ge=1, le=100000)] = 1000
    state: StateConfig = SqliteState()
    mappings: list[MappingConfig] = []
