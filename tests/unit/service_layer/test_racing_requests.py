"""Requests that race each other or the scheduler: idempotency keys, cancel and the lock, PUT and a fire.

The in-memory repositories yield to the event loop at every call, as a network round trip does, so concurrent
requests interleave between their calls.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.unit.fakes import START, add_workflow

from wfa.adapters.memory_versions import InMemoryVersionRepository
from wfa.domain.execution import ExecutionStatus
from wfa.domain.workflow import TriggerStatus, WorkflowDefinition
from wfa.ports.repositories import ExecutionFilter, SlotOutcome
from wfa.service_layer.triggering import Triggering, fire_schedule, trigger_manually
from wfa_workflows.use_cases import WorkflowUseCases


async def test_concurrent_triggers_with_one_idempotency_key_all_get_the_one_execution(deps: Triggering) -> None:
    await add_workflow(deps, {"type": "manual"})
    executions: Any = deps.executions
    original_add = executions.add

    async def slow_add(*args: Any, **kwargs: Any) -> None:
        await asyncio.sleep(0.05)  # the others arrive between the winner's lock and its insert
        await original_add(*args, **kwargs)

    executions.add = slow_add

    results = await asyncio.gather(*(trigger_manually(deps, "w", idempotency_key="deploy-42") for _ in range(10)))

    assert {result.execution.execution_id for result in results} == {"e1"}
    assert [result.created for result in results].count(True) == 1
    page = await deps.executions.newest_first(ExecutionFilter(workflow_id="w"), limit=50, cursor=None)
    assert [execution.execution_id for execution in page.items] == ["e1"]


async def test_cancel_frees_the_lock_no_later_than_it_records_the_cancel(deps: Triggering) -> None:
    await add_workflow(deps, {"type": "manual"})
    execution = (await trigger_manually(deps, "w")).execution
    seen: list[tuple[ExecutionStatus, TriggerStatus]] = []
    executions: Any = deps.executions
    original_cancel = executions.cancel

    async def cancel(execution_id: str, **kwargs: Any) -> Any:
        cancelled = await original_cancel(execution_id, **kwargs)
        lock = (await deps.workflows.get("w")).trigger.status
        seen.append((cancelled.status, lock))
        return cancelled

    executions.cancel = cancel

    await WorkflowUseCases(deps, InMemoryVersionRepository()).cancel_execution(execution.execution_id)

    # The moment a client can read `cancelled`, a new trigger is accepted.
    assert seen == [(ExecutionStatus.CANCELLED, TriggerStatus.IDLE)]


async def test_a_put_racing_a_scheduled_fire_never_arms_the_fired_slot_again(deps: Triggering) -> None:
    workflow = await add_workflow(deps, {"type": "periodic", "interval": "10s"})
    slot = workflow.trigger.next_run_at
    assert slot is not None
    deps.clock.set(slot)  # type: ignore[attr-defined]
    workflows: Any = deps.workflows
    original_get = workflows.get
    fired: list[SlotOutcome] = []

    async def get_then_fire(workflow_id: str) -> Any:
        stored = await original_get(workflow_id)
        if not fired:  # the scheduler fires the slot between the PUT's read and its write
            fired.append(await fire_schedule(deps, stored))
        return stored

    workflows.get = get_then_fire
    renamed = WorkflowDefinition.model_validate(
        {
            "workflowId": "w",
            "name": "renamed",
            "trigger": {"type": "periodic", "interval": "10s"},
            "actions": [{"type": "log", "message": "hi"}],
        }
    )

    updated = await WorkflowUseCases(deps, InMemoryVersionRepository()).update_workflow("w", renamed, if_match=None)

    assert fired == [SlotOutcome.FIRED]
    assert updated.trigger.next_run_at == slot + (slot - START)  # moved on by the fire, not put back
    workflows.get = original_get
    assert (await deps.workflows.get("w")).trigger.next_run_at == slot + (slot - START)
    assert await fire_schedule(deps, updated) is not SlotOutcome.FIRED  # the fired slot cannot fire again
