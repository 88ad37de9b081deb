"""The daemon: one root task group holding the HTTP server and every mapping's task tree.

Shutdown has three phases. (1) `stop()` cancels intake: no new receives. With
`shutdown_receives: finish` an SQS long poll already open runs to its end and what it brings is
handled, since the queue would hide those messages for their visibility timeout otherwise.
(2) In-flight batches drain for up to `shutdown_timeout`, after which they are cancelled (their
messages reappear after the visibility timeout). (3) Deleting what succeeded runs shielded and
bounded, so it completes even while phase 2 is being cut short. A clean shutdown neither loses
nor redelivers a message.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import structlog
from anyio.abc import TaskStatus

from poller.aws import Aws
from poller.config.models import PollerConfig
from poller.config.settings import AwsConfig
from poller.errors import StartupError
from poller.lifecycle import Lifecycle
from poller.local import (
    LOCAL_CREDENTIALS,
    EmbeddedEndpoint,
    create_queues,
    create_streams,
    create_tables,
)
from poller.runtime import Runtime
from poller.state.backends import StoreSite, open_store
from poller.state.base import CheckpointStore
from poller.supervisor import Supervisor
from poller.telemetry.control import Control, read_token
from poller.telemetry.http import Readiness, build_app, serve
from poller.telemetry.metrics import Metrics
from poller.telemetry.status import all_status
from poller.telemetry.systemd import Notifier

log = structlog.get_logger("poller.daemon")


class Daemon:
    """Runs every enabled mapping of a configuration until `stop()`."""

    def __init__(
        self,
        config: PollerConfig,
        base_dir: Path,
        metrics: Metrics | None = None,
        watch: bool = False,
        setup: Callable[[Aws], Awaitable[None]] | None = None,
    ) -> None:
        """With `watch`, a change under a function's code directory reloads its handler
        (poller.watching); mappings and checkpoints are untouched. `setup` runs once the
        endpoint is reachable (the embedded one started), before any mapping is built: it
        creates a template's resources (`--create-resources`)."""
        self.config = config
        self.setup = setup
        self.watch = watch
        self.base_dir = base_dir
        self.metrics = metrics or Metrics()
        self.readiness = Readiness()
        self.lifecycle = Lifecycle()
        self.notifier = Notifier.from_environ(os.environ)  # systemd's Type=notify protocol
        # The control API's token, read once here: a missing or unusable one stops the start
        # (StartupError, exit 2) before anything connects.
        http = config.http
        self.control_token = (
            read_token(http, os.environ, base_dir) if http.enabled and http.control else None
        )
        self.http_port: int | None = None
        self.supervisor: Supervisor | None = None
        self.endpoint_url: str | None = config.aws.endpoint_url
        self.drained = True
        self.forced = False
        self._drain_scope = anyio.CancelScope()

    def stop(self) -> None:
        """Phase 1: stop intake; in-flight batches drain within `shutdown_timeout`."""
        if not self.lifecycle.stopping.is_set():
            log.info(
                "shutdown_started",
                drain_timeout=self.config.shutdown_timeout,
                receives=self.config.shutdown_receives,
            )
            self.notifier.stopping()
            self.lifecycle.stop()

    def force(self) -> None:
        """A second signal: abandon the drain now (succeeded deletes still complete)."""
        log.warning("shutdown_forced")
        self.drained = False
        self.forced = True
        self.lifecycle.stop()
        self._drain_scope.cancel()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Start everything; returns after shutdown. Raises StartupError for faults at start."""
        async with AsyncExitStack() as stack:
            aws = await self._connect(stack)
            if self.setup is not None:
                await self.setup(aws)
            runtime = Runtime(
                aws,
                self.metrics,
                self.readiness,
                self.lifecycle,
                log_records=self.config.logging.log_records,
                finish_receives=self.config.shutdown_receives == "finish",
            )
            opened: list[CheckpointStore] = []

            async def store() -> CheckpointStore:
                # Opened when the first stream mapping is built (at start, or at the reload
                # that adds one), from the configuration in force then.
                if not opened:
                    site = StoreSite(
                        aws,
                        self.metrics,
                        self.lifecycle,
                        stack,
                        self.base_dir,
                        ephemeral=self.config.embedded.enabled,
                    )
                    opened.append(await open_store(self.config.state, site))
                return opened[0]

            self.supervisor = Supervisor(
                self.base_dir, runtime, store, stack, self.config.concurrency_limit
            )
            try:
                entries = await self.supervisor.prepare(self.config)
            except StartupError:
                if not self.lifecycle.stopping.is_set():
                    raise
                log.info("daemon_stopped", drained=True)  # stopped while still starting
                return
            async with anyio.create_task_group() as root:
                if self.config.http.enabled:
                    app = build_app(
                        self.metrics,
                        self.readiness,
                        lambda: all_status(
                            self.config,
                            self.metrics,
                            runtime.status,
                            self.readiness.waiting(),
                            self.supervisor.disabled if self.supervisor else set(),
                        ),
                        Control(self.set_enabled, self.control_token)
                        if self.control_token is not None
                        else None,
                    )
                    self.http_port = await root.start(
                        serve, app, self.config.http.host, self.config.http.port
                    )
                root.start_soon(self._drain_deadline)
                log.info(
                    "daemon_started",
                    mappings=[e.mapping.name for e in entries],
                    http_port=self.http_port,
                    endpoint_url=self.endpoint_url,
                )
                task_status.started()
                self.notifier.ready(f"running {len(entries)} mappings")
                root.start_soon(self.notifier.run)
                if self.watch:  # watchfiles is loaded for --watch only
                    from poller.watching import CodeWatcher

                    watcher = CodeWatcher(
                        self.supervisor.handlers, self.lifecycle.stopping, self.metrics
                    )
                    root.start_soon(watcher.run)
                with self._drain_scope:
                    async with anyio.create_task_group() as tree:
                        tree.start_soon(self.lifecycle.stopping.wait)
                        self.supervisor.start(tree, entries)
                root.cancel_scope.cancel()
        log.info("daemon_stopped", drained=self.drained)

    async def _connect(self, stack: AsyncExitStack) -> Aws:
        embedded = self.config.embedded
        if not embedded.enabled:
            return Aws(self.config.aws, self.metrics)
        endpoint = EmbeddedEndpoint(embedded.port)
        self.endpoint_url = await anyio.to_thread.run_sync(endpoint.start)
        stack.callback(endpoint.stop)
        aws_config = AwsConfig(
            region=self.config.aws.region,
            endpoint_url=self.endpoint_url,
            endpoints=self.config.aws.endpoints,
        )
        aws = Aws(aws_config, self.metrics, credentials=LOCAL_CREDENTIALS)
        async with aws.client("sqs") as client:
            await create_queues(client, aws_config.region, embedded.queues)
        if embedded.streams:
            async with aws.client("kinesis") as client:
                await create_streams(client, embedded.streams)
        if embedded.tables:
            async with aws.client("dynamodb") as client:
                await create_tables(client, embedded.tables)
        return aws

    async def set_enabled(self, name: str, enabled: bool) -> bool:
        """Enable or disable one mapping at runtime; False if there is no such mapping."""
        if self.supervisor is None or self.lifecycle.stopping.is_set():
            return False
        return await self.supervisor.set_enabled(self.config, name, enabled)

    async def reload(self, config: PollerConfig) -> None:
        """Apply a new, already validated configuration to the running daemon (SIGHUP)."""
        if self.supervisor is None or self.lifecycle.stopping.is_set():
            return
        old, self.config = self.config, config  # a store first opened now reads the new one
        try:
            await self.supervisor.reload(old, config)
        except BaseException:
            self.config = old  # nothing was applied: the old configuration runs on
            raise

    async def _drain_deadline(self) -> None:
        await self.lifecycle.stopping.wait()
        await anyio.sleep(self.config.shutdown_timeout)
        log.warning("drain_timed_out", timeout=self.config.shutdown_timeout)
        self.drained = False
        self._drain_scope.cancel()
