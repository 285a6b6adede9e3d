"""Prometheus metrics of the workflows service, served on its /metrics.

Built once per process on the default registry (`ApiMetrics.default()`) and passed in; tests build their own on a
fresh `CollectorRegistry`.
"""

from __future__ import annotations

from functools import cache

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from wfa.observability.metrics import FinalExecutionMetrics

# An API call is a few MongoDB round trips (and a Kafka publish for a trigger): milliseconds when healthy, up to
# the dependencies' timeouts (seconds) when one is down.
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ApiMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "wfa_http_requests",
            "HTTP requests answered, by method, route template (such as /workflows/{workflow_id}; `unmatched` for "
            "URLs no route serves) and status code",
            ["method", "route", "status"],
            registry=registry,
        )
        self.request_duration = Histogram(
            "wfa_http_request_duration_seconds",
            "Time to answer an HTTP request (until the response is sent), by method and route template",
            ["method", "route"],
            buckets=HTTP_BUCKETS,
            registry=registry,
        )
        self.final_executions = FinalExecutionMetrics(registry)
        self.unlocks = Counter(
            "wfa_workflow_unlocks",
            "Locks released by POST /workflows/{id}/unlock, by reason (holder_finished | holder_missing | forced)",
            ["reason"],
            registry=registry,
        )

    @classmethod
    @cache
    def default(cls) -> ApiMetrics:
        """The process's metrics on the default registry: created once, however often the app is built."""
        return cls(REGISTRY)

    @classmethod
    def private(cls) -> ApiMetrics:
        """Metrics on a registry of their own, never served: the default of an app a test builds."""
        return cls(CollectorRegistry())
