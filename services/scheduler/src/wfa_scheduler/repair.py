"""The safety net that makes crashes harmless (see the docstring of wfa.service_layer.triggering).

Every sweep:
- Stalled executions: queued ones whose request was last published long ago (lost between MongoDB and Kafka:
  a crash, a broker outage) and running ones whose runner's lease expired (it died mid-execution) get their
  request published again for their current attempt. The runner's claim makes a duplicate harmless. One marked
  for cancelling (a cancel whose process died before recording it: its lease was ended for this) gets its cancel
  completed instead (wfa.service_layer.finishing).
- Old locks: a workflow locked for long by an execution that does not exist (a crash between taking the lock
  and storing the execution) or that is already final gets its lock released; one held by an execution marked
  for cancelling gets that cancel completed. A lock held by a queued, running or pending execution is left
  alone: the stall sweep and the retry loop see to those.
- Other slots (a concurrency limit above 1, docs/concurrency.md): a workflow whose list of holders is dated before
  the repair time (`holdersSince`) gets each holder looked at as above: a final one's slot is released at once, a
  cancel left half done completed, and a missing one's slot released when the previous look, at least the repair
  time ago, saw it already (`holdersSeen`): the list's date is no holder's own, so a holder not seen before may
  have just taken its slot. Then the list is dated anew with the holders seen, so that live holders are looked at
  again only after the repair time.
- Queues (`whenBusy: queue`): a holder still waiting (it reached its slot, and whoever moved it there died before
  sending its request) gets its request sent; a queue that has not moved for the repair time (`waitingSince`) has
  its head started if a slot is free, which covers a slot freed by a process that died before passing it on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from wfa.domain.errors import ExecutionNotFound
from wfa.domain.execution import Execution, ExecutionStatus
from wfa.domain.workflow import TriggerStatus, Workflow
from wfa.ports.repositories import LockPosition
from wfa.service_layer.finishing import complete_cancel, release
from wfa.service_layer.triggering import Triggering, dispatch, end_wait, start_waiting
from wfa_scheduler.metrics import SchedulerMetrics

log = structlog.get_logger(__name__)

_REQUEUED = (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING)


@dataclass(frozen=True)
class RepairPass:
    republished: int = 0
    released: int = 0
    relocked: int = 0
    started: int = 0  # waiting executions started (whenBusy: queue)


class Repair:
    def __init__(
        self,
        deps: Triggering,
        *,
        metrics: SchedulerMetrics,
        batch: int,
        redispatch_after: timedelta,
        repair_after: timedelta,
        interval: timedelta,
    ) -> None:
        self._deps = deps
        self._metrics = metrics
        self._batch = batch
        self._redispatch_after = redispatch_after
        self._repair_after = repair_after
        self._interval = interval
        # (execution, attempt) → when this process last republished it. The repository re-reports a running
        # execution with an expired lease on every sweep until a runner takes it over; without this, a runner
        # outage would have each sweep pile another duplicate request per execution onto the topic.
        self._republished: dict[tuple[str, int], datetime] = {}
        self._locks_after: LockPosition | None = None

    async def run_once(self, now: datetime) -> RepairPass:
        republished = await self._republish_stalled(now)
        released, relocked = await self._repair_locks(now)
        released += await self._repair_other_slots(now)
        started = await self._move_queues(now)
        return RepairPass(republished=republished, released=released, relocked=relocked, started=started)

    async def step(self) -> float:
        await self.run_once(self._deps.clock.now())
        return self._interval.total_seconds()

    async def _republish_stalled(self, now: datetime) -> int:
        horizon = now - self._redispatch_after
        self._republished = {key: at for key, at in self._republished.items() if at > horizon}
        executions = self._deps.executions
        count = 0
        for stalled in (
            await executions.find_unconsumed(dispatched_before=horizon, limit=self._batch),
            await executions.find_expired_leases(now=now, limit=self._batch),
        ):
            republished, delivered = await self._republish(stalled, now)
            count += republished
            if not delivered:
                break  # the broker is down: the next sweep tries again
        return count

    async def _republish(self, stalled: list[Execution], now: datetime) -> tuple[int, bool]:
        """How many were published again, and False if the broker refused one."""
        count = 0
        for execution in stalled:
            if execution.cancel_requested_at is not None:
                await self._complete_cancel(execution, now)
                continue
            key = (execution.execution_id, execution.attempt)
            if key in self._republished:
                continue
            if not await dispatch(self._deps, execution):
                return count, False
            await self._deps.executions.mark_dispatched(execution.execution_id, attempt=execution.attempt, now=now)
            self._republished[key] = now
            self._metrics.repairs.labels(action="republished").inc()
            log.warning(
                "repair.republished",
                execution_id=execution.execution_id,
                workflow_id=execution.workflow_id,
                attempt=execution.attempt,
                status=execution.status.value,
                why="runner lease expired" if execution.status is ExecutionStatus.RUNNING else "request not consumed",
            )
            count += 1
        return count, True

    async def _repair_locks(self, now: datetime) -> tuple[int, int]:
        page = await self._deps.workflows.find_locked_since(
            before=now - self._repair_after, after=self._locks_after, limit=self._batch
        )
        released = relocked = 0
        for workflow in page.items:
            holder_id = workflow.trigger.execution_id
            if holder_id is None:
                continue
            try:
                holder: Execution | None = await self._deps.executions.get(holder_id)
            except ExecutionNotFound:
                holder = None
            if holder is None or holder.status.is_final:
                released += await self._release(workflow, holder_id, holder)
            elif holder.cancel_requested_at is not None:
                released += await self._complete_cancel(holder, now)
            elif holder.waiting:
                await self._end_wait(holder)
            elif workflow.trigger.status is TriggerStatus.PENDING and holder.status in _REQUEUED:
                # A crash between claim_retry and mark_trigger_busy: the retry is on its way, the lock says pending.
                relocked += await self._relock(workflow, holder_id)
        self._locks_after = page.resume_after
        return released, relocked

    async def _repair_other_slots(self, now: datetime) -> int:
        horizon = now - self._repair_after
        workflows = self._deps.workflows
        released = 0
        for workflow in await workflows.find_holders_since(before=horizon, limit=self._batch):
            for holder_id in workflow.trigger.holders:
                try:
                    holder: Execution | None = await self._deps.executions.get(holder_id)
                except ExecutionNotFound:
                    holder = None
                if holder is None:
                    if holder_id not in workflow.trigger.holders_seen:
                        continue  # it may have taken its slot just now: its execution has the repair time to appear
                    released += await self._release(workflow, holder_id, None)
                elif holder.status.is_final:
                    released += await self._release(workflow, holder_id, holder)
                elif holder.cancel_requested_at is not None:
                    released += await self._complete_cancel(holder, now)
                elif holder.waiting:
                    await self._end_wait(holder)
            assert workflow.trigger.holders_since is not None
            await workflows.holders_looked_at(
                workflow.workflow_id, since=workflow.trigger.holders_since, now=now, seen=workflow.trigger.holders
            )
        return released

    async def _end_wait(self, holder: Execution) -> None:
        """A holder still waiting: it reached its slot, and the process moving it there died before sending its
        request (or could not, its record not stored yet, and the trigger that stored it died before looking)."""
        if await end_wait(self._deps, holder.execution_id) is not None:
            self._metrics.repairs.labels(action="wait_ended").inc()
            log.warning("repair.wait_ended", execution_id=holder.execution_id, workflow_id=holder.workflow_id)

    async def _move_queues(self, now: datetime) -> int:
        """Queues that have not moved for the repair time: their head is started if a slot is free (one freed by
        a process that died before starting it, or by an execution whose plan predates the queue), and each is
        dated anew, so that a queue waiting on long executions is looked at once per repair time."""
        workflows = self._deps.workflows
        started = 0
        for workflow in await workflows.find_waiting_since(before=now - self._repair_after, limit=self._batch):
            moved = await start_waiting(self._deps, workflow.workflow_id)
            if moved:
                started += len(moved)
                self._metrics.repairs.labels(action="queue_moved").inc(len(moved))
                log.warning("repair.queue_moved", workflow_id=workflow.workflow_id, started=len(moved))
            assert workflow.trigger.waiting_since is not None
            await workflows.waiting_looked_at(workflow.workflow_id, since=workflow.trigger.waiting_since, now=now)
        return started

    async def _complete_cancel(self, execution: Execution, now: datetime) -> int:
        """A cancel whose process died after marking the execution: the lock and the record as the cancel would
        have left them."""
        if not await complete_cancel(self._deps.workflows, self._deps.executions, execution, now=now):
            return 0
        await start_waiting(self._deps, execution.workflow_id)
        self._metrics.repairs.labels(action="cancel_completed").inc()
        log.warning("repair.cancel_completed", execution_id=execution.execution_id, workflow_id=execution.workflow_id)
        return 1

    async def _relock(self, workflow: Workflow, holder_id: str) -> int:
        if not await self._deps.workflows.mark_trigger_busy(workflow.workflow_id, execution_id=holder_id):
            return 0
        self._metrics.repairs.labels(action="relocked").inc()
        log.warning("repair.lock_relocked", workflow_id=workflow.workflow_id, execution_id=holder_id)
        return 1

    async def _release(self, workflow: Workflow, holder_id: str, holder: Execution | None) -> int:
        if not await release(self._deps.workflows, workflow_id=workflow.workflow_id, execution_id=holder_id):
            return 0  # released or taken over meanwhile
        await start_waiting(self._deps, workflow.workflow_id)
        self._metrics.repairs.labels(action="released").inc()
        log.warning(
            "repair.lock_released",
            workflow_id=workflow.workflow_id,
            execution_id=holder_id,
            trigger_status=workflow.trigger.status.value,
            locked_at=workflow.trigger.locked_at.isoformat() if workflow.trigger.locked_at else None,
            why="execution missing" if holder is None else f"execution already {holder.status.value}",
        )
        return 1
