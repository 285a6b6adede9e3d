"""`whenBusy: cancelRunning`: a trigger on a full lock cancels the oldest holder through the one cancel path, then
takes the freed slot as any trigger; racing it for that slot, it may lose and is refused as `skip` refuses."""

import asyncio
from datetime import timedelta

import pytest
from tests.unit.fakes import START, add_workflow

from wfa.domain.clock import FakeClock
from wfa.domain.errors import TriggerLocked
from wfa.domain.execution import ExecutionStatus
from wfa.domain.workflow import TriggerStatus
from wfa.ports.repositories import SlotOutcome
from wfa.service_layer.triggering import Triggering, fire_schedule, trigger_manually

CANCEL_RUNNING = {"whenBusy": "cancelRunning"}


def _advance(deps: Triggering) -> None:
    assert isinstance(deps.clock, FakeClock)
    deps.clock.advance(timedelta(seconds=1))


async def _status(deps: Triggering, execution_id: str) -> ExecutionStatus:
    return (await deps.executions.get(execution_id)).status


async def test_a_trigger_on_a_busy_lock_cancels_the_holder_and_starts(deps: Triggering) -> None:
    await add_workflow(deps, {"type": "manual"}, concurrency=CANCEL_RUNNING)
    first = await trigger_manually(deps, "w")
    _advance(deps)

    second = await trigger_manually(deps, "w")

    assert await _status(deps, first.execution.execution_id) is ExecutionStatus.CANCELLED
    assert second.created and second.execution.status is ExecutionStatus.QUEUED
    trigger = (await deps.workflows.get("w")).trigger
    assert (trigger.status, trigger.execution_id, trigger.running) == (TriggerStatus.BUSY, "e2", 1)


async def test_on_a_limit_the_oldest_holder_is_the_one_cancelled(deps: Triggering) -> None:
    await add_workflow(deps, {"type": "manual"}, concurrency={**CANCEL_RUNNING, "limit": 3})
    for _ in range(3):
        await trigger_manually(deps, "w")
        _advance(deps)
    await deps.workflows.release_trigger_lock("w", execution_id="e1")
    await deps.executions.cancel("e1", now=deps.clock.now())
    await trigger_manually(deps, "w")  # e4 takes e1's slot (the first one): slot order is not age order
    _advance(deps)

    await trigger_manually(deps, "w")

    statuses = {execution_id: await _status(deps, execution_id) for execution_id in ("e2", "e3", "e4", "e5")}
    assert statuses == {
        "e2": ExecutionStatus.CANCELLED,
        "e3": ExecutionStatus.QUEUED,
        "e4": ExecutionStatus.QUEUED,
        "e5": ExecutionStatus.QUEUED,
    }
    assert sorted((await deps.workflows.get("w")).trigger.holder_ids()) == ["e3", "e4", "e5"]


async def test_a_pending_holder_is_cancelled_too(deps: Triggering) -> None:
    await add_workflow(deps, {"type": "manual"}, concurrency=CANCEL_RUNNING)
    await trigger_manually(deps, "w")
    await deps.workflows.mark_trigger_pending("w", execution_id="e1")

    await trigger_manually(deps, "w")

    assert await _status(deps, "e1") is ExecutionStatus.CANCELLED
    assert (await deps.workflows.get("w")).trigger.holder_ids() == ["e2"]


async def test_a_paused_workflow_cancels_nothing(deps: Triggering) -> None:
    await add_workflow(deps, {"type": "manual"}, concurrency=CANCEL_RUNNING)
    await trigger_manually(deps, "w")
    await deps.workflows.set_enabled("w", enabled=False, next_run_at=None, now=START)

    with pytest.raises(TriggerLocked) as caught:
        await trigger_manually(deps, "w")

    assert caught.value.reason == "paused"
    assert await _status(deps, "e1") is ExecutionStatus.QUEUED


async def test_skip_still_cancels_nothing(deps: Triggering) -> None:
    await add_workflow(deps, {"type": "manual"})
    await trigger_manually(deps, "w")

    with pytest.raises(TriggerLocked):
        await trigger_manually(deps, "w")

    assert await _status(deps, "e1") is ExecutionStatus.QUEUED


@pytest.mark.parametrize("limit", [1, 3])
async def test_concurrent_triggers_never_hold_more_than_the_limit(deps: Triggering, limit: int) -> None:
    await add_workflow(deps, {"type": "manual"}, concurrency={**CANCEL_RUNNING, "limit": limit})

    results = await asyncio.gather(*(trigger_manually(deps, "w") for _ in range(12)), return_exceptions=True)

    started = [r.execution.execution_id for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(r, TriggerLocked) and r.reason == "busy" for r in refused)
    holders = (await deps.workflows.get("w")).trigger.holder_ids()
    assert len(holders) == limit
    statuses = {execution_id: await _status(deps, execution_id) for execution_id in started}
    live = sorted(execution_id for execution_id, status in statuses.items() if status is ExecutionStatus.QUEUED)
    assert live == sorted(holders)  # every other started execution was cancelled, none left running unheld


async def test_a_scheduled_fire_on_a_busy_lock_cancels_the_holder_and_fires(deps: Triggering) -> None:
    workflow = await add_workflow(deps, {"type": "periodic", "interval": "10s"}, concurrency=CANCEL_RUNNING)
    await trigger_manually(deps, "w")
    assert isinstance(deps.clock, FakeClock)
    deps.clock.advance(timedelta(seconds=10))

    outcome = await fire_schedule(deps, workflow)

    assert outcome is SlotOutcome.FIRED
    assert await _status(deps, "e1") is ExecutionStatus.CANCELLED
    stored = (await deps.workflows.get("w")).trigger
    assert (stored.holder_ids(), stored.skipped_fires) == (["e2"], 0)


async def test_concurrent_scheduled_fires_cancel_at_most_one_holder(deps: Triggering) -> None:
    workflow = await add_workflow(deps, {"type": "periodic", "interval": "10s"}, concurrency=CANCEL_RUNNING)
    await trigger_manually(deps, "w")
    assert isinstance(deps.clock, FakeClock)
    deps.clock.advance(timedelta(seconds=10))

    outcomes = await asyncio.gather(*(fire_schedule(deps, workflow) for _ in range(5)))

    assert sorted(outcomes) == sorted([SlotOutcome.FIRED] + [SlotOutcome.LOST] * 4)
    assert await _status(deps, "e1") is ExecutionStatus.CANCELLED
    assert (await deps.workflows.get("w")).trigger.running == 1
