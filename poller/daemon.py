"""The daemon: one root task group holding the HTTP server and every mapping's task tree.

Shutdown has three phases. (1) `stop()` cancels intake: no new receives. (2) In-flight batches
drain for up to `shutdown_timeout`, after which they are cancelled (their messages reappear after
the visibility timeout). (3) Deleting what succeeded runs shielded and bounded, so it completes
even while phase 2 is being cut short. A clean shutdown neither loses nor redelivers a message.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path

import anyio
import structlog
from anyio.abc import TaskStatus

from poller.arns import Arn
from poller.aws import Aws
from poller.config import AwsConfig, PollerConfig, StreamMappingConfig
from poller.invokers import Invoker
from poller.invokers.factory import open_invoker
from poller.invokers.limits import ConcurrencyGate
from poller.lifecycle import Lifecycle
from poller.local import (
    LOCAL_CREDENTIALS,
    EmbeddedEndpoint,
    create_queues,
    create_streams,
    create_tables,
)
from poller.roles import assume_role
from poller.runtime import Runtime
from poller.sqs_mapping import SqsMapping
from poller.state.base import CheckpointStore
from poller.state.sqlite import SqliteCheckpointStore
from poller.stream_mapping import StreamMapping
from poller.telemetry.http import Readiness, build_app, serve
from poller.telemetry.metrics import Metrics
from poller.telemetry.status import all_status
from poller.telemetry.systemd import Notifier

log = structlog.get_logger("poller.daemon")
Mapping = SqsMapping | StreamMapping


class Daemon:
    """Runs every enabled mapping of a configuration until `stop()`."""

    def __init__(
        self, config: PollerConfig, base_dir: Path, metrics: Metrics | None = None
    ) -> None:
        self.config = config
        self.base_dir = base_dir
        self.metrics = metrics or Metrics()
        self.readiness = Readiness()
        self.lifecycle = Lifecycle()
        self.notifier = Notifier.from_environ(os.environ)  # systemd's Type=notify protocol
        self.http_port: int | None = None
        self.endpoint_url: str | None = config.aws.endpoint_url
        self.drained = True
        self.forced = False
        self._drain_scope = anyio.CancelScope()

    def stop(self) -> None:
        """Phase 1: stop intake; in-flight batches drain within `shutdown_timeout`."""
        if not self.lifecycle.stopping.is_set():
            log.info("shutdown_started", drain_timeout=self.config.shutdown_timeout)
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
            runtime = Runtime(aws, self.metrics, self.readiness, self.lifecycle)
            store = await self._open_store(stack)
            mappings = await self._build(runtime, store, stack)
            async with anyio.create_task_group() as root:
                if self.config.http.enabled:
                    app = build_app(
                        self.metrics,
                        self.readiness,
                        lambda: all_status(
                            self.config, self.metrics, runtime.status, self.readiness.waiting()
                        ),
                    )
                    self.http_port = await root.start(
                        serve, app, self.config.http.host, self.config.http.port
                    )
                root.start_soon(self._drain_deadline)
                log.info(
                    "daemon_started",
                    mappings=[m.name for m in mappings],
                    http_port=self.http_port,
                    endpoint_url=self.endpoint_url,
                )
                task_status.started()
                self.notifier.ready(f"running {len(mappings)} mappings")
                root.start_soon(self.notifier.run)
                with self._drain_scope:
                    async with anyio.create_task_group() as tree:
                        tree.start_soon(self.lifecycle.stopping.wait)
                        for mapping in mappings:
                            tree.start_soon(mapping.run)
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

    async def _open_store(self, stack: AsyncExitStack) -> CheckpointStore | None:
        """The checkpoint store, opened only when a stream mapping needs one.

        With the embedded endpoint the streams are new on every start, so their checkpoints
        live in a temporary directory removed at exit: an old checkpoint must never skip the
        records of a new stream that happens to have the same name.
        """
        if not any(isinstance(m, StreamMappingConfig) and m.enabled for m in self.config.mappings):
            return None
        path = Path(self.config.state.path)
        if self.config.embedded.enabled:
            temporary = stack.enter_context(tempfile.TemporaryDirectory(prefix="poller-state-"))
            path = Path(temporary) / "state.db"
        elif not path.is_absolute():
            path = self.base_dir / path
        store = await SqliteCheckpointStore.open(path)
        stack.push_async_callback(store.close)
        log.info("checkpoints_opened", path=str(path), ephemeral=self.config.embedded.enabled)
        return store

    async def _build(
        self, runtime: Runtime, store: CheckpointStore | None, stack: AsyncExitStack
    ) -> list[Mapping]:
        """Start each used function's target (and assume its role), then build the mappings."""
        gate = ConcurrencyGate(self.config.concurrency_limit)
        invokers: dict[str, Invoker] = {}
        runtimes: dict[str, Runtime] = {}
        mappings: list[Mapping] = []
        for index, mapping in enumerate(self.config.mappings):
            if not mapping.enabled:
                log.info("mapping_disabled", mapping=mapping.display_name)
                continue
            name = mapping.function
            function = self.config.functions[name]
            if name not in invokers:
                arn = Arn.parse(mapping.event_source_arn).function_arn(name)
                invokers[name] = await open_invoker(
                    name, function, self.base_dir, arn, runtime.aws, gate, stack
                )
                runtimes[name] = runtime
                if function.role:
                    aws = await assume_role(runtime.aws, function.role, name)
                    runtimes[name] = replace(runtime, aws=aws)
                    log.info("role_assumed", function=name, role=function.role)
            path = f"mappings[{index}]"
            if isinstance(mapping, StreamMappingConfig):
                assert store is not None
                mappings.append(
                    StreamMapping(mapping, path, function, invokers[name], runtimes[name], store)
                )
            else:
                mappings.append(SqsMapping(mapping, path, function, invokers[name], runtimes[name]))
        return mappings

    async def _drain_deadline(self) -> None:
        await self.lifecycle.stopping.wait()
        await anyio.sleep(self.config.shutdown_timeout)
        log.warning("drain_timed_out", timeout=self.config.shutdown_timeout)
        self.drained = False
        self._drain_scope.cancel()
