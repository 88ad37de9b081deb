"""Where `run`, `validate` and `config` get their configuration: a config file (`-c`), a
template (`--template`), or both (the file's sections, the template's functions and mappings),
with the command line's `--region`, `--endpoint-url` and `--embedded` over the file's
(`source_from_args` reads them from the parsed arguments). A SIGHUP reads the same sources
again.
"""

from __future__ import annotations

import argparse
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from poller.config.loader import load_raw_config, validate_config
from poller.config.models import PollerConfig

if TYPE_CHECKING:  # read only for --template: `validate -c` loads no more than it needs
    from poller.templates.build import Built, TemplateOptions


@dataclass
class Overrides:
    """The command line's say over the `aws` and `embedded` sections."""

    region: str | None = None
    endpoint_url: str | None = None
    embedded: bool = False


@dataclass
class Loaded:
    config: PollerConfig
    sections: dict[str, Any]  # what was validated (the file's sections, the template's parts)
    built: Built | None = None

    @property
    def notes(self) -> list[str]:
        return self.built.notes if self.built else []


@dataclass
class ConfigSource:
    """`-c`, `--template`, or both. `base_dir` is where relative paths in the file are read
    from: the config file's directory, else the template's."""

    config_path: Path | None
    template: TemplateOptions | None
    overrides: Overrides = field(default_factory=Overrides)
    _embedded_port: int | None = None

    @property
    def base_dir(self) -> Path:
        if self.config_path is not None:
            return self.config_path.parent
        assert self.template is not None
        return self.template.path.parent

    @property
    def label(self) -> str:
        named = [str(p) for p in (self.config_path, self.template and self.template.path) if p]
        return " + ".join(named)

    def load(self, environ: Mapping[str, str]) -> Loaded:
        """Read and validate everything; ConfigError (exit 2) lists every problem."""
        sections = load_raw_config(self.config_path, environ) if self.config_path else {}
        sections = self._overridden(sections)
        if self.template is None:
            return Loaded(validate_config(sections), sections)
        from poller.local import LOCAL_ACCOUNT
        from poller.templates.account import caller_account
        from poller.templates.build import build

        profile = (sections.get("aws") or {}).get("profile")
        embedded = bool((sections.get("embedded") or {}).get("enabled"))

        def account(endpoint: str | None, region: str) -> str:
            return LOCAL_ACCOUNT if embedded else caller_account(endpoint, region, profile)

        built = build(self.template, sections, account)
        return Loaded(built.config, built.data, built)

    def _overridden(self, sections: dict[str, Any]) -> dict[str, Any]:
        out = dict(sections)
        aws = dict(out.get("aws") or {})
        if self.overrides.region:
            aws["region"] = self.overrides.region
        if self.overrides.endpoint_url:
            aws["endpoint_url"] = self.overrides.endpoint_url
        embedded = dict(out.get("embedded") or {})
        if self.overrides.embedded:
            embedded["enabled"] = True
        if embedded.get("enabled") and self.template is not None:
            # The template's queue URLs name the endpoint, so its port is fixed before start.
            if not embedded.get("port"):
                embedded["port"] = self._port()
            aws["endpoint_url"] = f"http://127.0.0.1:{embedded['port']}"
        if aws:
            out["aws"] = aws
        if embedded:
            out["embedded"] = embedded
        return out

    def _port(self) -> int:
        """A free loopback port for the embedded endpoint, the same one for every reload."""
        if self._embedded_port is None:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                self._embedded_port = int(probe.getsockname()[1])
        return self._embedded_port


def source_from_args(args: argparse.Namespace) -> ConfigSource:
    """The configuration's sources as the command line names them; ConfigError for a
    malformed KEY=VALUE."""
    from poller.errors import ConfigError
    from poller.templates.build import TemplateOptions
    from poller.templates.errors import TemplateError
    from poller.templates.functions import Targets
    from poller.templates.stack import parse_pairs

    overrides = Overrides(args.region, args.endpoint_url, args.embedded)
    if args.template is None:
        return ConfigSource(args.config, None, overrides)
    try:
        options = TemplateOptions(
            path=args.template,
            parameters=parse_pairs(args.parameter_overrides, "--parameter-overrides"),
            imports=parse_pairs(args.import_values, "--import-values"),
            stack_name=args.stack_name,
            account_id=args.account_id,
            targets=Targets(
                urls=parse_pairs(args.function_url, "--function-url"),
                names=parse_pairs(args.function_name, "--function-name"),
                isolation=args.isolation,
            ),
        )
    except TemplateError as exc:
        raise ConfigError([str(exc)]) from exc
    return ConfigSource(args.config, options, overrides)


def check_create(config: PollerConfig, confirmed: bool) -> None:
    """`--create-resources` against real AWS (no endpoint_url, not embedded) needs `--yes`."""
    from poller.errors import ConfigError

    if config.embedded.enabled or config.aws.endpoint_url or confirmed:
        return
    raise ConfigError(
        [
            f"--create-resources: this would create resources in real AWS ({config.aws.region}): "
            "add --yes to confirm, or point poller at a local endpoint (--embedded, "
            "--endpoint-url)"
        ]
    )
