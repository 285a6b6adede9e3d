"""retry_execution: a failed or cancelled execution becomes a new one through the trigger's path (lock, store,
publish), resuming at its first action not succeeded."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.unit.fakes import START, RecordingPublisher, fail_as_the_runner_would

from wfa.domain.clock import FakeClock
from wfa.domain.errors import ExecutionNotFound, ExecutionNotRetryable, TriggerLocked, WorkflowDeleted
from wfa.domain.execution import ActionStatus, Execution, ExecutionPlan, ExecutionStatus, Reason
from wfa.domain.workflow import TriggerStatus, Workflow, WorkflowDefinition
from wfa.service_layer.finishing import cancel
from wfa.service_layer.triggering import Triggering, retry_execution, trigger_manually


def _definition(*messages: str) -> WorkflowDefinition:
    return WorkflowDefinition.model_validate(
        {
            "workflowId": "w",
            "trigger": {"type": "manual"},
            "actions": [{"type": "log", "message": message} for message in messages],
        }
    )


async def _add(deps: Triggering) -> Workflow:
    workflow = Workflow.create(_definition("one", "two", "three"), now=deps.clock.now(), next_run_at=None)
    await deps.workflows.add(workflow)
    return workflow


async def _failed_at_second_action(deps: Triggering) -> Execution:
    """Trigger the workflow and play the runner: action-1 succeeds, action-2 fails for good."""
    triggered = (await trigger_manually(deps, "w", input={"k": 1})).execution
    return await fail_as_the_runner_would(
        deps.workflows, deps.executions, triggered.execution_id, succeeded=1, now=deps.clock.now()
    )


def _publisher(deps: Triggering) -> RecordingPublisher:
    assert isinstance(deps.publisher, RecordingPublisher)
    return deps.publisher


def _later(deps: Triggering) -> None:
    assert isinstance(deps.clock, FakeClock)
    deps.clock.advance(timedelta(minutes=5))


async def test_retry_of_a_failed_execution_locks_stores_and_publishes(deps: Triggering) -> None:
    await _add(deps)
    original = await _failed_at_second_action(deps)
    _later(deps)

    result = await retry_execution(deps, original.execution_id)

    retry = result.execution
    assert result.created
    assert (retry.reason, retry.retry_of, retry.status) == (Reason.RETRY, original.execution_id, ExecutionStatus.QUEUED)
    assert await deps.executions.get(retry.execution_id) == retry
    assert retry.actions[0] == original.actions[0]
    assert [run.status for run in retry.actions[1:]] == [ActionStatus.NOT_STARTED] * 2
    workflow = await deps.workflows.get("w")
    assert (workflow.trigger.status, workflow.trigger.execution_id) == (TriggerStatus.BUSY, retry.execution_id)
    request = _publisher(deps).sent[-1]
    assert (request.execution_id, request.reason, request.attempt) == (retry.execution_id, Reason.RETRY, 1)


async def test_retry_runs_the_original_plan_not_the_current_definition(deps: Triggering) -> None:
    workflow = await _add(deps)
    original = await _failed_at_second_action(deps)
    updated = Workflow.create(_definition("changed"), now=deps.clock.now(), next_run_at=None)
    updated.version = 2
    await deps.workflows.replace_definition(updated, expected_version=1, reschedule=False)

    retry = (await retry_execution(deps, original.execution_id)).execution

    assert retry.workflow_version == workflow.version == 1
    assert await deps.executions.get_plan(retry.execution_id) == ExecutionPlan.of(workflow)
    assert _publisher(deps).sent[-1].workflow_version == 1


async def test_retry_of_a_cancelled_execution(deps: Triggering) -> None:
    await _add(deps)
    triggered = (await trigger_manually(deps, "w")).execution
    await cancel(deps.workflows, deps.executions, triggered.execution_id, now=deps.clock.now())

    retry = (await retry_execution(deps, triggered.execution_id)).execution

    assert retry.retry_of == triggered.execution_id
    assert all(run.status is ActionStatus.NOT_STARTED for run in retry.actions)


async def test_retry_of_a_retry_points_at_its_immediate_original(deps: Triggering) -> None:
    await _add(deps)
    original = await _failed_at_second_action(deps)
    first = (await retry_execution(deps, original.execution_id)).execution
    await cancel(deps.workflows, deps.executions, first.execution_id, now=deps.clock.now())

    second = (await retry_execution(deps, first.execution_id)).execution

    assert second.retry_of == first.execution_id
    assert second.actions[0] == original.actions[0]


async def test_retry_of_an_unknown_execution_is_not_found(deps: Triggering) -> None:
    with pytest.raises(ExecutionNotFound):
        await retry_execution(deps, "nope")


@pytest.mark.parametrize("finished", [False, True])
async def test_retry_of_an_execution_neither_failed_nor_cancelled_is_refused(deps: Triggering, finished: bool) -> None:
    await _add(deps)
    execution = (await trigger_manually(deps, "w")).execution
    status = ExecutionStatus.QUEUED
    if finished:
        done = execution.model_copy(deep=True)
        done.succeed(deps.clock.now())
        await deps.workflows.release_trigger_lock("w", execution_id=execution.execution_id)
        await deps.executions.claim_for_run(
            execution.execution_id, attempt=1, owner="r", lease_until=deps.clock.now(), now=deps.clock.now()
        )
        await deps.executions.save_progress(done, owner="r", lease_until=deps.clock.now())
        status = ExecutionStatus.SUCCEEDED
    sent = len(_publisher(deps).sent)

    with pytest.raises(ExecutionNotRetryable) as caught:
        await retry_execution(deps, execution.execution_id)

    assert caught.value.status == status.value
    assert len(_publisher(deps).sent) == sent


async def test_retry_while_the_workflow_is_busy_is_locked(deps: Triggering) -> None:
    await _add(deps)
    original = await _failed_at_second_action(deps)
    holder = (await trigger_manually(deps, "w")).execution

    with pytest.raises(TriggerLocked) as caught:
        await retry_execution(deps, original.execution_id)

    assert (caught.value.reason, caught.value.execution_id) == ("busy", holder.execution_id)


async def test_retry_while_the_workflow_is_paused_is_locked(deps: Triggering) -> None:
    await _add(deps)
    original = await _failed_at_second_action(deps)
    await deps.workflows.set_enabled("w", enabled=False, next_run_at=None, now=deps.clock.now())

    with pytest.raises(TriggerLocked) as caught:
        await retry_execution(deps, original.execution_id)

    assert caught.value.reason == "paused"


async def test_retry_after_the_workflow_was_deleted_is_refused(deps: Triggering) -> None:
    await _add(deps)
    original = await _failed_at_second_action(deps)
    await deps.workflows.delete("w", now=deps.clock.now())

    with pytest.raises(WorkflowDeleted) as caught:
        await retry_execution(deps, original.execution_id)

    assert caught.value.workflow_id == "w"


async def test_retry_after_the_workflow_was_deleted_and_created_anew_is_refused(deps: Triggering) -> None:
    await _add(deps)
    original = await _failed_at_second_action(deps)
    await deps.workflows.delete("w", now=deps.clock.now())
    _later(deps)
    await _add(deps)

    with pytest.raises(WorkflowDeleted):
        await retry_execution(deps, original.execution_id)

    workflow = await deps.workflows.get("w")
    assert (workflow.trigger.status, workflow.trigger.execution_id) == (TriggerStatus.IDLE, None)


async def test_repeated_idempotency_key_returns_the_first_retry(deps: Triggering) -> None:
    await _add(deps)
    original = await _failed_at_second_action(deps)
    first = await retry_execution(deps, original.execution_id, idempotency_key="k1")

    again = await retry_execution(deps, original.execution_id, idempotency_key="k1")

    assert not again.created
    assert again.execution.execution_id == first.execution.execution_id
    assert [r.reason for r in _publisher(deps).sent] == [Reason.MANUAL, Reason.RETRY]


async def test_started_time_of_the_retry_is_now(deps: Triggering) -> None:
    await _add(deps)
    original = await _failed_at_second_action(deps)
    _later(deps)

    retry = (await retry_execution(deps, original.execution_id)).execution

    assert retry.created_at == START + timedelta(minutes=5)
