"""Building blocks shared by the configuration models."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, ConfigDict
from pydantic.alias_generators import to_pascal
from pydantic_core import PydanticCustomError

STRICT = ConfigDict(extra="forbid", frozen=True)
# Mapping fields accept the Lambda API's PascalCase names so SAM / CloudFormation / Terraform
# snippets paste unchanged; snake_case names work too.
LAMBDA_API = ConfigDict(
    extra="forbid",
    frozen=True,
    alias_generator=to_pascal,
    validate_by_name=True,
    validate_by_alias=True,
)


def _not_bool(value: object) -> object:
    # YAML's `true` would pass pydantic's lax int as 1: a BatchSize of `yes` is a mistake.
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "Input should be a valid integer, not a boolean")
    return value


Int = Annotated[int, BeforeValidator(_not_bool)]
