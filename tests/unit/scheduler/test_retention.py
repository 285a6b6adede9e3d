"""The retention sweep one pass at a time, on the in-memory repository and a fake clock."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry
from tests.unit.fakes import START, RecordingPublisher
from tests.unit.scheduler.fakes import sample

from wfa.adapters.memory import InMemoryExecutionRepository, InMemoryWorkflowRepository
from wfa.domain.clock import FakeClock
from wfa.domain.errors import ExecutionNotFound
from wfa.domain.execution import Execution, ExecutionPlan, ExecutionStatus, Reason
from wfa.domain.workflow import Workflow, WorkflowDefinition
from wfa.service_layer.triggering import Triggering
from wfa_scheduler.firing import Firing
from wfa_scheduler.metrics import SchedulerMetrics
from wfa_scheduler.repair import Repair
from wfa_scheduler.retention import Retention
from wfa_scheduler.retries import Retries
from wfa_scheduler.scheduler import Scheduler, SchedulerJobs

RETENTION = timedelta(days=30)
DAY = timedelta(days=1)
INTERVAL = timedelta(seconds=60)


@pytest.fixture
def executions() -> InMemoryExecutionRepository:
    return InMemoryExecutionRepository()


@pytest.fixture
def metrics() -> SchedulerMetrics:
    return SchedulerMetrics(CollectorRegistry())


def _retention(
    executions: InMemoryExecutionRepository,
    clock: FakeClock,
    metrics: SchedulerMetrics,
    *,
    keep_last: int = 2,
    batch: int = 100,
) -> Retention:
    return Retention(
        executions, clock, metrics=metrics, retention=RETENTION, keep_last=keep_last, batch=batch, interval=INTERVAL
    )


def _workflow(workflow_id: str) -> Workflow:
    definition = WorkflowDefinition.model_validate(
        {"workflowId": workflow_id, "trigger": {"type": "manual"}, "actions": [{"type": "log", "message": "hi"}]}
    )
    return Workflow.create(definition, now=START, next_run_at=None)


async def _add(
    executions: InMemoryExecutionRepository,
    execution_id: str,
    *,
    created: datetime,
    finished: datetime | None = None,
    workflow_id: str = "w",
) -> None:
    """An execution created at `created`: cancelled (final) at `finished`, or left queued without one."""
    of = _workflow(workflow_id)
    execution = Execution.queued(execution_id=execution_id, workflow=of, reason=Reason.MANUAL, input=None, now=created)
    await executions.add(execution, ExecutionPlan.of(of), idempotency_key=None)
    if finished is not None:
        await executions.cancel(execution_id, now=finished)


async def _present(executions: InMemoryExecutionRepository, *execution_ids: str) -> list[str]:
    present = []
    for execution_id in execution_ids:
        try:
            await executions.get(execution_id)
        except ExecutionNotFound:
            continue
        present.append(execution_id)
    return present


async def test_finished_executions_older_than_the_retention_are_removed(
    executions: InMemoryExecutionRepository, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    for i in range(5):
        await _add(executions, f"old{i}", created=START + timedelta(minutes=i), finished=START + timedelta(minutes=i))
    await _add(executions, "young1", created=START + 5 * DAY, finished=START + 5 * DAY)
    await _add(executions, "young2", created=START + 6 * DAY, finished=START + 6 * DAY)
    clock.set(START + RETENTION + timedelta(hours=1))

    result = await _retention(executions, clock, metrics, keep_last=2).run_once(clock.now())

    assert result.removed == 5
    assert await _present(executions, *(f"old{i}" for i in range(5)), "young1", "young2") == ["young1", "young2"]
    assert sample(metrics.retention_removed) == 5


async def test_age_is_taken_from_the_finish_not_the_creation(
    executions: InMemoryExecutionRepository, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    # Created long ago, finished recently (a long retry chain): kept until the retention has passed since its end.
    await _add(executions, "long", created=START, finished=START + 20 * DAY)
    await _add(executions, "short", created=START, finished=START + timedelta(seconds=1))
    clock.set(START + RETENTION + DAY)

    await _retention(executions, clock, metrics, keep_last=0).run_once(clock.now())

    assert await _present(executions, "long", "short") == ["long"]


async def test_the_newest_keep_last_of_each_workflow_stay_whatever_their_age(
    executions: InMemoryExecutionRepository, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    for workflow_id in ("a", "b"):
        for i in range(4):
            at = START + timedelta(minutes=i)
            await _add(executions, f"{workflow_id}{i}", created=at, finished=at, workflow_id=workflow_id)
    clock.set(START + 10 * RETENTION)

    result = await _retention(executions, clock, metrics, keep_last=3).run_once(clock.now())

    assert result.removed == 2
    assert await _present(executions, "a0", "a1", "a2", "a3", "b0", "b1", "b2", "b3") == [
        "a1",
        "a2",
        "a3",
        "b1",
        "b2",
        "b3",
    ]


async def test_keep_last_counts_executions_that_are_not_finished(
    executions: InMemoryExecutionRepository, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    await _add(executions, "old", created=START, finished=START)
    await _add(executions, "older-queued", created=START - DAY)
    await _add(executions, "queued", created=START + DAY)
    await _add(executions, "queued-too", created=START + 2 * DAY)
    clock.set(START + 10 * RETENTION)

    kept_two = await _retention(executions, clock, metrics, keep_last=2).run_once(clock.now())
    assert kept_two.removed == 1
    assert await _present(executions, "old", "older-queued", "queued", "queued-too") == [
        "older-queued",
        "queued",
        "queued-too",
    ]


async def test_an_execution_that_is_not_final_is_never_removed(
    executions: InMemoryExecutionRepository, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    await _add(executions, "stuck", created=START)
    clock.set(START + 100 * RETENTION)

    result = await _retention(executions, clock, metrics, keep_last=0).run_once(clock.now())

    assert result.removed == 0
    assert (await executions.get("stuck")).status is ExecutionStatus.QUEUED


async def test_a_pass_removes_at_most_a_batch_and_the_next_passes_the_rest(
    executions: InMemoryExecutionRepository, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    for i in range(25):
        at = START + timedelta(seconds=i)
        await _add(executions, f"e{i:02d}", created=at, finished=at, workflow_id=f"w{i % 3}")
    clock.set(START + RETENTION + DAY)
    retention = _retention(executions, clock, metrics, keep_last=0, batch=10)

    passes = [(await retention.run_once(clock.now())).removed for _ in range(4)]

    assert passes == [10, 10, 5, 0]


async def test_a_full_pass_that_removed_something_asks_for_the_next_one_soon(
    executions: InMemoryExecutionRepository, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    for i in range(3):
        await _add(executions, f"e{i}", created=START, finished=START + timedelta(seconds=i))
    clock.set(START + RETENTION + DAY)
    retention = _retention(executions, clock, metrics, keep_last=0, batch=2)

    delays = [await retention.step() for _ in range(3)]

    assert delays[0] < 5 < delays[1] == delays[2] == INTERVAL.total_seconds()


async def test_kept_executions_do_not_starve_the_removal_of_newer_expired_ones(
    executions: InMemoryExecutionRepository, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    # Twenty workflows whose last three executions finished long ago (kept) come first by finish time, more than a
    # batch holds; an expired execution of a busy workflow comes after them all.
    for n in range(20):
        for i in range(3):
            at = START + timedelta(seconds=n * 3 + i)
            await _add(executions, f"k{n}-{i}", created=at, finished=at, workflow_id=f"idle{n}")
    for i in range(4):
        at = START + DAY + timedelta(seconds=i)
        await _add(executions, f"busy{i}", created=at, finished=at, workflow_id="busy")
    clock.set(START + RETENTION + 2 * DAY)
    retention = _retention(executions, clock, metrics, keep_last=3, batch=10)

    removed = sum([(await retention.run_once(clock.now())).removed for _ in range(8)])

    assert removed == 1
    assert await _present(executions, "busy0") == []
    assert len(await _present(executions, *(f"k{n}-{i}" for n in range(20) for i in range(3)))) == 60


async def test_sweeps_running_at_once_remove_each_expired_execution_once(
    executions: InMemoryExecutionRepository, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    for i in range(30):
        at = START + timedelta(seconds=i)
        await _add(executions, f"e{i:02d}", created=at, finished=at, workflow_id=f"w{i % 2}")
    clock.set(START + RETENTION + DAY)
    sweeps = [_retention(executions, clock, metrics, keep_last=5, batch=7) for _ in range(3)]

    removed = 0
    for _ in range(5):
        passes = await asyncio.gather(*(sweep.run_once(clock.now()) for sweep in sweeps))
        removed += sum(result.removed for result in passes)

    assert removed == 20
    survivors = await _present(executions, *(f"e{i:02d}" for i in range(30)))
    assert survivors == [f"e{i:02d}" for i in range(20, 30)]


async def test_statistics_of_a_window_inside_the_retention_are_unchanged_by_a_pass(
    executions: InMemoryExecutionRepository, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    for i in range(6):
        at = START + timedelta(days=i * 10)
        await _add(executions, f"e{i}", created=at, finished=at + timedelta(seconds=1))
    now = START + timedelta(days=70)
    clock.set(now)
    window = (now - RETENTION, now)
    before = await executions.statistics(workflow_id="w", since=window[0], until=window[1])

    result = await _retention(executions, clock, metrics, keep_last=0).run_once(now)
    after = await executions.statistics(workflow_id="w", since=window[0], until=window[1])

    assert result.removed == 4  # days 0 to 30: finished before the cutoff, day 40
    assert after == before


def test_the_scheduler_runs_retention_as_a_loop_of_its_own_only_when_it_is_on(
    executions: InMemoryExecutionRepository, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    deps = Triggering(InMemoryWorkflowRepository(), executions, RecordingPublisher(), clock)
    repair = Repair(
        deps, metrics=metrics, batch=10, redispatch_after=INTERVAL, repair_after=INTERVAL, interval=INTERVAL
    )

    def loops(retention: Retention | None) -> list[str]:
        jobs = SchedulerJobs(
            firing=Firing(deps, metrics=metrics, batch=10),
            retries=Retries(deps, metrics=metrics, batch=10),
            repair=repair,
            retention=retention,
        )
        scheduler = Scheduler(jobs, prepare=_nothing, changes=None, metrics=metrics, max_sleep=1.0, repair_interval=5.0)
        return [loop.name for loop in scheduler.loops]

    assert loops(_retention(executions, clock, metrics)) == ["firing", "retries", "repair", "retention"]
    assert loops(None) == ["firing", "retries", "repair"]


async def _nothing() -> None:
    pass
