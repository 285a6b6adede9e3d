"""Prometheus counters of the Kafka adapters (default registry, served by every process's /metrics).

The benchmark divides `wfa_kafka_messages_produced_total` by the number of executions to report messages per
execution, so every message the adapters put on the bus is counted here, dead letters included.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, Counter


def _counter(name: str, documentation: str) -> Counter:
    """The counter `name`, created once per process.

    A second import of this module (importlib.reload, the package imported under two paths by a test runner)
    must not fail with "Duplicated timeseries": it reuses the collector already in the registry.
    """
    existing = REGISTRY._names_to_collectors.get(f"{name}_total")
    if isinstance(existing, Counter):
        return existing
    return Counter(name, documentation, ["topic"])


MESSAGES_PRODUCED = _counter("wfa_kafka_messages_produced", "Messages acknowledged by Kafka, per topic")
MESSAGES_CONSUMED = _counter("wfa_kafka_messages_consumed", "Messages fetched by group consumers, per topic")
