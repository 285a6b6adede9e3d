"""Prometheus counters of the Kafka adapters (default registry, served by every process's /metrics).

The benchmark divides `wfa_kafka_messages_produced_total` by the number of executions to report messages per
execution, so every message the adapters put on the bus is counted here, dead letters included.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, Counter

from wfa.observability.metrics import once_per_registry


def _counter(name: str, documentation: str) -> Counter:
    return once_per_registry(REGISTRY, f"{name}_total", Counter, lambda: Counter(name, documentation, ["topic"]))


MESSAGES_PRODUCED = _counter("wfa_kafka_messages_produced", "Messages acknowledged by Kafka, per topic")
MESSAGES_CONSUMED = _counter("wfa_kafka_messages_consumed", "Messages fetched by group consumers, per topic")
