"""Firing the slots that wait in a workflow's backlog (a backfill's, and the catch-up of `catchup: all`), one
after another as the lock frees, oldest first.

A pass costs one indexed query, whatever waits: the workflows whose backlog's first slot is due (`backlog` index),
earliest first. Of those, the ones whose lock is free fire their first slot (wfa.service_layer.triggering.
fire_backlog); a busy one is left for a later pass without a write, so a long backlog behind a slow execution costs
nothing but its row in that query. The execution of a slot has an id derived from the slot: a slot fires once
whatever crashes or however many schedulers try.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from wfa.domain.workflow import TriggerStatus, Workflow
from wfa.service_layer.triggering import Triggering, fire_backlog
from wfa_scheduler.concurrency import run_bounded

log = structlog.get_logger(__name__)

DEFAULT_CONCURRENCY = 16
# A pass that found nothing to fire waits this long (capped by the loop's own maximum sleep): a backlog slot
# fires within about a second of the lock freeing.
IDLE_WAIT = 1.0


@dataclass(frozen=True)
class BacklogPass:
    due: int
    fired: int


class Backlog:
    def __init__(self, deps: Triggering, *, batch: int, concurrency: int = DEFAULT_CONCURRENCY) -> None:
        self._deps = deps
        self._batch = batch
        self._concurrency = concurrency

    async def run_once(self) -> BacklogPass:
        now = self._deps.clock.now()
        due = await self._deps.workflows.due_backlogs(now=now, limit=self._batch)
        free = [workflow for workflow in due if workflow.trigger.status is TriggerStatus.IDLE]
        fired = await run_bounded(free, self._fire, limit=self._concurrency)
        return BacklogPass(due=len(due), fired=sum(fired))

    async def step(self) -> float:
        done = await self.run_once()
        # Fired ones may have more slots waiting, due at once when their execution ends.
        return 0.0 if done.fired and done.due >= self._batch else IDLE_WAIT

    async def _fire(self, workflow: Workflow) -> bool:
        return await fire_backlog(self._deps, workflow) is not None
