"""The three loops together, on the real clock and in-memory stores: start-up, firing in real time, shutdown."""

import asyncio
import time
from datetime import timedelta
from itertools import count

from prometheus_client import CollectorRegistry
from tests.unit.fakes import RecordingPublisher, add_workflow

from wfa.adapters.memory import InMemoryExecutionRepository, InMemoryWorkflowRepository
from wfa.domain.clock import SystemClock
from wfa.domain.errors import DependencyUnavailable
from wfa.domain.execution import Reason
from wfa.service_layer.triggering import Triggering
from wfa_scheduler.firing import Firing
from wfa_scheduler.metrics import SchedulerMetrics
from wfa_scheduler.repair import Repair
from wfa_scheduler.retries import Retries
from wfa_scheduler.scheduler import Scheduler, SchedulerJobs

DEADLINE = 10.0


def _scheduler(deps: Triggering, prepare: object) -> Scheduler:
    metrics = SchedulerMetrics(CollectorRegistry())
    jobs = SchedulerJobs(
        firing=Firing(deps, metrics=metrics, batch=100),
        retries=Retries(deps, metrics=metrics, batch=100),
        repair=Repair(
            deps,
            metrics=metrics,
            batch=100,
            redispatch_after=timedelta(seconds=30),
            repair_after=timedelta(seconds=30),
            interval=timedelta(seconds=5),
        ),
    )
    return Scheduler(
        jobs,
        prepare=prepare,  # type: ignore[arg-type]
        changes=None,
        metrics=metrics,
        max_sleep=1.0,
        repair_interval=5.0,
    )


async def test_scheduler_prepares_despite_an_outage_then_fires_in_real_time_and_stops_cleanly() -> None:
    ids = count(1)
    publisher = RecordingPublisher()
    deps = Triggering(
        InMemoryWorkflowRepository(), InMemoryExecutionRepository(), publisher, SystemClock(), lambda: f"e{next(ids)}"
    )
    workflow = await add_workflow(deps, {"type": "periodic", "interval": "1s"})
    attempts: list[float] = []

    async def prepare() -> None:
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            raise DependencyUnavailable("mongodb", "not up yet")

    scheduler = _scheduler(deps, prepare)
    scheduler.start()
    deadline = time.monotonic() + DEADLINE
    while len(publisher.sent) < 2 and time.monotonic() < deadline:
        for request in publisher.sent:  # a runner that finishes each execution at once
            await deps.workflows.release_trigger_lock("w", execution_id=request.execution_id)
        await asyncio.sleep(0.02)

    stopping = time.monotonic()
    await scheduler.stop(grace=5.0)

    assert len(attempts) == 2
    assert [r.reason for r in publisher.sent[:2]] == [Reason.SCHEDULE, Reason.SCHEDULE]
    assert time.monotonic() - stopping < 1.0
    fired_at = [(await deps.executions.get(r.execution_id)).created_at for r in publisher.sent[:2]]
    slots = [workflow.created_at + timedelta(seconds=k) for k in (1, 2)]
    # Loose bounds for a loaded test machine; the point is that the loop sleeps until the slot, not a second.
    assert all(
        timedelta(0) <= fired - slot < timedelta(milliseconds=500) for fired, slot in zip(fired_at, slots, strict=True)
    )
