import asyncio
import math
from datetime import timedelta

import pytest
from tests.unit.fakes import START, RecordingPublisher, add_workflow
from tests.unit.scheduler.fakes import run_until_pending, sample, seconds

from wfa.domain.clock import FakeClock
from wfa.domain.execution import ExecutionStatus
from wfa.domain.workflow import TriggerStatus
from wfa.service_layer.triggering import Triggering, trigger_manually
from wfa_scheduler.metrics import SchedulerMetrics
from wfa_scheduler.retries import Retries, RetryOutcome


def _retries(deps: Triggering, metrics: SchedulerMetrics) -> Retries:
    return Retries(deps, metrics=metrics, batch=100)


async def _pending(deps: Triggering, workflow_id: str = "w") -> str:
    await add_workflow(deps, {"type": "manual"}, workflow_id=workflow_id)
    started = await trigger_manually(deps, workflow_id)
    await run_until_pending(deps, started.execution.execution_id)
    return started.execution.execution_id


async def test_pending_execution_waits_for_its_retry_time(
    deps: Triggering, clock: FakeClock, publisher: RecordingPublisher, metrics: SchedulerMetrics
) -> None:
    execution_id = await _pending(deps)
    clock.set(START + timedelta(seconds=1, milliseconds=999))

    done = await _retries(deps, metrics).run_once(clock.now())

    assert done.due == 0
    assert (await deps.executions.get(execution_id)).status is ExecutionStatus.PENDING
    assert len(publisher.sent) == 1  # the first attempt's request only


async def test_pending_execution_is_redispatched_at_its_retry_time_with_the_next_attempt(
    deps: Triggering, clock: FakeClock, publisher: RecordingPublisher, metrics: SchedulerMetrics
) -> None:
    execution_id = await _pending(deps)
    clock.set(START + seconds(2))

    done = await _retries(deps, metrics).run_once(clock.now())

    assert done.count(RetryOutcome.DISPATCHED) == 1
    execution = await deps.executions.get(execution_id)
    assert (execution.status, execution.attempt) == (ExecutionStatus.QUEUED, 2)
    workflow = await deps.workflows.get("w")
    assert (workflow.trigger.status, workflow.trigger.execution_id) == (TriggerStatus.BUSY, execution_id)
    assert [(r.execution_id, r.attempt) for r in publisher.sent] == [(execution_id, 1), (execution_id, 2)]
    assert sample(metrics.retries, outcome="dispatched") == 1


async def test_a_retry_is_dispatched_once_among_schedulers(
    deps: Triggering, clock: FakeClock, publisher: RecordingPublisher, metrics: SchedulerMetrics
) -> None:
    ids = [await _pending(deps, workflow_id=f"w{n}") for n in range(10)]
    shared = Triggering(deps.workflows, deps.executions, publisher, clock, deps.new_id)
    clock.set(START + seconds(3))

    passes = await asyncio.gather(*(_retries(shared, metrics).run_once(clock.now()) for _ in range(3)))

    assert sum(p.count(RetryOutcome.DISPATCHED) for p in passes) == 10
    assert sum(p.count(RetryOutcome.LOST) for p in passes) == 20
    assert sorted(r.execution_id for r in publisher.sent if r.attempt == 2) == sorted(ids)


async def test_cancelled_pending_execution_is_not_retried(
    deps: Triggering, clock: FakeClock, publisher: RecordingPublisher, metrics: SchedulerMetrics
) -> None:
    execution_id = await _pending(deps)
    await deps.executions.cancel(execution_id, now=clock.now())
    clock.set(START + seconds(10))

    done = await _retries(deps, metrics).run_once(clock.now())

    assert done.due == 0
    assert len(publisher.sent) == 1


async def test_retry_during_a_broker_outage_stays_queued_for_the_stall_sweep(
    deps: Triggering, clock: FakeClock, publisher: RecordingPublisher, metrics: SchedulerMetrics
) -> None:
    execution_id = await _pending(deps)
    publisher.down = True
    clock.set(START + seconds(2))

    done = await _retries(deps, metrics).run_once(clock.now())

    assert done.count(RetryOutcome.DEFERRED) == 1
    execution = await deps.executions.get(execution_id)
    assert (execution.status, execution.attempt) == (ExecutionStatus.QUEUED, 2)
    assert (await deps.workflows.get("w")).trigger.status is TriggerStatus.BUSY


async def test_step_sleeps_until_the_earliest_retry_then_dispatches_it(
    deps: Triggering, clock: FakeClock, publisher: RecordingPublisher, metrics: SchedulerMetrics
) -> None:
    retries = _retries(deps, metrics)
    assert await retries.step() == math.inf
    execution_id = await _pending(deps)
    clock.set(START + timedelta(milliseconds=500))

    assert await retries.step() == pytest.approx(1.501)
    clock.set(START + seconds(2))
    assert await retries.step() == 0.0
    assert await retries.step() == math.inf

    assert [(r.execution_id, r.attempt) for r in publisher.sent][-1] == (execution_id, 2)
