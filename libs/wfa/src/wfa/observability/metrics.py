"""Metric families more than one process exports: defined once, so that their help, labels and buckets agree.

`wfa_executions_total` and `wfa_execution_duration_seconds` count executions as they reach a final status: the
runner those that succeed or fail, the workflows service those it cancels. Summed over the processes (as
Prometheus queries do), they cover every final status. Each service's metrics module asks for them on its
registry (services/*/metrics.py); asked twice on one registry (two services' metrics in one test process), they
are the same collector, not a "Duplicated timeseries" error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.registry import Collector

from wfa.domain.execution import Execution

C = TypeVar("C", bound=Collector)

# From a log action (milliseconds) to long HTTP calls and executions that waited out retries (an hour).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


def once_per_registry(registry: CollectorRegistry, name: str, kind: type[C], make: Callable[[], C]) -> C:
    """The collector registered as `name` (a counter's is `<name>_total`), made by `make` only if there is none.

    A second import of a metrics module (importlib.reload, a package imported under two paths by a test runner,
    two services' metrics in one test process) must not fail with "Duplicated timeseries".
    """
    existing = registry._names_to_collectors.get(name)
    return existing if isinstance(existing, kind) else make()


class FinalExecutionMetrics:
    """`wfa_executions_total` and `wfa_execution_duration_seconds`, observed for an execution that just reached a
    final status, by whichever process put it there."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.count = once_per_registry(registry, "wfa_executions_total", Counter, lambda: _executions_counter(registry))
        self.duration = once_per_registry(
            registry, "wfa_execution_duration_seconds", Histogram, lambda: _execution_duration_histogram(registry)
        )

    def observe(self, execution: Execution) -> None:
        status = execution.status.value
        self.count.labels(status=status, reason=execution.reason.value).inc()
        if execution.duration_ms is not None:
            self.duration.labels(status=status).observe(execution.duration_ms / 1000)


def _executions_counter(registry: CollectorRegistry) -> Counter:
    return Counter(
        "wfa_executions",
        "Executions that reached a final status, by status (succeeded | failed: the runner; cancelled: the "
        "workflows service) and reason (manual | schedule | retry | webhook | backfill)",
        ["status", "reason"],
        registry=registry,
    )


def _execution_duration_histogram(registry: CollectorRegistry) -> Histogram:
    return Histogram(
        "wfa_execution_duration_seconds",
        "Duration of executions that reached a final status (durationMs: first start to finish, waits between "
        "attempts included; none for one cancelled before it started), by status",
        ["status"],
        buckets=DURATION_BUCKETS,
        registry=registry,
    )
