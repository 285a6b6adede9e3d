"""Re-dispatching pending executions when their nextRetryAt comes.

Per execution: `claim_retry` (pending → queued with attempt + 1, once among any number of schedulers), then the
workflow's lock pending → busy, then the request is published. A crash between the steps is repaired: a queued
execution whose request never left is sent again by the stall sweep, and a lock left pending while its
execution is queued again is set back to busy by the lock sweep (see repair.py).

Each retry is dispatched in a span of its own (`retry dispatch`), the root of the new attempt's trace, linked to
the trace of the execution's first attempt (the context the execution keeps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import structlog
from opentelemetry import trace
from opentelemetry.trace import Tracer

from wfa.domain.execution import Execution
from wfa.observability.tracing import Attributes, default_tracer, link_to_trace_of
from wfa.service_layer.finishing import complete_cancel
from wfa.service_layer.triggering import Triggering, dispatch
from wfa_scheduler.concurrency import run_bounded
from wfa_scheduler.metrics import SchedulerMetrics

log = structlog.get_logger(__name__)

DEFAULT_CONCURRENCY = 16


class RetryOutcome(StrEnum):
    DISPATCHED = "dispatched"  # re-queued and the request published
    DEFERRED = "deferred"  # re-queued, but the broker is down: the stall sweep publishes it later
    LOST = "lost"  # another scheduler took it first, or it was cancelled meanwhile


@dataclass(frozen=True)
class RetryPass:
    due: int
    outcomes: dict[RetryOutcome, int] = field(default_factory=dict)

    def count(self, outcome: RetryOutcome) -> int:
        return self.outcomes.get(outcome, 0)


class Retries:
    def __init__(
        self,
        deps: Triggering,
        *,
        metrics: SchedulerMetrics,
        batch: int,
        concurrency: int = DEFAULT_CONCURRENCY,
        tracer: Tracer | None = None,
    ) -> None:
        self._deps = deps
        self._metrics = metrics
        self._tracer = tracer or default_tracer()
        self._batch = batch
        self._concurrency = concurrency
        self._expected: datetime | None = None

    async def run_once(self, now: datetime) -> RetryPass:
        """Re-dispatch every pending execution whose nextRetryAt is at or before `now` (up to one batch)."""
        due = await self._deps.executions.due_retries(now=now, limit=self._batch)
        outcomes = await run_bounded(due, lambda execution: self._retry(execution, now), limit=self._concurrency)
        counts: dict[RetryOutcome, int] = {}
        for outcome in outcomes:
            counts[outcome] = counts.get(outcome, 0) + 1
        return RetryPass(due=len(due), outcomes=counts)

    async def step(self) -> float:
        """One turn of the forever-loop: re-dispatch what is due, or say how long until something is."""
        now = self._deps.clock.now()
        if self._expected is None or self._expected > now:
            self._expected = await self._deps.executions.earliest_retry_at()
            now = self._deps.clock.now()
            if self._expected is None:
                return math.inf
            if self._expected > now:
                return (self._expected - now).total_seconds() + 0.001
        self._expected = None
        done = await self.run_once(now)
        return 0.0 if done.due else _NOTHING_DUE_PAUSE

    async def _retry(self, pending: Execution, now: datetime) -> RetryOutcome:
        with self._tracer.start_as_current_span(
            "retry dispatch",
            attributes={Attributes.WORKFLOW_ID: pending.workflow_id, Attributes.EXECUTION_ID: pending.execution_id},
        ) as span:
            link_to_trace_of(span, pending.traceparent)
            outcome = await self._claim_and_dispatch(pending, now)
            span.set_attribute(Attributes.OUTCOME, outcome.value)
            return outcome

    async def _claim_and_dispatch(self, pending: Execution, now: datetime) -> RetryOutcome:
        if pending.cancel_requested_at is not None:
            # A cancel whose process died after marking it (its retry was made due at once for this): no retry.
            await complete_cancel(self._deps.workflows, self._deps.executions, pending, now=now)
            self._metrics.retries.labels(outcome=RetryOutcome.LOST.value).inc()
            return RetryOutcome.LOST
        claimed = await self._deps.executions.claim_retry(pending.execution_id, now=now)
        if claimed is None:
            self._metrics.retries.labels(outcome=RetryOutcome.LOST.value).inc()
            return RetryOutcome.LOST
        if pending.next_retry_at is not None:
            self._metrics.observe_retry_lateness(now - pending.next_retry_at)
        trace.get_current_span().set_attribute(Attributes.ATTEMPT, claimed.attempt)
        bound = log.bind(execution_id=claimed.execution_id, workflow_id=claimed.workflow_id, attempt=claimed.attempt)
        relocked = await self._deps.workflows.mark_trigger_busy(claimed.workflow_id, execution_id=claimed.execution_id)
        if not relocked:
            # The workflow was deleted, or its lock no longer names this execution: the retry still runs (its plan
            # is frozen in the execution), it just holds no lock.
            bound.info("retry.lock_not_pending")
        outcome = RetryOutcome.DISPATCHED if await dispatch(self._deps, claimed) else RetryOutcome.DEFERRED
        self._metrics.retries.labels(outcome=outcome.value).inc()
        bound.info("retry.dispatched" if outcome is RetryOutcome.DISPATCHED else "retry.deferred")
        return outcome


_NOTHING_DUE_PAUSE = 0.05
