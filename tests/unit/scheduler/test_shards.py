"""Several scheduler processes over one store share the slots by shard leases: each slot is claimed by one process,
and the shards of a process that stops renewing are taken over within the lease time, no slot missed."""

import asyncio
from datetime import timedelta

from prometheus_client import CollectorRegistry
from tests.unit.fakes import START, add_workflow
from tests.unit.scheduler.fakes import sample, seconds

from wfa.adapters.memory import InMemoryShardLeases
from wfa.domain.clock import FakeClock
from wfa.domain.shards import SHARDS, shard_of
from wfa.ports.repositories import ExecutionFilter, SlotOutcome
from wfa.service_layer.triggering import Triggering
from wfa_scheduler.firing import Firing
from wfa_scheduler.metrics import SchedulerMetrics
from wfa_scheduler.shards import ShardOwnership

TEN_S = {"type": "periodic", "interval": "10s"}
LEASE = timedelta(seconds=6)
WORKFLOWS = 60


class Process:
    """One scheduler process: its shard leases and its firing job, over the shared store."""

    def __init__(self, name: str, deps: Triggering, leases: InMemoryShardLeases) -> None:
        self.metrics = SchedulerMetrics(CollectorRegistry())
        self.shards = ShardOwnership(leases, deps.clock, owner=name, lease=LEASE, metrics=self.metrics)
        self.firing = Firing(deps, metrics=self.metrics, batch=200, owns=self.shards.owns)


async def _renew(*processes: Process) -> None:
    for process in processes:
        await process.shards.step()


async def _fire_slot(clock: FakeClock, k: int, deps: Triggering, *processes: Process) -> list[SlotOutcome]:
    """Time passes up to slot k with the live `processes` renewing every lease/3, then they fire it."""
    while clock.now() < START + seconds(10 * k):
        clock.set(min(clock.now() + LEASE / 3, START + seconds(10 * k)))
        await _renew(*processes)
    passes = await asyncio.gather(*(p.firing.run_once(clock.now()) for p in processes))
    for n in range(WORKFLOWS):
        workflow = await deps.workflows.get(f"w{n}")
        if workflow.trigger.execution_id is not None:
            await deps.workflows.release_trigger_lock(f"w{n}", execution_id=workflow.trigger.execution_id)
    return [outcome for done in passes for outcome, count in done.outcomes.items() for _ in range(count)]


async def _fired_per_workflow(deps: Triggering) -> set[int]:
    counts = set()
    for n in range(WORKFLOWS):
        page = await deps.executions.newest_first(ExecutionFilter(workflow_id=f"w{n}"), limit=500, cursor=None)
        counts.add(len(page.items))
    return counts


async def test_a_lone_scheduler_owns_every_shard_and_before_its_first_renewal_fires_everything(
    deps: Triggering,
) -> None:
    process = Process("a", deps, InMemoryShardLeases())

    assert all(process.shards.owns(f"w{n}") for n in range(100))
    await _renew(process)

    assert process.shards.owned == frozenset(range(SHARDS))
    assert sample(process.metrics.shards) == SHARDS


async def test_schedulers_share_the_shards_and_each_slot_is_claimed_by_one_of_them(
    deps: Triggering, clock: FakeClock
) -> None:
    for n in range(WORKFLOWS):
        await add_workflow(deps, TEN_S, workflow_id=f"w{n}")
    leases = InMemoryShardLeases()
    processes = [Process(name, deps, leases) for name in ("a", "b", "c")]
    for _ in range(3):  # announce, rebalance, take what was released
        await _renew(*processes)

    outcomes: list[SlotOutcome] = []
    for k in (1, 2, 3):
        outcomes += await _fire_slot(clock, k, deps, *processes)

    owned = [p.shards.owned for p in processes]
    assert sorted(len(shards) for shards in owned) == [20, 22, 22]
    assert frozenset().union(*owned) == frozenset(range(SHARDS))
    assert outcomes.count(SlotOutcome.FIRED) == 3 * WORKFLOWS
    assert outcomes.count(SlotOutcome.LOST) == 0
    assert await _fired_per_workflow(deps) == {3}


async def test_the_shards_of_a_scheduler_that_stops_renewing_are_taken_over_within_the_lease(
    deps: Triggering, clock: FakeClock
) -> None:
    for n in range(WORKFLOWS):
        await add_workflow(deps, TEN_S, workflow_id=f"w{n}")
    leases = InMemoryShardLeases()
    a, b = Process("a", deps, leases), Process("b", deps, leases)
    for _ in range(3):
        await _renew(a, b)
    assert await _fire_slot(clock, 1, deps, a, b) == [SlotOutcome.FIRED] * WORKFLOWS
    dead = b.shards.owned
    assert dead and any(shard_of(f"w{n}") in dead for n in range(WORKFLOWS))

    # b dies (it neither renews nor fires); a renews every lease/3 and takes b's shards once their lease runs out.
    renewed_at = clock.now()
    while not a.shards.owned >= dead:
        assert not a.shards.owns(next(f"w{n}" for n in range(WORKFLOWS) if shard_of(f"w{n}") in dead))
        clock.advance(LEASE / 3)
        await _renew(a)
    assert clock.now() - renewed_at <= LEASE + LEASE / 3

    outcomes = await _fire_slot(clock, 2, deps, a)
    assert outcomes == [SlotOutcome.FIRED] * WORKFLOWS
    assert await _fired_per_workflow(deps) == {2}


async def test_a_scheduler_that_leaves_hands_its_shards_over_at_the_next_renewal(
    deps: Triggering, clock: FakeClock
) -> None:
    leases = InMemoryShardLeases()
    a, b = Process("a", deps, leases), Process("b", deps, leases)
    for _ in range(3):
        await _renew(a, b)

    await b.shards.leave()
    await _renew(a)

    assert a.shards.owned == frozenset(range(SHARDS))


async def test_a_shard_between_holders_is_fired_by_both_meanwhile(deps: Triggering, clock: FakeClock) -> None:
    leases = InMemoryShardLeases()
    a, b = Process("a", deps, leases), Process("b", deps, leases)
    await _renew(a)  # a takes every shard
    await _renew(b)  # b announces itself, takes nothing: nothing is free
    await _renew(a)  # a releases half: nobody holds those until b takes them

    released = frozenset(range(SHARDS)) - a.shards.owned
    workflow_id = next(f"w{n}" for n in range(1000) if shard_of(f"w{n}") in released)

    assert a.shards.owns(workflow_id)
    await _renew(b)
    assert b.shards.owns(workflow_id)
    await _renew(a)
    assert not a.shards.owns(workflow_id)


async def test_a_scheduler_whose_view_is_older_than_a_lease_fires_everything(
    deps: Triggering, clock: FakeClock
) -> None:
    leases = InMemoryShardLeases()
    a, b = Process("a", deps, leases), Process("b", deps, leases)
    for _ in range(3):
        await _renew(a, b)
    foreign = next(f"w{n}" for n in range(1000) if not a.shards.owns(f"w{n}"))

    clock.advance(LEASE)  # a's renewals failed all that while: what it knows may be stale

    assert a.shards.owns(foreign)


async def test_a_dead_schedulers_overdue_slots_are_fired_by_another_before_its_lease_runs_out(
    deps: Triggering, clock: FakeClock
) -> None:
    for n in range(WORKFLOWS):
        await add_workflow(deps, TEN_S, workflow_id=f"w{n}")
    leases = InMemoryShardLeases()
    a, b = Process("a", deps, leases), Process("b", deps, leases)
    for _ in range(3):
        await _renew(a, b)
    assert await _fire_slot(clock, 1, deps, a, b) == [SlotOutcome.FIRED] * WORKFLOWS
    theirs = [n for n in range(WORKFLOWS) if not a.shards.owns(f"w{n}")]
    assert theirs

    # Both renew up to just before slot 2, then b dies: a's view still says b holds its shards (their lease runs
    # until 24 s).
    while clock.now() < START + seconds(18):
        clock.advance(LEASE / 3)
        await _renew(a, b)
    clock.set(START + seconds(20))
    await _renew(a)
    on_time = await a.firing.run_once(clock.now())
    clock.advance(seconds(3))
    overdue = await a.firing.run_once(clock.now())

    assert on_time.count(SlotOutcome.FIRED) == WORKFLOWS - len(theirs)
    assert overdue.count(SlotOutcome.FIRED) == len(theirs)
    assert not any(a.shards.owns(f"w{n}") for n in theirs)
    assert await _fired_per_workflow(deps) == {2}
