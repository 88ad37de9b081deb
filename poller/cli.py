"""Command line: poller run | validate | status | demo | version.

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

    from poller.config.models import PollerConfig
    from poller.daemon import Daemon


class ExitCode(enum.IntEnum):
    OK = 0
    FAILURE = 1
    CONFIG = 2  # bad configuration, or a start-up fault that waiting will not fix
    INTERRUPTED = 130


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="poller", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("run", "run the daemon"), ("validate", "check a config file")):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("-c", "--config", required=True, type=Path, help="YAML config file")
    sub.add_parser("demo", help="run a self-contained demo on an embedded local AWS endpoint")
    status = sub.add_parser("status", help="show a running daemon's mappings (GET /mappings)")
    status.add_argument(
        "--url", default=DEFAULT_URL, help=f"its http.listen (default {DEFAULT_URL})"
    )
    status.add_argument("--json", action="store_true", help="print the JSON as the daemon sent it")
    sub.add_parser("version", help="print the version")
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
    from poller.config.loader import load_config
    from poller.errors import ConfigError

    try:
        config = load_config(args.config, os.environ)
        if args.command == "validate":
            check_handlers(config, args.config.parent)
            print(
                f"{args.config}: OK ({len(config.functions)} functions, "
                f"{len(config.mappings)} mappings)"
            )
            return ExitCode.OK
    except ConfigError as exc:
        print(f"poller: invalid configuration {args.config}:", file=sys.stderr)
        for issue in exc.issues:
            print(f"  {issue}", file=sys.stderr)
        return ExitCode.CONFIG
    from poller.telemetry.logging import configure

    configure(config.logging.level, config.logging.format)
    return run(config, args.config, early)


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


def run(config: PollerConfig, path: Path, early: EarlySignals | None = None) -> int:
    """Run the daemon until SIGTERM/SIGINT (a second signal forces the exit); SIGHUP reloads
    the configuration file at `path`. A stop that came while starting exits 0 (`early`)."""
    import anyio

    from poller.errors import StartupError, leaves

    early = early or EarlySignals()
    if early.stop:  # stopped while the configuration loaded: nothing has started
        return ExitCode.OK
    failures: list[BaseException] = []
    forced = False
    try:
        forced = anyio.run(_serve, config, path, early)
    except* StartupError as group:
        failures.extend(leaves(group))
    finally:
        early.install()  # the event loop's handlers are gone: stay clean until the exit
    for exc in failures:
        print(f"poller: cannot start: {exc}", file=sys.stderr)
    if failures:
        return ExitCode.CONFIG
    return ExitCode.INTERRUPTED if forced else ExitCode.OK


async def _serve(config: PollerConfig, path: Path, early: EarlySignals) -> bool:
    import anyio

    from poller.daemon import Daemon

    daemon = Daemon(config, path.parent)
    async with anyio.create_task_group() as tg:
        await tg.start(_watch_signals, daemon, path, early)
        await daemon.run()
        tg.cancel_scope.cancel()
    return daemon.forced


async def _watch_signals(
    daemon: Daemon,
    path: Path,
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
            await _reload(daemon, path)
        async for signum in signals:
            if signum == signal.SIGHUP:
                await _reload(daemon, path)
            elif daemon.lifecycle.stopping.is_set():
                daemon.force()
            else:
                daemon.stop()


async def _reload(daemon: Daemon, path: Path) -> None:
    """SIGHUP: read the config file again; an invalid one is refused and the old one runs on."""
    import structlog

    from poller.config.loader import load_config
    from poller.errors import ConfigError, StartupError, error_code

    log = structlog.get_logger("poller.cli")
    issues: list[str] = []
    try:
        config = load_config(path, os.environ)
        check_handlers(config, path.parent)
    except ConfigError as exc:
        issues = exc.issues
    if issues:
        log.error("reload_rejected", config=str(path), issues=issues)
        return
    failure = ""
    try:
        await daemon.reload(config)
    except Exception as exc:  # e.g. STS unreachable for a new role: the old config runs on
        failure = str(exc) if isinstance(exc, StartupError) else f"{error_code(exc)}: {exc}"
    if failure:
        log.error("reload_failed", config=str(path), error=failure)
