"""Times written by one host and compared by another agree however far apart the hosts' clocks are: every process
follows the database server's clock (wfa.adapters.mongo.clock). A fake world keeps the true time; each host's
system clock is off it by its skew; the database server's clock is the true one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from prometheus_client import REGISTRY, CollectorRegistry
from tests.unit.fakes import START, RecordingPublisher
from tests.unit.runner.fakes import eventually
from tests.unit.scheduler.fakes import seconds

from wfa.adapters.memory import InMemoryExecutionRepository, InMemoryWorkflowRepository
from wfa.adapters.mongo import DatabaseClock
from wfa.domain.clock import Clock, FakeClock
from wfa.domain.errors import DependencyUnavailable
from wfa.domain.execution import Execution, ExecutionPlan, Reason
from wfa.domain.workflow import TriggerStatus, Workflow, WorkflowDefinition
from wfa.service_layer.triggering import Triggering
from wfa_scheduler.metrics import SchedulerMetrics
from wfa_scheduler.repair import Repair

REPAIR_AFTER = timedelta(seconds=30)
LEASE = timedelta(seconds=30)
SKEWS = [timedelta(minutes=-2), timedelta(minutes=2)]


class World:
    """The true time, a database server that tells it (each reply `round_trip` after the request, the server
    reading its clock halfway), and hosts whose system clocks are off it."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.round_trip = timedelta(0)
        self.down = False
        self.asked = 0

    def system_time_of(self, skew: timedelta) -> Callable[[], float]:
        return lambda: (self.clock.now() + skew).timestamp()

    async def server_time(self) -> datetime:
        self.asked += 1
        if self.down:
            raise DependencyUnavailable("mongodb", "test server is down")
        self.clock.advance(self.round_trip / 2)
        told = self.clock.now()
        self.clock.advance(self.round_trip / 2)
        return told


async def clock_on(world: FakeClock, skew: timedelta) -> Clock:
    """The clock a service on a host `skew` off the true time uses, once started (its first sync done)."""
    server = World(world)
    clock = DatabaseClock(server.server_time, system_time=server.system_time_of(skew))
    await clock.sync()
    return clock


async def test_the_clock_follows_the_server_whatever_the_hosts_skew() -> None:
    world = World(FakeClock(START))
    clock = DatabaseClock(world.server_time, system_time=world.system_time_of(timedelta(minutes=-2)))

    before = clock.now()
    offset = await clock.sync()

    assert before == START - timedelta(minutes=2)  # before its first sync: the host's own clock
    assert (offset, clock.now()) == (120.0, START)
    assert REGISTRY.get_sample_value("wfa_clock_offset_seconds") == 120.0


async def test_the_offset_is_taken_at_the_midpoint_of_the_round_trip() -> None:
    world = World(FakeClock(START))
    world.round_trip = timedelta(milliseconds=40)
    clock = DatabaseClock(world.server_time, system_time=world.system_time_of(timedelta(seconds=5)))

    offset = await clock.sync()

    assert offset == pytest.approx(-5.0, abs=0.001)
    assert abs(clock.now() - world.clock.now()) <= timedelta(milliseconds=1)


async def test_a_failed_sync_keeps_the_last_offset_and_the_clock_goes_on() -> None:
    world = World(FakeClock(START))
    clock = DatabaseClock(world.server_time, every=0.001, system_time=world.system_time_of(timedelta(seconds=30)))
    await clock.sync()
    world.down = True

    with pytest.raises(DependencyUnavailable):
        await clock.sync()
    clock.start()
    try:
        asked = world.asked
        await eventually(
            lambda: world.asked >= asked + 2, "two more syncs"
        )  # the background sync failed twice, and carried on
    finally:
        await clock.stop()

    assert clock.offset == -30.0
    assert clock.now() == world.clock.now()


async def test_the_background_sync_follows_a_host_clock_that_is_stepped() -> None:
    world = World(FakeClock(START))
    skew = [timedelta(0)]
    clock = DatabaseClock(world.server_time, every=0.001, system_time=lambda: (world.clock.now() + skew[0]).timestamp())
    await clock.sync()

    skew[0] = timedelta(seconds=-7)  # an operator or NTP steps the host's clock back
    clock.start()
    try:
        await eventually(lambda: clock.offset == 7.0, "the new offset followed")
    finally:
        await clock.stop()

    assert clock.now() == world.clock.now()


def _workflow(workflow_id: str) -> Workflow:
    definition = WorkflowDefinition.model_validate(
        {"workflowId": workflow_id, "trigger": {"type": "manual"}, "actions": [{"type": "log", "message": "hi"}]}
    )
    return Workflow.create(definition, now=START, next_run_at=None)


@pytest.mark.parametrize("writer_skew", SKEWS, ids=["writer-2min-behind", "writer-2min-ahead"])
async def test_the_repair_releases_a_crashed_lock_exactly_when_it_is_really_stale(writer_skew: timedelta) -> None:
    world = FakeClock(START)
    api = await clock_on(world, writer_skew)
    scheduler = await clock_on(world, -writer_skew)
    workflows = InMemoryWorkflowRepository()
    await workflows.add(_workflow("w"))
    deps = Triggering(
        workflows=workflows, executions=InMemoryExecutionRepository(), publisher=RecordingPublisher(), clock=scheduler
    )
    repair = Repair(
        deps,
        metrics=SchedulerMetrics(CollectorRegistry()),
        batch=10,
        redispatch_after=REPAIR_AFTER,
        repair_after=REPAIR_AFTER,
        interval=seconds(5),
    )
    # The API host crashed between taking the lock and storing the execution.
    await workflows.try_acquire_trigger_lock("w", execution_id="ghost", now=api.now())

    world.set(START + REPAIR_AFTER - timedelta(milliseconds=1))
    early = await repair.run_once(scheduler.now())
    world.set(START + REPAIR_AFTER + timedelta(milliseconds=1))
    due = await repair.run_once(scheduler.now())

    assert (early.released, due.released) == (0, 1)
    assert (await workflows.get("w")).trigger.status is TriggerStatus.IDLE


@pytest.mark.parametrize("owner_skew", SKEWS, ids=["owner-2min-behind", "owner-2min-ahead"])
async def test_a_runner_on_another_host_takes_over_a_lease_exactly_when_it_expires(owner_skew: timedelta) -> None:
    world = FakeClock(START)
    owner = await clock_on(world, owner_skew)
    other = await clock_on(world, -owner_skew)
    executions = InMemoryExecutionRepository()
    workflow = _workflow("w")
    execution = Execution.queued(execution_id="ex", workflow=workflow, reason=Reason.MANUAL, input=None, now=START)
    await executions.add(execution, ExecutionPlan.of(workflow), idempotency_key=None)
    claimed = await executions.claim_for_run(
        "ex", attempt=1, owner="r1", lease_until=owner.now() + LEASE, now=owner.now()
    )
    assert claimed is not None

    world.set(START + LEASE - timedelta(milliseconds=1))
    early = await executions.claim_for_run(
        "ex", attempt=1, owner="r2", lease_until=other.now() + LEASE, now=other.now()
    )
    early_sweep = await executions.find_expired_leases(now=other.now(), limit=10)
    world.set(START + LEASE)
    due = await executions.claim_for_run("ex", attempt=1, owner="r2", lease_until=other.now() + LEASE, now=other.now())

    assert (early, early_sweep) == (None, [])
    assert due is not None
