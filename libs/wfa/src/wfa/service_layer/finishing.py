"""Finishing an execution: the one order in which its workflow's lock moves and its record is stored.

Used by the runner when an attempt ends (succeeded, failed for good, or pending a retry), by the API's cancel, and
by the repair sweep for a lock whose holder is finished or missing. The order (contract, "Settled details"):
- every action's result is durable before the lock moves (the runner saves each result as it comes; a cancel
  records no result);
- a final status: the lock is released first, then the final record stored, so that whoever reads the final status
  can trigger again at once;
- pending a retry: the record first, then the lock goes from busy to pending (it stays held either way).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from wfa.domain.execution import ExecutionStatus
from wfa.ports.repositories import WorkflowRepository

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
) -> R:
    """Move the lock `execution_id` holds and store the record of its `status` (`record`), in the order above.
    What `record` returns is returned (falsy: the record was refused); a lock no longer held by this execution is
    left as it is."""
    if status is ExecutionStatus.PENDING:
        recorded = await record()
        if not recorded:
            return recorded  # refused (cancelled or taken over meanwhile): the lock is no longer this one's to move
        await writing(
            "mark_trigger_pending",
            lambda: workflows.mark_trigger_pending(workflow_id, execution_id=execution_id),
        )
        return recorded
    await release(workflows, workflow_id=workflow_id, execution_id=execution_id, writing=writing)
    return await record()


async def release(
    workflows: WorkflowRepository, *, workflow_id: str, execution_id: str, writing: Writing = _at_once
) -> bool:
    """Free the lock for (or of) a finished execution; False when `execution_id` no longer holds it."""
    return await writing(
        "release_trigger_lock", lambda: workflows.release_trigger_lock(workflow_id, execution_id=execution_id)
    )
