"""WorkflowRepository.conclude_trigger_lock: the release at the end of an execution counts failures in a row and
pauses the workflow at `pauseAfterFailures`, in the same write, only while the execution holds the lock; and a
pause, a resume and an update keep or reset the count as the contract says."""

from __future__ import annotations

import asyncio

from tests.contract.builders import T0, seconds, workflow

from wfa.domain.execution import ExecutionStatus
from wfa.domain.failure_streak import Concluded
from wfa.domain.workflow import PausedReason, TriggerStatus
from wfa.ports.repositories import WorkflowRepository

FAILED, SUCCEEDED, CANCELLED = ExecutionStatus.FAILED, ExecutionStatus.SUCCEEDED, ExecutionStatus.CANCELLED


async def run_to_end(
    workflows: WorkflowRepository, execution_id: str, status: ExecutionStatus, *, pause_after: int | None = 3
) -> Concluded:
    await workflows.try_acquire_trigger_lock("wf", execution_id=execution_id, now=T0)
    return await workflows.conclude_trigger_lock(
        "wf", execution_id=execution_id, status=status, pause_after_failures=pause_after
    )


async def test_each_failure_releases_the_lock_and_counts_one(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf"))

    first = await run_to_end(workflows, "e1", FAILED)
    second = await run_to_end(workflows, "e2", FAILED)

    assert first == second == Concluded(released=True)
    stored = await workflows.get("wf")
    assert (stored.trigger.consecutive_failures, stored.trigger.status, stored.enabled) == (2, TriggerStatus.IDLE, True)


async def test_a_success_resets_the_count_and_a_cancel_leaves_it(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf"))
    await run_to_end(workflows, "e1", FAILED)
    await run_to_end(workflows, "e2", CANCELLED)
    assert (await workflows.get("wf")).trigger.consecutive_failures == 1

    await run_to_end(workflows, "e3", SUCCEEDED)

    assert (await workflows.get("wf")).trigger.consecutive_failures == 0


async def test_the_failure_that_reaches_the_threshold_pauses_the_workflow(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf"))
    await run_to_end(workflows, "e1", FAILED)
    await run_to_end(workflows, "e2", FAILED)

    third = await run_to_end(workflows, "e3", FAILED)

    assert third == Concluded(released=True, paused=True, consecutive_failures=3)
    stored = await workflows.get("wf")
    assert (stored.enabled, stored.paused_reason, stored.trigger.status, stored.trigger.execution_id) == (
        False,
        PausedReason.FAILURES,
        TriggerStatus.IDLE,
        None,
    )
    # The slot is kept, as by a manual pause, so that a resume stays on the grid.
    assert stored.trigger.next_run_at == T0 + seconds(10)


async def test_a_repeated_release_counts_once(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf"))
    await workflows.try_acquire_trigger_lock("wf", execution_id="e1", now=T0)
    await workflows.conclude_trigger_lock("wf", execution_id="e1", status=FAILED, pause_after_failures=2)

    again = await workflows.conclude_trigger_lock("wf", execution_id="e1", status=FAILED, pause_after_failures=2)

    assert again == Concluded(released=False)
    stored = await workflows.get("wf")
    assert (stored.trigger.consecutive_failures, stored.enabled) == (1, True)


async def test_concurrent_repeats_of_one_release_count_once(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf"))
    await workflows.try_acquire_trigger_lock("wf", execution_id="e1", now=T0)

    results = await asyncio.gather(
        *(
            workflows.conclude_trigger_lock("wf", execution_id="e1", status=FAILED, pause_after_failures=1)
            for _ in range(5)
        )
    )

    assert sum(result.released for result in results) == 1
    assert sum(result.paused for result in results) == 1
    assert (await workflows.get("wf")).trigger.consecutive_failures == 1


async def test_the_release_of_a_former_holder_changes_nothing(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf"))
    await workflows.try_acquire_trigger_lock("wf", execution_id="e2", now=T0)

    result = await workflows.conclude_trigger_lock("wf", execution_id="e1", status=FAILED, pause_after_failures=1)

    assert result == Concluded(released=False)
    stored = await workflows.get("wf")
    assert (stored.trigger.execution_id, stored.trigger.consecutive_failures, stored.enabled) == ("e2", 0, True)


async def test_a_workflow_paused_by_hand_meanwhile_keeps_its_reason(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf"))
    await workflows.try_acquire_trigger_lock("wf", execution_id="e1", now=T0)
    await workflows.set_enabled("wf", enabled=False, next_run_at=None, now=T0)

    result = await workflows.conclude_trigger_lock("wf", execution_id="e1", status=FAILED, pause_after_failures=1)

    assert result == Concluded(released=True)
    stored = await workflows.get("wf")
    assert (stored.paused_reason, stored.trigger.consecutive_failures) == (PausedReason.MANUAL, 1)


async def test_a_manual_pause_says_manual_and_a_resume_clears_the_reason_and_the_count(
    workflows: WorkflowRepository,
) -> None:
    await workflows.add(workflow("wf"))
    await run_to_end(workflows, "e1", FAILED, pause_after=1)
    assert (await workflows.get("wf")).paused_reason is PausedReason.FAILURES

    resumed = await workflows.set_enabled("wf", enabled=True, next_run_at=T0 + seconds(20), now=T0)
    paused = await workflows.set_enabled("wf", enabled=False, next_run_at=None, now=T0)

    assert (resumed.enabled, resumed.paused_reason, resumed.trigger.consecutive_failures) == (True, None, 0)
    assert (paused.enabled, paused.paused_reason) == (False, PausedReason.MANUAL)


async def test_an_update_keeps_the_count_and_the_pause(workflows: WorkflowRepository) -> None:
    stored = workflow("wf")
    await workflows.add(stored)
    await run_to_end(workflows, "e1", FAILED, pause_after=1)

    revised = stored.model_copy(update={"version": 2, "description": "changed"})
    updated = await workflows.replace_definition(revised, expected_version=1, reschedule=False)

    assert (updated.trigger.consecutive_failures, updated.enabled, updated.paused_reason) == (
        1,
        False,
        PausedReason.FAILURES,
    )
