import asyncio
from datetime import timedelta

import pytest
from tests.unit.fakes import START, RecordingPublisher, add_workflow

from wfa.domain.clock import FakeClock
from wfa.domain.errors import TriggerLocked, WorkflowNotFound
from wfa.domain.execution import ExecutionStatus, Reason
from wfa.domain.workflow import TriggerStatus
from wfa.ports.repositories import SlotOutcome
from wfa.service_layer.triggering import Triggering, dispatch, fire_schedule, trigger_manually


def _publisher(deps: Triggering) -> RecordingPublisher:
    assert isinstance(deps.publisher, RecordingPublisher)
    return deps.publisher


async def test_manual_trigger_locks_stores_and_publishes(deps: Triggering) -> None:
    await add_workflow(deps, {"type": "manual"})
    result = await trigger_manually(deps, "w", input={"k": 1})
    assert result.created
    assert result.execution.status is ExecutionStatus.QUEUED
    assert result.execution.input == {"k": 1}
    workflow = await deps.workflows.get("w")
    assert (workflow.trigger.status, workflow.trigger.execution_id) == (TriggerStatus.BUSY, "e1")
    assert [(r.execution_id, r.attempt, r.reason) for r in _publisher(deps).sent] == [("e1", 1, Reason.MANUAL)]


async def test_trigger_of_unknown_workflow_is_not_found(deps: Triggering) -> None:
    with pytest.raises(WorkflowNotFound):
        await trigger_manually(deps, "nope")


async def test_concurrent_triggers_have_exactly_one_winner(deps: Triggering) -> None:
    await add_workflow(deps, {"type": "manual"})
    results = await asyncio.gather(*(trigger_manually(deps, "w") for _ in range(20)), return_exceptions=True)
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, TriggerLocked)]
    assert len(winners) == 1
    assert len(losers) == 19
    assert {(e.reason, e.execution_id) for e in losers} == {("busy", winners[0].execution.execution_id)}


async def test_paused_workflow_refuses_triggers(deps: Triggering) -> None:
    await add_workflow(deps, {"type": "manual"})
    await deps.workflows.set_enabled("w", enabled=False, next_run_at=None, now=START)
    with pytest.raises(TriggerLocked) as caught:
        await trigger_manually(deps, "w")
    assert caught.value.reason == "paused"


async def test_repeated_idempotency_key_returns_the_first_execution(deps: Triggering) -> None:
    await add_workflow(deps, {"type": "manual"})
    first = await trigger_manually(deps, "w", idempotency_key="k1")
    again = await trigger_manually(deps, "w", idempotency_key="k1")
    assert not again.created
    assert again.execution.execution_id == first.execution.execution_id
    assert len(_publisher(deps).sent) == 1


async def test_idempotency_key_is_forgotten_after_24_hours(deps: Triggering) -> None:
    await add_workflow(deps, {"type": "manual"})
    first = await trigger_manually(deps, "w", idempotency_key="k1")
    await deps.workflows.release_trigger_lock("w", execution_id=first.execution.execution_id)
    assert isinstance(deps.clock, FakeClock)
    deps.clock.advance(timedelta(hours=24, seconds=1))
    later = await trigger_manually(deps, "w", idempotency_key="k1")
    assert later.created
    assert later.execution.execution_id != first.execution.execution_id


async def test_broker_down_keeps_the_execution_queued_for_the_stall_sweep(deps: Triggering) -> None:
    await add_workflow(deps, {"type": "manual"})
    _publisher(deps).down = True
    result = await trigger_manually(deps, "w")
    stored = await deps.executions.get(result.execution.execution_id)
    assert stored.status is ExecutionStatus.QUEUED
    _publisher(deps).down = False
    assert await dispatch(deps, stored)
    assert [r.execution_id for r in _publisher(deps).sent] == [stored.execution_id]


async def test_schedule_fire_claims_the_slot_and_moves_to_the_next_grid_slot(deps: Triggering) -> None:
    workflow = await add_workflow(deps, {"type": "periodic", "interval": "10s"})
    assert isinstance(deps.clock, FakeClock)
    deps.clock.advance(timedelta(seconds=10, milliseconds=3))
    outcome = await fire_schedule(deps, workflow)
    assert outcome is SlotOutcome.FIRED
    stored = await deps.workflows.get("w")
    assert stored.trigger.next_run_at == START + timedelta(seconds=20)
    assert [r.reason for r in _publisher(deps).sent] == [Reason.SCHEDULE]


async def test_a_slot_fires_once_however_many_callers(deps: Triggering) -> None:
    workflow = await add_workflow(deps, {"type": "periodic", "interval": "10s"})
    assert isinstance(deps.clock, FakeClock)
    deps.clock.advance(timedelta(seconds=10))
    outcomes = await asyncio.gather(*(fire_schedule(deps, workflow) for _ in range(5)))
    assert sorted(outcomes) == sorted([SlotOutcome.FIRED] + [SlotOutcome.LOST] * 4)


async def test_fire_due_while_busy_is_skipped_and_counted(deps: Triggering) -> None:
    workflow = await add_workflow(deps, {"type": "periodic", "interval": "10s"})
    await trigger_manually(deps, "w")
    assert isinstance(deps.clock, FakeClock)
    deps.clock.advance(timedelta(seconds=10))
    assert await fire_schedule(deps, workflow) is SlotOutcome.SKIPPED
    stored = await deps.workflows.get("w")
    assert stored.trigger.skipped_fires == 1
    assert stored.trigger.next_run_at == START + timedelta(seconds=20)
    assert len(_publisher(deps).sent) == 1


async def test_missed_fires_collapse_into_one(deps: Triggering) -> None:
    workflow = await add_workflow(deps, {"type": "periodic", "interval": "10s"})
    assert isinstance(deps.clock, FakeClock)
    deps.clock.advance(timedelta(seconds=95))
    assert await fire_schedule(deps, workflow) is SlotOutcome.FIRED
    stored = await deps.workflows.get("w")
    assert stored.trigger.next_run_at == START + timedelta(seconds=100)
    assert await deps.workflows.due_for_schedule(now=deps.clock.now(), limit=10) == []
