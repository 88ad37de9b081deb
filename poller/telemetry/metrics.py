"""Every Prometheus object poller exports, named after Lambda's CloudWatch metrics (§6)."""

from __future__ import annotations

import asyncio
import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from poller import __version__

# source: sqs | kinesis | dynamodb (the ARN's service), a bounded label like the others.
_ML = ("mapping", "function", "source")
_MLS = (*_ML, "shard")  # shards per mapping are few: a bounded label
# Handler durations from 1 ms to 15 minutes (Lambda's longest timeout).
_DURATION_BUCKETS = (
    0.001,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    120,
    300,
    900,
)


class Metrics:
    """The daemon's metrics on one registry; tests pass a fresh `CollectorRegistry`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.invocations = Counter(
            "poller_invocations",
            "Handler invocations, including function errors (Lambda Invocations)",
            _ML,
            registry=r,
        )
        self.errors = Counter(
            "poller_errors",
            "Invocations that ended in a function error: "
            "exception, timeout, unserialisable response (Lambda Errors)",
            _ML,
            registry=r,
        )
        self.throttles = Counter(
            "poller_throttles",
            "Invocation requests throttled before reaching the handler (Lambda Throttles)",
            _ML,
            registry=r,
        )
        self.duration = Histogram(
            "poller_duration_seconds",
            "Time the handler spent on one event (Lambda Duration, in seconds)",
            _ML,
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.concurrent_executions = Gauge(
            "poller_concurrent_executions",
            "Invocations in progress (Lambda ConcurrentExecutions)",
            _ML,
            registry=r,
        )
        self.polled_events = Counter(
            "poller_polled_events",
            "Records read from the source (Lambda PolledEventCount)",
            _ML,
            registry=r,
        )
        self.filtered_out_events = Counter(
            "poller_filtered_out_events",
            "Records that matched no filter of FilterCriteria: deleted (SQS) or checkpointed "
            "past (streams) without invoking (Lambda FilteredOutEventCount)",
            _ML,
            registry=r,
        )
        self.invoked_events = Counter(
            "poller_invoked_events",
            "Records sent to the handler, retries included (Lambda InvokedEventCount)",
            _ML,
            registry=r,
        )
        self.failed_invoke_events = Counter(
            "poller_failed_invoke_events",
            "Records in failed "
            "invocations, or reported in batchItemFailures "
            "(Lambda FailedInvokeEventCount)",
            _ML,
            registry=r,
        )
        self.deleted_events = Counter(
            "poller_deleted_events",
            "SQS messages deleted after processing (Lambda DeletedEventCount)",
            _ML,
            registry=r,
        )
        self.pollers = Gauge(
            "poller_sqs_pollers", "SQS pollers running for a mapping", _ML, registry=r
        )
        self.dropped_events = Counter(
            "poller_dropped_events",
            "Stream records discarded for age or retries and not delivered to an on-failure "
            "destination (Lambda DroppedEventCount)",
            _ML,
            registry=r,
        )
        self.destination_delivered_events = Counter(
            "poller_on_failure_destination_delivered_events",
            "Stream records whose failure record reached the on-failure destination "
            "(Lambda OnFailureDestinationDeliveredEventCount)",
            _ML,
            registry=r,
        )
        self.destination_delivery_failures = Counter(
            "poller_destination_delivery_failures",
            "Failure records the on-failure destination did not take "
            "(Lambda DestinationDeliveryFailures)",
            _ML,
            registry=r,
        )
        self.bisections = Counter(
            "poller_bisections",
            "Stream batches split in two after a function error (BisectBatchOnFunctionError)",
            _ML,
            registry=r,
        )
        self.batch_retries = Counter(
            "poller_batch_retries",
            "Stream batches invoked again after a failure",
            _ML,
            registry=r,
        )
        self.iterator_age = Gauge(
            "poller_iterator_age_seconds",
            "Age of the last record of the latest batch sent to the handler, per shard "
            "(Lambda IteratorAge, in seconds)",
            _MLS,
            registry=r,
        )
        self.shard_lag = Gauge(
            "poller_shard_lag_seconds",
            "How far a shard's reader is behind the tip of the shard "
            "(Kinesis MillisBehindLatest; DynamoDB: age of the last record read)",
            _MLS,
            registry=r,
        )
        self.shards_owned = Gauge(
            "poller_shards_owned", "Shards a stream mapping is reading", _ML, registry=r
        )
        self.checkpoints = Counter("poller_checkpoints", "Shard checkpoints saved", _ML, registry=r)
        # Shard leases (state.backend: dynamodb), the Kinesis Client Library's protocol.
        self.leases_owned = Gauge(
            "poller_leases_owned", "Shard leases this replica holds", _ML, registry=r
        )
        self.lease_takes = Counter(
            "poller_lease_takes", "Expired or unowned shard leases taken", _ML, registry=r
        )
        self.lease_steals = Counter(
            "poller_lease_steals",
            "Shard leases stolen from a more loaded replica to balance",
            _ML,
            registry=r,
        )
        self.lease_losses = Counter(
            "poller_lease_losses",
            "Shard leases lost: taken by another replica or expired before a renewal succeeded",
            _ML,
            registry=r,
        )
        self.lease_renewal_failures = Counter(
            "poller_lease_renewal_failures",
            "Lease renewals that failed (lease table unreachable or erroring)",
            _ML,
            registry=r,
        )
        self.source_errors = Counter(
            "poller_source_errors",
            "Failed calls to an event source, retried with backoff",
            (*_ML, "operation", "code"),
            registry=r,
        )
        self.aws_api_calls = Counter(
            "poller_aws_api_calls", "AWS API calls made", ("service", "operation"), registry=r
        )
        # The operations server: reason is missing | invalid (telemetry.control.Refusal).
        self.http_unauthorized = Counter(
            "poller_http_unauthorized",
            "Control API requests refused for a missing or wrong bearer token",
            ("reason",),
            registry=r,
        )
        for reason in ("missing", "invalid"):
            self.http_unauthorized.labels(reason).inc(0)
        # `poller run --watch`: outcome is ok | failed (the new code did not import).
        self.handler_reloads = Counter(
            "poller_handler_reloads",
            "Handler code reloads after a change under the function's code directory (--watch)",
            ("function", "outcome"),
            registry=r,
        )
        self.build_info = Gauge("poller_build_info", "Build information", ("version",), registry=r)
        self.build_info.labels(__version__).set(1)
        # Read when the registry is collected: /metrics is served on the daemon's event loop.
        self.asyncio_tasks = Gauge(
            "poller_asyncio_tasks",
            "asyncio tasks alive on the daemon's event loop (a leak shows as steady growth)",
            registry=r,
        )
        self.asyncio_tasks.set_function(_asyncio_tasks)

    def register_mapping(self, mapping: str, function: str, source: str) -> None:
        """Create a mapping's series at zero so dashboards see them before the first event."""
        for metric in (
            self.invocations,
            self.errors,
            self.throttles,
            self.polled_events,
            self.filtered_out_events,
            self.invoked_events,
            self.failed_invoke_events,
            self.deleted_events,
            self.batch_retries,
            self.checkpoints,
            self.dropped_events,
            self.destination_delivered_events,
            self.destination_delivery_failures,
            self.bisections,
        ):
            metric.labels(mapping, function, source).inc(0)
        self.concurrent_executions.labels(mapping, function, source).set(0)
        self.pollers.labels(mapping, function, source).set(0)

    def register_leases(self, mapping: str, function: str, source: str) -> None:
        """Create a leased mapping's lease series at zero (state.backend: dynamodb)."""
        for metric in (
            self.lease_takes,
            self.lease_steals,
            self.lease_losses,
            self.lease_renewal_failures,
        ):
            metric.labels(mapping, function, source).inc(0)
        self.leases_owned.labels(mapping, function, source).set(0)

    def register_reloads(self, function: str) -> None:
        """Create a watched function's reload series at zero (`poller run --watch`)."""
        for outcome in ("ok", "failed"):
            self.handler_reloads.labels(function, outcome).inc(0)

    def forget_shard(self, labels: tuple[str, ...], shard: str) -> None:
        """Drop a shard's series once its reader stops (closed shards must not linger)."""
        for gauge in (self.iterator_age, self.shard_lag):
            with contextlib.suppress(KeyError):
                gauge.remove(*labels, shard)

    def value(self, name: str, **labels: str) -> float:
        """The sum of `name`'s samples whose labels include `labels` (0 when none)."""
        total = 0.0
        for family in self.registry.collect():
            for sample in family.samples:
                if sample.name == name and labels.items() <= sample.labels.items():
                    total += sample.value
        return total


def _asyncio_tasks() -> float:
    """Tasks not yet done on the running event loop; 0 when collected outside one."""
    try:
        return float(len(asyncio.all_tasks()))
    except RuntimeError:  # no running loop in this thread
        return 0.0
