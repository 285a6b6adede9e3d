"""The scheduler after downtime by `trigger.catchup`, and the backlog fired one slot at a time as the lock frees."""

from datetime import timedelta

from tests.unit.fakes import START, add_workflow
from tests.unit.scheduler.fakes import seconds

from wfa.domain.clock import FakeClock
from wfa.domain.execution import Execution, Reason
from wfa.domain.schedule import backlog_execution_id
from wfa.domain.workflow import BacklogSlot, FireOutcome
from wfa.ports.repositories import ExecutionFilter, SlotOutcome
from wfa.service_layer.triggering import Triggering
from wfa_scheduler.backlog import Backlog
from wfa_scheduler.firing import Firing
from wfa_scheduler.metrics import SchedulerMetrics


def _trigger(catchup: str) -> dict[str, str]:
    return {"type": "periodic", "interval": "10s", "catchup": catchup}


async def _executions(deps: Triggering) -> list[Execution]:
    page = await deps.executions.newest_first(ExecutionFilter(workflow_id="w"), limit=500, cursor=None)
    return list(reversed(page.items))


async def _finish(deps: Triggering, clock: FakeClock) -> None:
    """The runner ends the execution: the lock frees (a second later, so that executions list in firing order)."""
    clock.set(clock.now() + seconds(1))
    workflow = await deps.workflows.get("w")
    assert workflow.trigger.execution_id is not None
    assert await deps.workflows.release_trigger_lock("w", execution_id=workflow.trigger.execution_id)


async def test_latest_fires_once_after_downtime_and_counts_the_rest_missed(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    await add_workflow(deps, _trigger("latest"))
    clock.set(START + seconds(45))  # slots +10 .. +40 passed unseen

    done = await Firing(deps, metrics=metrics, batch=100).run_once(clock.now())

    assert done.count(SlotOutcome.FIRED) == 1
    assert [e.scheduled_for for e in await _executions(deps)] == [START + seconds(10)]
    trigger = (await deps.workflows.get("w")).trigger
    assert (trigger.fired_fires, trigger.missed_fires, trigger.next_run_at) == (1, 3, START + seconds(50))


async def test_none_skips_the_missed_slots_and_waits_for_the_next(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    await add_workflow(deps, {"type": "periodic", "interval": "1h", "catchup": "none"})
    clock.set(START + timedelta(hours=3, minutes=30))

    done = await Firing(deps, metrics=metrics, batch=100).run_once(clock.now())

    assert done.count(SlotOutcome.PASSED) == 1
    assert await _executions(deps) == []
    trigger = (await deps.workflows.get("w")).trigger
    assert (trigger.missed_fires, trigger.next_run_at) == (3, START + timedelta(hours=4))
    assert [r.outcome for r in trigger.recent_fires] == [FireOutcome.MISSED] * 3


async def test_all_fires_each_missed_slot_in_order_one_at_a_time(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    await add_workflow(deps, _trigger("all"))
    clock.set(START + seconds(35))  # slots +10, +20, +30
    firing = Firing(deps, metrics=metrics, batch=100)
    backlog = Backlog(deps, batch=100)

    await firing.run_once(clock.now())
    first = await backlog.run_once()
    while_busy = await backlog.run_once()
    await _finish(deps, clock)
    second = await backlog.run_once()
    await _finish(deps, clock)
    third = await backlog.run_once()
    await _finish(deps, clock)
    nothing_left = await backlog.run_once()

    assert [p.fired for p in (first, while_busy, second, third)] == [1, 0, 1, 1]
    assert nothing_left.due == 0
    executions = await _executions(deps)
    assert [(e.scheduled_for, e.reason) for e in executions] == [
        (START + seconds(k), Reason.SCHEDULE) for k in (10, 20, 30)
    ]
    assert (await deps.workflows.get("w")).trigger.next_run_at == START + seconds(40)


async def test_backfill_slots_fire_in_order_as_the_lock_frees(deps: Triggering, clock: FakeClock) -> None:
    await add_workflow(deps, _trigger("latest"))
    slots = [START - seconds(30), START - seconds(20), START - seconds(10)]
    await deps.workflows.add_to_backlog("w", [BacklogSlot(slot=slot, backfill=True) for slot in slots])
    backlog = Backlog(deps, batch=100)

    for _ in slots:
        assert (await backlog.run_once()).fired == 1
        await _finish(deps, clock)

    executions = await _executions(deps)
    assert [(e.scheduled_for, e.reason) for e in executions] == [(slot, Reason.BACKFILL) for slot in slots]
    workflow = await deps.workflows.get("w")
    assert [e.execution_id for e in executions] == [
        backlog_execution_id("w", workflow.created_at, slot) for slot in slots
    ]
    assert workflow.trigger.backlog == []


async def test_a_slot_whose_execution_was_stored_before_a_crash_is_not_fired_again(
    deps: Triggering, clock: FakeClock
) -> None:
    await add_workflow(deps, _trigger("latest"))
    slot = START - seconds(10)
    await deps.workflows.add_to_backlog("w", [BacklogSlot(slot=slot, backfill=True)])
    backlog = Backlog(deps, batch=100)
    await backlog.run_once()
    await _finish(deps, clock)
    # A pass that died after storing the execution, before the slot left the backlog:
    await deps.workflows.add_to_backlog("w", [BacklogSlot(slot=slot, backfill=True)])

    again = await backlog.run_once()

    assert again.fired == 0
    assert len(await _executions(deps)) == 1
    assert (await deps.workflows.get("w")).trigger.backlog == []
