"""Command line: poller run | validate | config | status | demo | version.

Only the standard library is imported up front: `poller run` takes over SIGTERM, SIGINT and
SIGHUP first thing, so a signal while the rest loads (aioboto3, pydantic, the handlers) stops it
cleanly instead of killing it, and `version` answers at once.
"""

from __future__ import annotations

import argparse
import enum
import importlib.util
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from poller import __version__
from poller.telemetry.status_client import DEFAULT_URL, run_status

if TYPE_CHECKING:
    from anyio.abc import TaskStatus

    from poller.aws import Aws
    from poller.config.models import PollerConfig
    from poller.configuration import ConfigSource, Loaded
    from poller.daemon import Daemon


class ExitCode(enum.IntEnum):
    OK = 0
    FAILURE = 1
    CONFIG = 2  # bad configuration, or a start-up fault that waiting will not fix
    INTERRUPTED = 130


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    early = EarlySignals()
    if args.command == "run":
        early.install()
    if args.command == "version":
        print(f"poller {__version__}")
        return ExitCode.OK
    if args.command == "status":
        return run_status(args.url, args.json)
    if args.command == "demo":
        from poller.demo.main import run_demo

        return run_demo()
    if args.config is None and args.template is None:
        parser.error(f"{args.command}: give -c CONFIG, --template TEMPLATE, or both")
    from poller.errors import ConfigError

    try:
        source, loaded = _load(args)
    except ConfigError as exc:
        print(f"poller: invalid configuration {source_label(args)}:", file=sys.stderr)
        for issue in exc.issues:
            print(f"  {issue}", file=sys.stderr)
        return ExitCode.CONFIG
    if args.command != "run":
        return _report(args.command, loaded, source)
    from poller.telemetry.logging import configure

    configure(loaded.config.logging.level, loaded.config.logging.format)
    return run(loaded.config, source, early, loaded=loaded, args=args)


def _load(args: argparse.Namespace) -> tuple[ConfigSource, Loaded]:
    """Read and check the configuration the command line names; ConfigError (exit 2)."""
    from poller.configuration import check_create, source_from_args

    source = source_from_args(args)
    loaded = source.load(os.environ)
    if args.command != "run":  # `run` imports handlers itself, failing as Lambda's init does
        check_handlers(loaded.config, source.base_dir)
    elif args.create_resources:
        check_create(loaded.config, args.yes)
    return source, loaded


def _report(command: str, loaded: Loaded, source: ConfigSource) -> int:
    """`validate`: OK and the template's notes; `config`: the configuration as YAML."""
    if command == "config":
        from poller.templates.output import render

        print(render(loaded.sections, loaded.built, source.label, Path.cwd()), end="")
        return ExitCode.OK
    for note in loaded.notes:
        print(f"  note: {note}")
    config = loaded.config
    print(
        f"{source.label}: OK ({len(config.functions)} functions, {len(config.mappings)} mappings)"
    )
    return ExitCode.OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="poller", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("run", "run the daemon"),
        ("validate", "check a config file or template"),
        ("config", "print the poller config a template amounts to (with -c: merged into it)"),
    ):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("-c", "--config", type=Path, help="YAML config file")
        _template_arguments(cmd)
    run = sub.choices["run"]
    run.add_argument(
        "--create-resources",
        action="store_true",
        help="create the template's queues, streams, tables, topics and buckets when missing",
    )
    run.add_argument(
        "--yes", action="store_true", help="confirm --create-resources against real AWS"
    )
    run.add_argument(
        "--watch",
        action="store_true",
        help="reload a function's handler when a file under its code directory changes",
    )
    sub.add_parser("demo", help="run a self-contained demo on an embedded local AWS endpoint")
    status = sub.add_parser("status", help="show a running daemon's mappings (GET /mappings)")
    status.add_argument(
        "--url", default=DEFAULT_URL, help=f"its http.listen (default {DEFAULT_URL})"
    )
    status.add_argument("--json", action="store_true", help="print the JSON as the daemon sent it")
    sub.add_parser("version", help="print the version")
    return parser


def _template_arguments(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--template", "-t", type=Path, help="SAM or CloudFormation template")
    cmd.add_argument(
        "--parameter-overrides",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="template parameter values (also ParameterKey=K,ParameterValue=V)",
    )
    cmd.add_argument(
        "--import-values",
        nargs="+",
        default=[],
        metavar="EXPORT=VALUE",
        help="values for Fn::ImportValue",
    )
    cmd.add_argument("--stack-name", help="AWS::StackName (default: from the template's name)")
    cmd.add_argument("--account-id", help="AWS::AccountId (default: asked of STS)")
    cmd.add_argument(
        "--function-url",
        action="append",
        default=[],
        metavar="FUNCTION=URL",
        help="invoke a template function at this URL (an image's Runtime Interface Emulator)",
    )
    cmd.add_argument(
        "--function-name",
        action="append",
        default=[],
        metavar="FUNCTION=NAME",
        help="invoke a template function as this deployed Lambda function",
    )
    cmd.add_argument(
        "--isolation",
        choices=("thread", "process"),
        default="thread",
        help="how a template's Python handlers run (default: thread)",
    )
    cmd.add_argument("--region", help="aws.region")
    cmd.add_argument("--endpoint-url", help="aws.endpoint_url (LocalStack, moto, ...)")
    cmd.add_argument(
        "--embedded",
        action="store_true",
        help="start the embedded local AWS endpoint (the 'local' extra)",
    )


def source_label(args: argparse.Namespace) -> str:
    return " + ".join(str(p) for p in (args.config, args.template) if p)


class EarlySignals:
    """SIGTERM, SIGINT and SIGHUP for `poller run` until the daemon watches them itself: each is
    remembered (a stop, a reload) instead of killing the process or raising KeyboardInterrupt."""

    def __init__(self) -> None:
        self.stop = False
        self.reload = False

    def install(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._note)

    def _note(self, signum: int, frame: object) -> None:
        if signum == signal.SIGHUP:
            self.reload = True
        else:
            self.stop = True


def check_handlers(config: PollerConfig, base_dir: Path) -> None:
    """Find each handler's module without importing (running) it."""
    from poller.errors import ConfigError

    issues = []
    for name, function in config.functions.items():
        if not function.handler:
            continue  # url and function_name targets are checked when they are called
        module, _ = function.module_and_attr
        code_dir = base_dir / function.code_uri if function.code_uri else Path.cwd()
        sys.path.insert(0, str(code_dir.resolve()))
        failed = ""
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        except Exception as exc:  # a parent package's __init__ raised while being imported
            found, failed = False, f"{type(exc).__name__}: {exc}"
        finally:
            sys.path.pop(0)
        if failed:
            issues.append(f"functions.{name}.handler: importing {module!r} failed: {failed}")
        elif not found:
            issues.append(f"functions.{name}.handler: no module named {module!r} in {code_dir}")
    if issues:
        raise ConfigError(issues)


def run(
    config: PollerConfig,
    source: ConfigSource,
    early: EarlySignals | None = None,
    *,
    loaded: Loaded | None = None,
    args: argparse.Namespace | None = None,
) -> int:
    """Run the daemon until SIGTERM/SIGINT (a second signal forces the exit); SIGHUP reads the
    configuration's sources again. A stop that came while starting exits 0 (`early`)."""
    import anyio

    from poller.errors import StartupError, leaves

    early = early or EarlySignals()
    if early.stop:  # stopped while the configuration loaded: nothing has started
        return ExitCode.OK
    failures: list[BaseException] = []
    forced = False
    try:
        forced = anyio.run(_serve, config, source, early, loaded, args)
    except* StartupError as group:
        failures.extend(leaves(group))
    finally:
        early.install()  # the event loop's handlers are gone: stay clean until the exit
    for exc in failures:
        print(f"poller: cannot start: {exc}", file=sys.stderr)
    if failures:
        return ExitCode.CONFIG
    return ExitCode.INTERRUPTED if forced else ExitCode.OK


async def _serve(
    config: PollerConfig,
    source: ConfigSource,
    early: EarlySignals,
    loaded: Loaded | None,
    args: argparse.Namespace | None,
) -> bool:
    import anyio
    import structlog

    from poller.daemon import Daemon

    log = structlog.get_logger("poller.cli")
    for note in loaded.notes if loaded else []:
        log.warning("template_note", note=note)
    setup = None
    built = loaded.built if loaded else None
    if built is not None and args is not None and args.create_resources:
        from poller.templates.resources import create

        resources, region = built.plan.resources, config.aws.region

        async def setup(aws: Aws) -> None:
            await create(aws, resources, region)

    watch = bool(args and args.watch)
    daemon = Daemon(config, source.base_dir, watch=watch, setup=setup)
    async with anyio.create_task_group() as tg:
        await tg.start(_watch_signals, daemon, source, early)
        await daemon.run()
        tg.cancel_scope.cancel()
    return daemon.forced


async def _watch_signals(
    daemon: Daemon,
    source: ConfigSource,
    early: EarlySignals,
    *,
    task_status: TaskStatus[None],
) -> None:
    import anyio

    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        task_status.started()
        # What came before this receiver took over (its Python handlers are replaced now).
        if early.stop:
            daemon.stop()
        if early.reload:
            await _reload(daemon, source)
        async for signum in signals:
            if signum == signal.SIGHUP:
                await _reload(daemon, source)
            elif daemon.lifecycle.stopping.is_set():
                daemon.force()
            else:
                daemon.stop()


async def _reload(daemon: Daemon, source: ConfigSource | Path) -> None:
    """SIGHUP: read the configuration again; an invalid one is refused and the old one runs on.
    `source` may be a config file's path (the same as `-c PATH`)."""
    import structlog

    from poller.configuration import ConfigSource
    from poller.errors import ConfigError, StartupError, error_code

    if isinstance(source, Path):
        source = ConfigSource(source, None)
    log = structlog.get_logger("poller.cli")
    issues: list[str] = []
    import anyio.to_thread

    try:
        # In a thread: a template's transform (and an STS call) must not stall the mappings.
        config = (await anyio.to_thread.run_sync(source.load, os.environ)).config
        check_handlers(config, source.base_dir)
    except ConfigError as exc:
        issues = exc.issues
    if issues:
        log.error("reload_rejected", config=source.label, issues=issues)
        return
    failure = ""
    try:
        await daemon.reload(config)
    except Exception as exc:  # e.g. STS unreachable for a new role: the old config runs on
        failure = str(exc) if isinstance(exc, StartupError) else f"{error_code(exc)}: {exc}"
    if failure:
        log.error("reload_failed", config=source.label, error=failure)
