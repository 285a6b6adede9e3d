"""WorkflowRepository: the trigger lock (idle → busy → pending → busy → idle), held by one execution at a time."""

from __future__ import annotations

import asyncio

import pytest
from tests.contract.builders import T0, seconds, workflow

from wfa.domain.errors import TriggerLocked, WorkflowNotFound
from wfa.domain.workflow import TriggerStatus, Workflow
from wfa.ports.repositories import WorkflowRepository


async def test_acquire_takes_an_idle_lock_for_the_execution(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf"))

    locked = await workflows.try_acquire_trigger_lock("wf", execution_id="ex-1", now=T0 + seconds(1))

    assert (locked.trigger.status, locked.trigger.execution_id, locked.trigger.locked_at) == (
        TriggerStatus.BUSY,
        "ex-1",
        T0 + seconds(1),
    )
    assert await workflows.get("wf") == locked


async def test_acquire_of_a_busy_lock_raises_trigger_locked_naming_the_holder(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf"))
    await workflows.try_acquire_trigger_lock("wf", execution_id="ex-1", now=T0)

    with pytest.raises(TriggerLocked) as raised:
        await workflows.try_acquire_trigger_lock("wf", execution_id="ex-2", now=T0 + seconds(1))

    assert (raised.value.reason, raised.value.trigger_status, raised.value.execution_id) == ("busy", "busy", "ex-1")
    assert (await workflows.get("wf")).trigger.execution_id == "ex-1"


async def test_acquire_of_a_pending_lock_raises_trigger_locked_pending(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf"))
    await workflows.try_acquire_trigger_lock("wf", execution_id="ex-1", now=T0)
    await workflows.mark_trigger_pending("wf", execution_id="ex-1")

    with pytest.raises(TriggerLocked) as raised:
        await workflows.try_acquire_trigger_lock("wf", execution_id="ex-2", now=T0)

    assert (raised.value.reason, raised.value.trigger_status, raised.value.execution_id) == (
        "pending",
        "pending",
        "ex-1",
    )


async def test_acquire_on_a_paused_workflow_raises_trigger_locked_paused(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf"))
    await workflows.set_enabled("wf", enabled=False, next_run_at=None, now=T0)

    with pytest.raises(TriggerLocked) as raised:
        await workflows.try_acquire_trigger_lock("wf", execution_id="ex-1", now=T0)

    assert (raised.value.reason, raised.value.trigger_status, raised.value.execution_id) == ("paused", "idle", None)
    assert (await workflows.get("wf")).trigger.status is TriggerStatus.IDLE


async def test_acquire_on_an_unknown_workflow_raises_not_found(workflows: WorkflowRepository) -> None:
    with pytest.raises(WorkflowNotFound):
        await workflows.try_acquire_trigger_lock("nope", execution_id="ex-1", now=T0)


async def test_of_twenty_concurrent_acquirers_exactly_one_wins(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf"))

    results = await asyncio.gather(
        *(workflows.try_acquire_trigger_lock("wf", execution_id=f"ex-{i}", now=T0) for i in range(20)),
        return_exceptions=True,
    )

    winners = [r for r in results if isinstance(r, Workflow)]
    assert len(winners) == 1
    assert all(isinstance(r, TriggerLocked) for r in results if not isinstance(r, Workflow))
    assert (await workflows.get("wf")).trigger.execution_id == winners[0].trigger.execution_id


async def test_release_by_the_holder_frees_the_lock(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf"))
    await workflows.try_acquire_trigger_lock("wf", execution_id="ex-1", now=T0)

    assert await workflows.release_trigger_lock("wf", execution_id="ex-1")

    trigger = (await workflows.get("wf")).trigger
    assert (trigger.status, trigger.execution_id, trigger.locked_at) == (TriggerStatus.IDLE, None, None)
    await workflows.try_acquire_trigger_lock("wf", execution_id="ex-2", now=T0)


async def test_release_of_a_pending_lock_by_the_holder_frees_it(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf"))
    await workflows.try_acquire_trigger_lock("wf", execution_id="ex-1", now=T0)
    await workflows.mark_trigger_pending("wf", execution_id="ex-1")

    assert await workflows.release_trigger_lock("wf", execution_id="ex-1")
    assert (await workflows.get("wf")).trigger.status is TriggerStatus.IDLE


async def test_release_by_another_execution_changes_nothing(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf"))
    held = await workflows.try_acquire_trigger_lock("wf", execution_id="ex-1", now=T0)

    assert not await workflows.release_trigger_lock("wf", execution_id="ex-2")
    assert await workflows.get("wf") == held


async def test_release_of_an_idle_or_unknown_workflow_returns_false(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf"))
    assert not await workflows.release_trigger_lock("wf", execution_id="ex-1")
    assert not await workflows.release_trigger_lock("nope", execution_id="ex-1")


async def test_mark_pending_moves_the_holders_busy_lock_to_pending(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf"))
    await workflows.try_acquire_trigger_lock("wf", execution_id="ex-1", now=T0)

    assert await workflows.mark_trigger_pending("wf", execution_id="ex-1")

    trigger = (await workflows.get("wf")).trigger
    assert (trigger.status, trigger.execution_id, trigger.locked_at) == (TriggerStatus.PENDING, "ex-1", T0)


async def test_mark_pending_by_another_execution_or_when_not_busy_returns_false(
    workflows: WorkflowRepository,
) -> None:
    await workflows.add(workflow("wf"))
    assert not await workflows.mark_trigger_pending("wf", execution_id="ex-1")
    await workflows.try_acquire_trigger_lock("wf", execution_id="ex-1", now=T0)
    assert not await workflows.mark_trigger_pending("wf", execution_id="ex-2")
    await workflows.mark_trigger_pending("wf", execution_id="ex-1")
    assert not await workflows.mark_trigger_pending("wf", execution_id="ex-1")
    assert (await workflows.get("wf")).trigger.status is TriggerStatus.PENDING


async def test_mark_busy_moves_the_holders_pending_lock_back_to_busy(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf"))
    await workflows.try_acquire_trigger_lock("wf", execution_id="ex-1", now=T0)
    await workflows.mark_trigger_pending("wf", execution_id="ex-1")

    assert await workflows.mark_trigger_busy("wf", execution_id="ex-1")

    trigger = (await workflows.get("wf")).trigger
    assert (trigger.status, trigger.execution_id) == (TriggerStatus.BUSY, "ex-1")


async def test_mark_busy_by_another_execution_or_when_not_pending_returns_false(
    workflows: WorkflowRepository,
) -> None:
    await workflows.add(workflow("wf"))
    await workflows.try_acquire_trigger_lock("wf", execution_id="ex-1", now=T0)
    assert not await workflows.mark_trigger_busy("wf", execution_id="ex-1")
    await workflows.mark_trigger_pending("wf", execution_id="ex-1")
    assert not await workflows.mark_trigger_busy("wf", execution_id="ex-2")
    assert not await workflows.mark_trigger_busy("nope", execution_id="ex-1")
    assert (await workflows.get("wf")).trigger.status is TriggerStatus.PENDING


async def test_the_lock_of_a_deleted_workflow_can_no_longer_be_moved(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf"))
    await workflows.try_acquire_trigger_lock("wf", execution_id="ex-1", now=T0)
    await workflows.delete("wf", now=T0)
    assert not await workflows.mark_trigger_pending("wf", execution_id="ex-1")
    assert not await workflows.release_trigger_lock("wf", execution_id="ex-1")
