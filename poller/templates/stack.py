"""Where a template is resolved: the stack's name, region and account, its parameter values,
the exports it may import, and the names its resources get."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from poller.templates.errors import TemplateError

# SAM CLI's two spellings: `Key=Value` and `ParameterKey=Key,ParameterValue=Value`.
_LONG_FORM = re.compile(r"^ParameterKey=(?P<key>[^,]+),ParameterValue=(?P<value>.*)$", re.S)


@dataclass
class Stack:
    """The deployment a template is resolved as. `account` is asked for once, when first needed
    (an ARN of the template's own resources, `AWS::AccountId`)."""

    name: str
    region: str
    account_source: Callable[[], str]
    endpoint_url: str | None = None
    partition: str = "aws"
    parameters: dict[str, str] = field(default_factory=dict)
    imports: dict[str, str] = field(default_factory=dict)

    @cached_property
    def account(self) -> str:
        return self.account_source()

    @property
    def known_account(self) -> str | None:
        """The account if it was needed (and so asked for) already, else None."""
        return self.__dict__.get("account")

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        where = self.region if region else ""
        whose = self.account if account else ""
        return f"arn:{self.partition}:{service}:{where}:{whose}:{resource}"

    def queue_url(self, name: str) -> str:
        """A queue's URL as the endpoint answers GetQueueUrl (path style on a local one)."""
        if self.endpoint_url:
            return f"{self.endpoint_url.rstrip('/')}/{self.account}/{name}"
        return f"https://sqs.{self.region}.amazonaws.com/{self.account}/{name}"


def parse_pairs(items: list[str], what: str) -> dict[str, str]:
    """`K=V` (or SAM CLI's `ParameterKey=K,ParameterValue=V`) items as a dict; TemplateError
    naming the item that is neither. As with SAM CLI, one argument may hold several pairs
    separated by spaces, and a value may be quoted (`Desc="a b"`)."""
    try:
        words = [word for item in items for word in shlex.split(item)]
    except ValueError as exc:  # an unclosed quote
        raise TemplateError(what, f"{exc}: {' '.join(items)!r}") from None
    pairs: dict[str, str] = {}
    for item in words:
        long = _LONG_FORM.match(item)
        if long:
            pairs[long["key"]] = long["value"]
            continue
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise TemplateError(what, f"{item!r} is not KEY=VALUE")
        pairs[key] = value
    return pairs


def default_stack_name(template: str) -> str:
    """The stack name a template runs as unless one is given: its file name without
    `.template` and the extension (`Orders.template.json` → Orders), or its directory's name
    for a file called `template` (SAM's `template.yaml`)."""
    from pathlib import Path

    path = Path(template).resolve()
    stem = path.name.split(".")[0]
    if stem.lower() == "template":
        # `sam build` writes .aws-sam/build/template.yaml: the project is above .aws-sam.
        parents = [p for p in path.parents if p.name == ".aws-sam"]
        stem = (parents[0].parent if parents else path.parent).name
    cleaned = re.sub(r"[^A-Za-z0-9-]", "-", stem).strip("-")
    return cleaned or "poller"
