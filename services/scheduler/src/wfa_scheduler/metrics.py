"""Prometheus metrics of the scheduler, served on its /metrics.

Built once per process on the default registry (`SchedulerMetrics.default()`); a test builds its own on a fresh
`CollectorRegistry` so that counts do not leak between tests.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

# Fire lateness is the scheduler's precision: tens of milliseconds when healthy, seconds after an outage.
LATENESS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class SchedulerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.fires = Counter(
            "wfa_schedule_fires",
            "Scheduled slots handled, by outcome: fired (execution created), skipped (workflow busy or pending), "
            "passed (nothing started now: missed under catchup none, or handed to the backlog under catchup all), "
            "lost (another scheduler took the slot, or the workflow changed)",
            ["outcome"],
            registry=registry,
        )
        self.fire_lateness = Histogram(
            "wfa_schedule_fire_lateness_seconds",
            "Time from a slot's due moment to its fire (the createdAt of the execution it created)",
            buckets=LATENESS_BUCKETS,
            registry=registry,
        )
        self.retries = Counter(
            "wfa_retry_dispatches",
            "Pending executions handled at their nextRetryAt, by outcome: dispatched, deferred (broker down: the "
            "stall sweep sends it), lost (another scheduler took it, or it was cancelled)",
            ["outcome"],
            registry=registry,
        )
        self.retry_lateness = Histogram(
            "wfa_retry_dispatch_lateness_seconds",
            "Time from an execution's nextRetryAt to the claim that re-queued it",
            buckets=LATENESS_BUCKETS,
            registry=registry,
        )
        self.repairs = Counter(
            "wfa_scheduler_repairs",
            "Repairs made by the sweep, by action: republished (stalled execution sent again), released (lock of a "
            "missing or finished execution freed), relocked (pending lock of a re-queued execution set back to busy)",
            ["action"],
            registry=registry,
        )
        self.retention_removed = Counter(
            "wfa_retention_removed",
            "Finished executions removed by the retention sweep (older than WFA_RETENTION, beyond a workflow's "
            "newest WFA_RETENTION_KEEP_LAST)",
            registry=registry,
        )
        self.retention_pass_seconds = Gauge(
            "wfa_retention_pass_duration_seconds",
            "How long the last retention pass took (find the candidates, the keep-last boundaries, delete)",
            registry=registry,
        )
        self.loop_failures = Counter(
            "wfa_scheduler_loop_failures",
            "Passes of a scheduler loop that failed (a dependency was down, or an unexpected error), by loop",
            ["loop"],
            registry=registry,
        )

        self.shards = Gauge(
            "wfa_scheduler_shards",
            "Shards of the schedule this process holds a lease on (of 64, shared among the scheduler processes)",
            registry=registry,
        )

    @classmethod
    @cache
    def default(cls) -> SchedulerMetrics:
        """The process's metrics on the default registry: created once, however often the app is built."""
        return cls(REGISTRY)

    def observe_fire_lateness(self, lateness: timedelta) -> None:
        self.fire_lateness.observe(max(lateness.total_seconds(), 0.0))

    def observe_retry_lateness(self, lateness: timedelta) -> None:
        self.retry_lateness.observe(max(lateness.total_seconds(), 0.0))
