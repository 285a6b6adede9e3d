"""Finishing an execution: the one order in which its workflow's lock moves and its record is stored.

Used by the runner when an attempt ends (succeeded, failed for good, or pending a retry), by the API's cancel, and
by the repair sweep for a lock whose holder is finished or missing, or a cancel left half done. The order
(contract, "Settled details"):
- every action's result is durable before the lock moves (the runner saves each result as it comes; a cancel
  records no result);
- a final status: the lock is released first, then the final record stored, so that whoever reads the final status
  can trigger again at once; the release also counts failures in a row and may pause the workflow
  (wfa.domain.failure_streak), in the same write;
- pending a retry: the record first, then the lock goes from busy to pending (it stays held either way);
- a cancel: first the execution is marked for cancelling and its lease taken away (no runner goes on with it, nor
  claims it, once the lock is free), then the lock released, then the cancel recorded. A crash after the mark
  leaves an execution the repair sweep finds (its lease ended) and whose cancel it completes (`complete_cancel`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from wfa.domain.errors import ExecutionAlreadyFinished
from wfa.domain.execution import Execution, ExecutionStatus
from wfa.domain.failure_streak import Concluded
from wfa.ports.repositories import ExecutionRepository, WorkflowRepository

R = TypeVar("R")

Write = Callable[[], Awaitable[bool]]
Writing = Callable[[str, Write], Awaitable[bool]]
"""How a lock write is carried out: at once, or (the runner) retried while the database is briefly away."""


async def _at_once(what: str, write: Write) -> bool:
    return await write()


async def finish(
    workflows: WorkflowRepository,
    *,
    workflow_id: str,
    execution_id: str,
    status: ExecutionStatus,
    record: Callable[[], Awaitable[R]],
    writing: Writing = _at_once,
    pause_after_failures: int | None = None,
    concluded: Callable[[Concluded], None] | None = None,
) -> R:
    """Move the lock `execution_id` holds and store the record of its `status` (`record`), in the order above.
    What `record` returns is returned (falsy: the record was refused); a lock no longer held by this execution is
    left as it is. For a final status, `concluded` is told what the release did (the last send's answer, when
    `writing` sent it more than once)."""
    if status is ExecutionStatus.PENDING:
        recorded = await record()
        if not recorded:
            return recorded  # refused (cancelled or taken over meanwhile): the lock is no longer this one's to move
        await writing(
            "mark_trigger_pending",
            lambda: workflows.mark_trigger_pending(workflow_id, execution_id=execution_id),
        )
        return recorded
    outcome = Concluded(released=False)

    async def conclude() -> bool:
        nonlocal outcome
        outcome = await workflows.conclude_trigger_lock(
            workflow_id, execution_id=execution_id, status=status, pause_after_failures=pause_after_failures
        )
        return outcome.released

    await writing("release_trigger_lock", conclude)
    if concluded is not None:
        concluded(outcome)
    return await record()


async def release(
    workflows: WorkflowRepository, *, workflow_id: str, execution_id: str, writing: Writing = _at_once
) -> bool:
    """Free the lock for (or of) a finished execution; False when `execution_id` no longer holds it."""
    return await writing(
        "release_trigger_lock", lambda: workflows.release_trigger_lock(workflow_id, execution_id=execution_id)
    )


async def cancel(
    workflows: WorkflowRepository, executions: ExecutionRepository, execution_id: str, *, now: datetime
) -> Execution:
    """Cancel a queued, pending or running execution. Raises ExecutionNotFound or ExecutionAlreadyFinished."""
    requested = await executions.request_cancel(execution_id, now=now)
    return await _release_and_record_cancel(workflows, executions, requested, now=now)


async def complete_cancel(
    workflows: WorkflowRepository, executions: ExecutionRepository, execution: Execution, *, now: datetime
) -> bool:
    """Finish a cancel that was asked for but not recorded (its process died): False when it got finished
    meanwhile, by the cancel itself or another sweep."""
    try:
        await _release_and_record_cancel(workflows, executions, execution, now=now)
    except ExecutionAlreadyFinished:
        return False
    return True


async def _release_and_record_cancel(
    workflows: WorkflowRepository, executions: ExecutionRepository, execution: Execution, *, now: datetime
) -> Execution:
    """The two steps of a cancel after the mark: the lock released, then the cancel recorded."""
    return await finish(
        workflows,
        workflow_id=execution.workflow_id,
        execution_id=execution.execution_id,
        status=ExecutionStatus.CANCELLED,
        record=lambda: executions.cancel(execution.execution_id, now=now),
    )
