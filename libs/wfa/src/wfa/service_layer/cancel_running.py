"""`concurrency.whenBusy: cancelRunning`: a trigger that finds every slot taken cancels the oldest holder, then
takes the freed slot as any trigger does (contract v2, "Schedules and concurrency").

The cancel is the one cancel path (wfa.service_layer.finishing.cancel: mark, release, record), so the freed slot is
an ordinary free slot: under a race another trigger may take it first, and the one that cancelled is then answered as
`skip` would answer it (409 `busy`). No slot is ever reserved for the canceller; that keeps the lock's writes those
of v1 and of `concurrency.limit`, and the never-more-than-`limit` guarantee theirs.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from wfa.domain.errors import ExecutionAlreadyFinished, ExecutionNotFound, WorkflowNotFound
from wfa.domain.execution import Execution, oldest_unfinished
from wfa.domain.workflow import WhenBusy
from wfa.ports.repositories import ExecutionRepository, WorkflowRepository
from wfa.service_layer import finishing

log = structlog.get_logger(__name__)


async def when_busy(workflows: WorkflowRepository, workflow_id: str) -> WhenBusy | None:
    """What the workflow, as stored now, does with a trigger that finds every slot taken; None when it is gone or
    paused (the trigger is refused whatever it says)."""
    try:
        workflow = await workflows.get(workflow_id)
    except WorkflowNotFound:
        return None
    return workflow.concurrency.when_busy if workflow.enabled else None


async def cancel_oldest_holder(
    workflows: WorkflowRepository, executions: ExecutionRepository, workflow_id: str, *, now: datetime
) -> Execution | None:
    """Cancel the oldest execution holding a slot of the workflow's lock (by `createdAt`): the cancelled execution,
    or None when there was none to cancel (no holder stored yet, or each finished meanwhile, which freed a slot as
    well). Reads at most `concurrency.limit` executions (≤ 100)."""
    workflow = await workflows.get(workflow_id)
    holders: list[Execution] = []
    for execution_id in workflow.trigger.holder_ids():
        try:
            holders.append(await executions.get(execution_id))
        except ExecutionNotFound:
            # Took its slot a moment ago and is about to be stored: the newest, never the one to cancel.
            continue
    oldest = oldest_unfinished(holders)
    if oldest is None:
        return None
    try:
        cancelled = await finishing.cancel(workflows, executions, oldest.execution_id, now=now)
    except (ExecutionAlreadyFinished, ExecutionNotFound):
        return None
    log.info("trigger.cancelled_running", workflow_id=workflow_id, execution_id=oldest.execution_id)
    return cancelled
