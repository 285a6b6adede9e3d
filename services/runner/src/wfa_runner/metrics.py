"""Prometheus metrics of the runner, served on its /metrics.

Built once per process on the default registry (`RunnerMetrics.default()`) and passed in; a test builds its own
on a fresh `CollectorRegistry`, so that counts do not leak between tests.

Cancelled executions are counted by the workflows service, which cancels them (see wfa.observability.metrics).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from contextlib import suppress
from functools import cache
from typing import Protocol

import structlog
from aiokafka import TopicPartition
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from wfa.domain.errors import DependencyUnavailable
from wfa.observability.metrics import DURATION_BUCKETS, FinalExecutionMetrics

log = structlog.get_logger(__name__)


class RunnerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.final_executions = FinalExecutionMetrics(registry)
        self.attempts = Counter(
            "wfa_execution_attempts",
            "Attempts run to their end, by outcome: succeeded, failed (for good), pending (a retry follows), stopped "
            "(cancelled or taken over while running)",
            ["outcome"],
            registry=registry,
        )
        self.actions = Counter(
            "wfa_actions",
            "Action runs (one per attempt of an action) by action type and outcome (succeeded | failed | skipped: its "
            "`when` was falsy)",
            ["type", "outcome"],
            registry=registry,
        )
        self.action_duration = Histogram(
            "wfa_action_duration_seconds",
            "Duration of action runs, by action type and outcome",
            ["type", "outcome"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.workflows_paused = Counter(
            "wfa_workflows_paused_by_failures",
            "Workflows this runner paused because trigger.pauseAfterFailures executions in a row failed for good",
            registry=registry,
        )
        self.failure_handlers = Counter(
            "wfa_failure_handler_runs",
            "Runs of failure handlers, by kind (compensations | onFailure) and outcome (succeeded | failed)",
            ["kind", "outcome"],
            registry=registry,
        )
        self.in_flight = Gauge(
            "wfa_runner_in_flight_executions",
            "Execution requests this runner is working on now",
            registry=registry,
        )
        self.dead_letters = Counter(
            "wfa_dead_letters",
            "Records that were not execution requests, by outcome: dead_lettered (as they were), truncated (a copy "
            "cut to fit, the record being too large to dead-letter), skipped (not even that was accepted; logged)",
            ["outcome"],
            registry=registry,
        )
        self.consumer_lag = Gauge(
            "wfa_kafka_consumer_lag",
            "Records of a partition held by this runner not yet fetched: the partition's highwater minus the "
            "consumer's position",
            ["topic", "partition"],
            registry=registry,
        )

    @classmethod
    @cache
    def default(cls) -> RunnerMetrics:
        """The process's metrics on the default registry: created once, however often the app is built."""
        return cls(REGISTRY)

    @classmethod
    def private(cls) -> RunnerMetrics:
        """Metrics on a registry of their own, never served: the default of components a test builds without
        looking at metrics."""
        return cls(CollectorRegistry())

    def observe_action(self, action_type: str, outcome: str, duration_ms: int | None) -> None:
        self.actions.labels(type=action_type, outcome=outcome).inc()
        if duration_ms is not None:
            self.action_duration.labels(type=action_type, outcome=outcome).observe(duration_ms / 1000)

    def set_consumer_lag(self, lags: Mapping[TopicPartition, int], previous: set[TopicPartition]) -> None:
        """Set the lag of the partitions held now, and drop the series of those no longer held."""
        for tp in previous - set(lags):
            with suppress(KeyError):
                self.consumer_lag.remove(tp.topic, str(tp.partition))
        for tp, lag in lags.items():
            self.consumer_lag.labels(topic=tp.topic, partition=str(tp.partition)).set(lag)


class LagSource(Protocol):
    """The group consumer, as the lag report uses it (wfa.adapters.kafka.GroupConsumer)."""

    async def lag(self) -> dict[TopicPartition, int]: ...


async def report_consumer_lag(source: LagSource, metrics: RunnerMetrics, *, every: float) -> None:
    """Refresh `wfa_kafka_consumer_lag` every `every` seconds, until cancelled. A consumer not started yet, or a
    broker that does not answer, leaves the last figures in place until the next turn."""
    held: set[TopicPartition] = set()
    while True:
        try:
            lags = await source.lag()
        except DependencyUnavailable:
            pass
        except Exception:
            log.warning("runner.lag_report_failed", exc_info=True)
        else:
            metrics.set_consumer_lag(lags, held)
            held = set(lags)
        await asyncio.sleep(every)
