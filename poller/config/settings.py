"""Daemon-level configuration models: AWS access, the embedded endpoint, HTTP, logging,
functions and state. Mappings are in config.py."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, Discriminator, Field, Tag, field_validator, model_validator

from poller.config.types import STRICT, Int

_HANDLER = re.compile(r"^[A-Za-z_][\w.]*[:.][A-Za-z_]\w*$")
_LISTEN = re.compile(r"^(?P<host>\[[0-9a-fA-F:]+\]|[\w.-]+):(?P<port>\d{1,5})$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

LogLevel = Literal["debug", "info", "warning", "error"]


class AwsConfig(BaseModel):
    """How to reach AWS: region and an optional endpoint (LocalStack, moto, ...)."""

    model_config = STRICT
    region: str = "us-east-1"
    endpoint_url: str | None = None
    # Per-service endpoints over endpoint_url, e.g. {lambda: "http://localhost:3001"} for SAM
    # local's Invoke API while the sources stay on AWS.
    endpoints: dict[str, str] = {}
    profile: str | None = None
    # Seconds a call may wait for its answer beyond the wait it asks for (an SQS long poll's
    # 20 s) before it counts as failed and is retried.
    read_timeout: Annotated[float, Field(gt=0, le=900)] = 25


class DeadLetterSpec(BaseModel):
    model_config = STRICT
    name: str
    max_receive_count: Annotated[Int, Field(ge=1, le=1000)] = 3


class QueueSpec(BaseModel):
    """A queue the embedded endpoint creates at start-up (local development only)."""

    model_config = STRICT
    name: str
    visibility_timeout: Annotated[Int, Field(ge=0, le=43200)] = 30
    dead_letter: DeadLetterSpec | None = None


class StreamSpec(BaseModel):
    """A Kinesis stream the embedded endpoint creates at start-up."""

    model_config = STRICT
    name: str
    shards: Annotated[Int, Field(ge=1, le=100)] = 1


class TableSpec(BaseModel):
    """A DynamoDB table (with a stream) the embedded endpoint creates at start-up.

    Keys are strings: `partition_key` and an optional `sort_key` attribute name.
    """

    model_config = STRICT
    name: str
    partition_key: str = "pk"
    sort_key: str | None = None
    stream_view_type: Literal["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"] = (
        "NEW_AND_OLD_IMAGES"
    )


class EmbeddedConfig(BaseModel):
    """An AWS-compatible endpoint started inside poller (moto's server, from the `local` extra)."""

    model_config = STRICT
    enabled: bool = False
    port: Annotated[Int, Field(ge=0, le=65535)] = 0
    queues: list[QueueSpec] = []
    streams: list[StreamSpec] = []
    tables: list[TableSpec] = []


class HttpConfig(BaseModel):
    """The operations server: /metrics, /healthz, /readyz, /mappings, and the control API.

    The control API's bearer token is a secret, so it is never a field here: only where to find
    it is. It is read once, at start-up (`poller.telemetry.control.read_token`).
    """

    model_config = STRICT
    enabled: bool = True
    listen: str = "127.0.0.1:9102"
    # POST /mappings/{name}/enable and /disable: off unless set. When on, each request must carry
    # `Authorization: Bearer <token>`; without a token of at least 16 characters poller will not
    # start (exit 2). Keep `listen` on loopback (the default) or behind TLS: the token travels in
    # clear text.
    control: bool = False
    # Where the token is: the file `control_token_file` when it is set (its content, surrounding
    # whitespace stripped; a relative path is relative to the config file), else the environment
    # variable named `control_token_env`. The file wins: the variable is not read then.
    control_token_env: str = "POLLER_CONTROL_TOKEN"  # noqa: S105 - a variable name, not a secret
    control_token_file: str | None = None

    @field_validator("control_token_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not _ENV_NAME.match(value):
            raise ValueError(
                "must be the name of an environment variable, such as POLLER_CONTROL_TOKEN"
            )
        return value

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
    model_config = STRICT
    level: LogLevel = "info"
    format: Literal["auto", "json", "console"] = "auto"
    # Include each batch's event records in its batch_invoked / batch_failed line. Off by
    # default: records are the users' data.
    log_records: bool = False


class FunctionConfig(BaseModel):
    """A function: its target and its Lambda settings.

    The target is exactly one of `handler` (a Python function run by poller, in its own process
    or, with `isolation: process`, in worker processes), `url` (an HTTP endpoint such as the
    Lambda Runtime Interface Emulator) or `function_name` (a Lambda function, through the
    Invoke API).
    """

    model_config = STRICT
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

    @field_validator("environment")
    @classmethod
    def _environment_form(cls, value: dict[str, str]) -> dict[str, str]:
        # What os.environ refuses would stop the daemon at start, past `poller validate`.
        for name, text in value.items():
            if not name or "=" in name or "\x00" in name:
                raise ValueError(f"{name!r} is not an environment variable name")
            if "\x00" in text:
                raise ValueError(f"{name}: a value cannot hold a NUL character")
        return value

    @field_validator("code_uri")
    @classmethod
    def _code_uri_form(cls, value: str | None) -> str | None:
        if value is not None and "\x00" in value:
            raise ValueError("a path cannot hold a NUL character")
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


class SqliteState(BaseModel):
    """Stream checkpoints in one SQLite file (relative paths: to the config file). One process."""

    model_config = STRICT
    backend: Literal["sqlite"] = "sqlite"
    path: str = ".poller/state.db"


class DynamoDbState(BaseModel):
    """Shard leases and checkpoints in a DynamoDB lease table shared by every replica.

    The table is keyed by `leaseKey` (created on demand billing if missing). A lease whose
    counter has not changed for `failover_seconds` is taken over by another replica; owners
    renew every third of it. `worker_id` names this replica in `leaseOwner` (default: host
    name, process id and a random suffix, new on every start).
    """

    model_config = STRICT
    backend: Literal["dynamodb"]
    table: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{3,255}$")]
    failover_seconds: Annotated[float, Field(ge=1, le=600)] = 10.0
    worker_id: Annotated[str | None, Field(min_length=1, max_length=256)] = None


def _state_kind(value: object) -> str:
    backend = value.get("backend") if isinstance(value, dict) else getattr(value, "backend", None)
    return backend if isinstance(backend, str) else "sqlite"


# Which backend: `backend` picks the model; sqlite when it is not given.
StateConfig = Annotated[
    Annotated[SqliteState, Tag("sqlite")] | Annotated[DynamoDbState, Tag("dynamodb")],
    Discriminator(
        _state_kind,
        custom_error_type="state_backend",
        custom_error_message="must be sqlite or dynamodb",
    ),
]
