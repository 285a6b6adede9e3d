"""Fakes and helpers for the scheduler's unit tests (the ones other suites share are in tests/unit/fakes.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from wfa.domain.errors import ActionFailed
from wfa.domain.execution import Execution
from wfa.service_layer.triggering import Triggering


class CountingWorkflows:
    """Wraps a workflow repository, counting the scheduler's looks (due_for_schedule calls)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.looks = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def due_for_schedule(self, **kwargs: Any) -> Any:
        self.looks += 1
        return await self._inner.due_for_schedule(**kwargs)


def sample(registry_metric: Any, **labels: str) -> float:
    """The current value of a counter (with these labels), a gauge, or a histogram's observation count."""
    metric = registry_metric.labels(**labels) if labels else registry_metric
    for family in metric.collect():
        for s in family.samples:
            if s.name.endswith("_total") or s.name.endswith("_count") or family.type == "gauge":
                return float(s.value)
    raise AssertionError("no sample")


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


def histogram_sum(histogram: Any) -> float:
    for family in histogram.collect():
        for s in family.samples:
            if s.name.endswith("_sum"):
                return float(s.value)
    raise AssertionError("no _sum sample")


async def run_until_pending(deps: Triggering, execution_id: str, *, owner: str = "runner-1") -> Execution:
    """What a runner does when the first action's attempt fails with retries left: the execution goes pending
    (nextRetryAt = now + 2 s, the default initial interval) and so does the workflow's lock."""
    now = deps.clock.now()
    stored = await deps.executions.get(execution_id)
    claimed = await deps.executions.claim_for_run(
        execution_id, attempt=stored.attempt, owner=owner, lease_until=now + timedelta(seconds=30), now=now
    )
    assert claimed is not None
    execution = claimed.execution
    execution.start_attempt(now)
    execution.begin_action(0, now)
    failure = ActionFailed("503 from upstream", kind="http_status", retryable=True)
    execution.fail_action(0, failure, claimed.plan, now)
    assert await deps.executions.save_progress(execution, owner=owner, lease_until=now + timedelta(seconds=30))
    assert await deps.workflows.mark_trigger_pending(execution.workflow_id, execution_id=execution_id)
    return execution
