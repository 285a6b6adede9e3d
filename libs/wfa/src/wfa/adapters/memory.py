"""In-memory repositories for unit tests. They pass the same contract suite as the MongoDB ones.

Every method works on copies, so a caller never mutates stored state by accident, just as with a database. The
lock's and the claims' rules are the domain's transitions (wfa.domain.trigger_lock, wfa.domain.run_claims),
applied here to the stored objects as the MongoDB adapter applies them as conditional writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from wfa.adapters.cursor import (
    decode_execution_cursor,
    decode_workflow_cursor,
    encode_execution_cursor,
    encode_workflow_cursor,
)
from wfa.domain import failure_streak, run_claims, trigger_lock
from wfa.domain.errors import (
    ExecutionAlreadyFinished,
    ExecutionNotFound,
    TriggerLocked,
    VersionMismatch,
    WorkflowAlreadyExists,
    WorkflowNotFound,
)
from wfa.domain.execution import IDEMPOTENCY_WINDOW, Execution, ExecutionPlan, ExecutionStatus
from wfa.domain.failure_streak import Concluded
from wfa.domain.labels import Selector, carries
from wfa.domain.run_claims import RunField, RunTransition, new_token
from wfa.domain.schedule import FirePlan
from wfa.domain.shards import RELEASED, ShardLease, ShardView
from wfa.domain.statistics import ExecutionStatistics, summarize
from wfa.domain.trigger_lock import LockField, LockTransition, claim_transitions
from wfa.domain.workflow import BacklogSlot, PausedReason, Trigger, TriggerStatus, WhenBusy, Workflow
from wfa.ports.repositories import (
    ClaimedExecution,
    ExecutionFilter,
    ExecutionPage,
    ExecutionPosition,
    FinishedExecution,
    FinishedPage,
    FinishedPosition,
    LockPage,
    LockPosition,
    SlotClaim,
    SlotOutcome,
    WorkflowPage,
)

Workflows = list[Workflow]
"""A plain list of workflows (the repositories' `list` method shadows the builtin in their scope)."""


async def _round_trip() -> None:
    """Every method yields to the event loop first, as a database round trip does, and then applies its change
    without yielding again: concurrent callers interleave between calls, as against a real database, and a test
    of concurrent calls can fail when a change is not atomic."""
    await asyncio.sleep(0)


def _copy_workflow(workflow: Workflow) -> Workflow:
    return workflow.model_copy(deep=True)


def _copy_execution(execution: Execution) -> Execution:
    return execution.model_copy(deep=True)


class InMemoryWorkflowRepository:
    def __init__(self) -> None:
        self._live: dict[str, Workflow] = {}
        self._deleted: dict[str, Workflow] = {}  # the last state of each deleted workflow, by id

    async def add(self, workflow: Workflow) -> None:
        await _round_trip()
        if workflow.workflow_id in self._live:
            raise WorkflowAlreadyExists(workflow.workflow_id)
        self._deleted.pop(workflow.workflow_id, None)
        self._live[workflow.workflow_id] = _copy_workflow(workflow)

    async def get(self, workflow_id: str) -> Workflow:
        await _round_trip()
        return _copy_workflow(self._get(workflow_id))

    async def ever_existed(self, workflow_id: str) -> bool:
        await _round_trip()
        return workflow_id in self._live or workflow_id in self._deleted

    async def find_latest(self, workflow_id: str) -> Workflow | None:
        await _round_trip()
        found = self._live.get(workflow_id) or self._deleted.get(workflow_id)
        return _copy_workflow(found) if found is not None else None

    async def list(self, *, limit: int, cursor: str | None, labels: Sequence[Selector] = ()) -> WorkflowPage:
        await _round_trip()
        after = decode_workflow_cursor(cursor) if cursor is not None else None
        ids = sorted(i for i, w in self._live.items() if (after is None or i > after) and carries(w.labels, labels))
        page = [_copy_workflow(self._live[i]) for i in ids[: limit + 1]]
        more = len(page) > limit
        page = page[:limit]
        return WorkflowPage(page, encode_workflow_cursor(page[-1].workflow_id) if more and page else None)

    async def replace_definition(self, workflow: Workflow, *, expected_version: int, reschedule: bool) -> Workflow:
        await _round_trip()
        stored = self._get(workflow.workflow_id)
        if stored.version != expected_version:
            raise VersionMismatch(workflow.workflow_id, expected_version, stored.version)
        lock = stored.trigger
        updated = workflow.model_copy(deep=True)
        updated.trigger.status = lock.status
        updated.trigger.execution_id = lock.execution_id
        updated.trigger.locked_at = lock.locked_at
        updated.trigger.skipped_fires = lock.skipped_fires
        updated.trigger.consecutive_failures = lock.consecutive_failures
        updated.trigger.missed_fires = lock.missed_fires
        updated.trigger.fired_fires = lock.fired_fires
        updated.trigger.recent_fires = lock.recent_fires
        updated.trigger.backlog = lock.backlog
        updated.trigger.backlog_next = lock.backlog_next
        updated.trigger.holders = lock.holders
        updated.trigger.holders_since = lock.holders_since
        updated.trigger.holders_seen = lock.holders_seen
        updated.trigger.waiting = lock.waiting
        updated.trigger.waiting_since = lock.waiting_since
        updated.trigger.count_running()
        if not reschedule:
            updated.trigger.next_run_at = lock.next_run_at
        updated.enabled = stored.enabled
        updated.paused_reason = stored.paused_reason
        updated.created_at = stored.created_at
        self._live[workflow.workflow_id] = updated
        return _copy_workflow(updated)

    async def delete(self, workflow_id: str, *, now: datetime) -> None:
        await _round_trip()
        self._deleted[workflow_id] = self._get(workflow_id)
        del self._live[workflow_id]

    async def set_enabled(
        self, workflow_id: str, *, enabled: bool, next_run_at: datetime | None, now: datetime
    ) -> Workflow:
        await _round_trip()
        stored = self._get(workflow_id)
        stored.enabled = enabled
        stored.paused_reason = None if enabled else PausedReason.MANUAL
        if enabled:
            stored.trigger.consecutive_failures = 0
        stored.trigger.next_run_at = next_run_at
        stored.updated_at = now
        return _copy_workflow(stored)

    async def try_acquire_trigger_lock(self, workflow_id: str, *, execution_id: str, now: datetime) -> Workflow:
        await _round_trip()
        stored = self._get(workflow_id)
        changes = trigger_lock.acquires(execution_id, now, limit=stored.concurrency.limit)
        if not any(_apply_to_lock(stored, change) for change in changes):
            reason = "paused" if not stored.enabled else stored.trigger.status.value
            if reason == TriggerStatus.IDLE.value:
                reason = TriggerStatus.BUSY.value  # a slot is free, but executions wait for it (whenBusy: queue)
            raise TriggerLocked(
                workflow_id,
                reason=reason,
                trigger_status=stored.trigger.status.value,
                execution_id=stored.trigger.execution_id,
            )
        return _copy_workflow(stored)

    async def release_trigger_lock(self, workflow_id: str, *, execution_id: str) -> bool:
        await _round_trip()
        changes = (
            trigger_lock.release(execution_id),
            trigger_lock.release_other_slot(execution_id),
            trigger_lock.leaves_queue(execution_id),
        )
        return any(self._change_lock(workflow_id, change) for change in changes)

    async def conclude_trigger_lock(
        self, workflow_id: str, *, execution_id: str, status: ExecutionStatus, pause_after_failures: int | None
    ) -> Concluded:
        await _round_trip()
        for release in failure_streak.releases(execution_id, status, pause_after_failures=pause_after_failures):
            if self._change_lock(workflow_id, release.change):
                if not release.pauses:
                    return Concluded(released=True)
                count = self._live[workflow_id].trigger.consecutive_failures
                return Concluded(released=True, paused=True, consecutive_failures=count)
        return Concluded(released=False)

    async def mark_trigger_pending(self, workflow_id: str, *, execution_id: str) -> bool:
        await _round_trip()
        return self._change_lock(workflow_id, trigger_lock.to_pending(execution_id))

    async def mark_trigger_busy(self, workflow_id: str, *, execution_id: str) -> bool:
        await _round_trip()
        return self._change_lock(workflow_id, trigger_lock.to_busy(execution_id))

    async def claim_schedule_slot(
        self,
        workflow_id: str,
        *,
        slot: datetime,
        next_run_at: datetime | None,
        execution_id: str,
        now: datetime,
        plan: FirePlan | None = None,
        limit: int = 1,
        queue_max: int | None = None,
    ) -> SlotClaim:
        await _round_trip()
        stored = self._live.get(workflow_id)
        if stored is None:
            return SlotClaim(SlotOutcome.LOST, None)
        changes = claim_transitions(
            slot, next_run_at, execution_id=execution_id, now=now, plan=plan, limit=limit, queue_max=queue_max
        )
        for outcome, change in changes:
            if _apply_to_lock(stored, change):
                return SlotClaim(outcome, _copy_workflow(stored))
        return SlotClaim(SlotOutcome.LOST, None)

    async def add_to_backlog(self, workflow_id: str, slots: Sequence[BacklogSlot]) -> None:
        await _round_trip()
        trigger = self._get(workflow_id).trigger
        trigger.backlog = sorted([*trigger.backlog, *slots], key=lambda entry: entry.slot)
        trigger.backlog_next = trigger.backlog[0].slot if trigger.backlog else None

    async def due_backlogs(self, *, now: datetime, limit: int) -> Workflows:
        await _round_trip()
        due = [
            w
            for w in self._live.values()
            if w.enabled and w.trigger.backlog_next is not None and w.trigger.backlog_next <= now
        ]
        due.sort(key=lambda w: (w.trigger.backlog_next, w.workflow_id))
        return [_copy_workflow(w) for w in due[:limit]]

    async def take_lock_for_backlog_slot(
        self, workflow_id: str, *, slot: datetime, execution_id: str, now: datetime, limit: int = 1
    ) -> bool:
        await _round_trip()
        stored = self._live.get(workflow_id)
        if stored is None or not stored.trigger.backlog or stored.trigger.backlog[0].slot != slot:
            return False
        changes = trigger_lock.fire_backlog_slots(slot, execution_id=execution_id, now=now, limit=limit)
        return any(_apply_to_lock(stored, change) for change in changes)

    async def drop_backlog_slot(self, workflow_id: str, *, slot: datetime) -> None:
        await _round_trip()
        stored = self._live.get(workflow_id)
        if stored is not None and stored.trigger.backlog and stored.trigger.backlog[0].slot == slot:
            stored.trigger.backlog = stored.trigger.backlog[1:]
            stored.trigger.backlog_next = stored.trigger.backlog[0].slot if stored.trigger.backlog else None

    async def due_for_schedule(self, *, now: datetime, limit: int) -> Workflows:
        await _round_trip()
        due = [w for w in self._scheduled() if w.trigger.next_run_at is not None and w.trigger.next_run_at <= now]
        due.sort(key=lambda w: (w.trigger.next_run_at, w.workflow_id))
        return [_copy_workflow(w) for w in due[:limit]]

    async def earliest_next_run_at(self) -> datetime | None:
        await _round_trip()
        times = [w.trigger.next_run_at for w in self._scheduled() if w.trigger.next_run_at is not None]
        return min(times, default=None)

    async def find_locked_since(self, *, before: datetime, after: LockPosition | None = None, limit: int) -> LockPage:
        await _round_trip()
        positions = [
            (LockPosition(w.trigger.locked_at, w.workflow_id), w)
            for w in self._live.values()
            if w.trigger.status is not TriggerStatus.IDLE and w.trigger.locked_at is not None
        ]
        locked = sorted(
            ((at, w) for at, w in positions if at.locked_at < before and (after is None or at > after)),
            key=lambda pair: pair[0],
        )[:limit]
        return LockPage([_copy_workflow(w) for _, w in locked], locked[-1][0] if len(locked) == limit else None)

    async def find_holders_since(self, *, before: datetime, limit: int) -> Workflows:
        await _round_trip()
        return self._dated_before(lambda trigger: trigger.holders_since, before=before, limit=limit)

    async def holders_looked_at(self, workflow_id: str, *, since: datetime, now: datetime, seen: Sequence[str]) -> None:
        await _round_trip()
        if not self._change_lock(workflow_id, trigger_lock.holders_looked_at(since, now, seen=seen)):
            self._change_lock(workflow_id, trigger_lock.holders_gone(since))

    async def join_queue(self, workflow_id: str, *, execution_id: str, now: datetime) -> Workflow:
        await _round_trip()
        stored = self._get(workflow_id)
        concurrency = stored.concurrency
        if stored.enabled and concurrency.when_busy is WhenBusy.QUEUE:
            changes = trigger_lock.joins_queue(execution_id, now, queue_max=concurrency.queue_max)
            if any(_apply_to_lock(stored, change) for change in changes):
                return _copy_workflow(stored)
        raise trigger_lock.why_not_queued(stored)

    async def start_waiting(self, workflow_id: str, *, head: str, now: datetime, limit: int) -> bool:
        await _round_trip()
        stored = self._live.get(workflow_id)
        return stored is not None and any(
            _apply_to_lock(stored, change) for change in trigger_lock.starts_waiting(head, now, limit=limit)
        )

    async def find_waiting_since(self, *, before: datetime, limit: int) -> Workflows:
        await _round_trip()
        return self._dated_before(lambda trigger: trigger.waiting_since, before=before, limit=limit)

    def _dated_before(
        self, date_of: Callable[[Trigger], datetime | None], *, before: datetime, limit: int
    ) -> Workflows:
        """Live workflows whose trigger's date (`date_of`) is before `before`, oldest first, as the index serves."""
        dated = [(date_of(w.trigger), w.workflow_id, w) for w in self._live.values()]
        due = sorted(
            ((at, workflow_id, w) for at, workflow_id, w in dated if at is not None and at < before),
            key=lambda entry: (entry[0], entry[1]),
        )
        return [_copy_workflow(w) for _, _, w in due[:limit]]

    async def waiting_looked_at(self, workflow_id: str, *, since: datetime, now: datetime) -> None:
        await _round_trip()
        if not self._change_lock(workflow_id, trigger_lock.waiting_looked_at(since, now)):
            self._change_lock(workflow_id, trigger_lock.waiting_gone(since))

    def _get(self, workflow_id: str) -> Workflow:
        stored = self._live.get(workflow_id)
        if stored is None:
            raise WorkflowNotFound(workflow_id)
        return stored

    def _scheduled(self) -> Workflows:
        return [w for w in self._live.values() if w.enabled and w.trigger.is_scheduled]

    def _change_lock(self, workflow_id: str, change: LockTransition) -> bool:
        stored = self._live.get(workflow_id)
        return stored is not None and _apply_to_lock(stored, change)


def _lock_state(workflow: Workflow) -> dict[LockField, object]:
    return {name: _lock_owner(workflow, name)[1] for name in LockField}


def _lock_owner(workflow: Workflow, name: LockField) -> tuple[object, object]:
    """The object holding the lock field `name` (the workflow or its trigger) and the field's value."""
    target: object = workflow
    if name.startswith("trigger."):
        target = workflow.trigger
    elif name.startswith("concurrency."):
        target = workflow.concurrency
    return target, getattr(target, name.rpartition(".")[2])


def _apply_to_lock(workflow: Workflow, change: LockTransition) -> bool:
    state = _lock_state(workflow)
    if not change.allows(state):
        return False
    for name, value in change.applied_to(state).items():
        target, _ = _lock_owner(workflow, name)
        setattr(target, name.rpartition(".")[2], value)
    workflow.trigger.count_running()
    return True


@dataclass
class _StoredExecution:
    execution: Execution
    plan: ExecutionPlan
    idempotency_key: str | None
    lease_owner: str | None = None
    lease_until: datetime | None = None
    dispatched_at: datetime | None = None


class InMemoryExecutionRepository:
    def __init__(self) -> None:
        self._items: dict[str, _StoredExecution] = {}
        self._keys: dict[tuple[str, str], tuple[str, datetime]] = {}

    async def add(self, execution: Execution, plan: ExecutionPlan, *, idempotency_key: str | None) -> None:
        await _round_trip()
        if execution.execution_id in self._items:
            raise ValueError(f"execution {execution.execution_id} stored twice")
        self._items[execution.execution_id] = _StoredExecution(
            _copy_execution(execution),
            plan.model_copy(deep=True),
            idempotency_key,
            # A waiting execution's request is not sent yet: nothing for the stall sweep until it starts.
            dispatched_at=None if execution.waiting else execution.created_at,
        )

    async def get(self, execution_id: str) -> Execution:
        await _round_trip()
        return _copy_execution(self._get(execution_id).execution)

    async def get_plan(self, execution_id: str) -> ExecutionPlan:
        await _round_trip()
        return self._get(execution_id).plan.model_copy(deep=True)

    async def find_by_idempotency_key(self, workflow_id: str, key: str, *, since: datetime) -> Execution | None:
        await _round_trip()
        matches = [
            s.execution
            for s in self._items.values()
            if s.idempotency_key == key and s.execution.workflow_id == workflow_id and s.execution.created_at >= since
        ]
        if not matches:
            return None
        return _copy_execution(max(matches, key=lambda e: (e.created_at, e.execution_id)))

    async def claim_idempotency_key(self, workflow_id: str, key: str, *, execution_id: str, now: datetime) -> str:
        await _round_trip()
        claim = self._keys.get((workflow_id, key))
        if claim is None or claim[1] < now - IDEMPOTENCY_WINDOW:
            self._keys[(workflow_id, key)] = (execution_id, now)
            return execution_id
        return claim[0]

    async def reclaim_idempotency_key(
        self, workflow_id: str, key: str, *, execution_id: str, claimed_by: str, now: datetime
    ) -> bool:
        await _round_trip()
        claim = self._keys.get((workflow_id, key))
        if claim is None or claim[0] != claimed_by:
            return claim is not None and claim[0] == execution_id
        self._keys[(workflow_id, key)] = (execution_id, now)
        return True

    async def newest_first(self, where: ExecutionFilter, *, limit: int, cursor: str | None) -> ExecutionPage:
        await _round_trip()
        position = decode_execution_cursor(cursor) if cursor is not None else None
        rows = [s.execution for s in self._items.values() if where.matches(s.execution)]
        rows.sort(key=lambda e: (e.created_at, e.execution_id), reverse=True)
        if position is not None:
            rows = [e for e in rows if (e.created_at, e.execution_id) < position]
        page = [_copy_execution(e) for e in rows[: limit + 1]]
        more = len(page) > limit
        page = page[:limit]
        last = page[-1] if page else None
        cursor_out = encode_execution_cursor(last.created_at, last.execution_id) if more and last else None
        return ExecutionPage(page, cursor_out)

    async def claim_for_run(
        self, execution_id: str, *, attempt: int, owner: str, lease_until: datetime, now: datetime
    ) -> ClaimedExecution | None:
        await _round_trip()
        stored = self._items.get(execution_id)
        claim = run_claims.claim_for_run(attempt=attempt, token=owner, lease_until=lease_until, now=now)
        if stored is None or not _apply_to_run(stored, claim):
            return None
        return ClaimedExecution(_copy_execution(stored.execution), stored.plan.model_copy(deep=True))

    async def save_progress(self, execution: Execution, *, owner: str, lease_until: datetime) -> bool:
        await _round_trip()
        stored = self._items.get(execution.execution_id)
        change = run_claims.save_progress(token=owner, lease_until=lease_until, status=execution.status)
        if stored is None or not change.allows(_run_state(stored)):
            return False
        # The trace context is set once, when the execution is added (as MongoDB's $set of progress leaves it).
        stored.execution = execution.model_copy(deep=True, update={"traceparent": stored.execution.traceparent})
        return _apply_to_run(stored, change)

    async def renew_lease(self, execution_id: str, *, owner: str, lease_until: datetime) -> bool:
        await _round_trip()
        stored = self._items.get(execution_id)
        return stored is not None and _apply_to_run(
            stored, run_claims.renew_lease(token=owner, lease_until=lease_until)
        )

    async def request_cancel(self, execution_id: str, *, now: datetime) -> Execution:
        await _round_trip()
        stored = self._get(execution_id)
        if not _apply_to_run(stored, run_claims.request_cancel(now=now, token=new_token())):
            raise ExecutionAlreadyFinished(execution_id, stored.execution.status.value)
        return _copy_execution(stored.execution)

    async def cancel(self, execution_id: str, *, now: datetime) -> Execution:
        await _round_trip()
        stored = self._get(execution_id)
        if not _apply_to_run(stored, run_claims.cancel(now=now, token=new_token())):
            raise ExecutionAlreadyFinished(execution_id, stored.execution.status.value)
        stored.execution.cancel(now)  # the record's own changes
        return _copy_execution(stored.execution)

    async def claim_retry(self, execution_id: str, *, now: datetime) -> Execution | None:
        await _round_trip()
        stored = self._items.get(execution_id)
        change = run_claims.requeue_for_retry(now=now, token=new_token())
        if stored is None or not _apply_to_run(stored, change):
            return None
        return _copy_execution(stored.execution)

    async def due_retries(self, *, now: datetime, limit: int) -> list[Execution]:
        await _round_trip()
        due = [
            s.execution
            for s in self._items.values()
            if s.execution.status is ExecutionStatus.PENDING
            and s.execution.next_retry_at is not None
            and s.execution.next_retry_at <= now
        ]
        due.sort(key=lambda e: (e.next_retry_at, e.execution_id))
        return [_copy_execution(e) for e in due[:limit]]

    async def earliest_retry_at(self) -> datetime | None:
        await _round_trip()
        times = [
            s.execution.next_retry_at
            for s in self._items.values()
            if s.execution.status is ExecutionStatus.PENDING and s.execution.next_retry_at is not None
        ]
        return min(times, default=None)

    async def end_wait(self, execution_id: str, *, now: datetime) -> Execution | None:
        await _round_trip()
        stored = self._items.get(execution_id)
        if stored is None or not _apply_to_run(stored, run_claims.end_wait(now=now)):
            return None
        return _copy_execution(stored.execution)

    async def mark_dispatched(self, execution_id: str, *, attempt: int, now: datetime) -> None:
        await _round_trip()
        stored = self._items.get(execution_id)
        if stored is not None:
            _apply_to_run(stored, run_claims.mark_dispatched(attempt=attempt, now=now))

    async def find_unconsumed(self, *, dispatched_before: datetime, limit: int) -> list[Execution]:
        await _round_trip()
        return self._least_recently_dispatched(
            [
                s
                for s in self._items.values()
                if s.execution.status is ExecutionStatus.QUEUED
                and s.dispatched_at is not None
                and s.dispatched_at < dispatched_before
            ],
            limit,
        )

    async def find_expired_leases(self, *, now: datetime, limit: int) -> list[Execution]:
        await _round_trip()
        return self._least_recently_dispatched(
            [
                s
                for s in self._items.values()
                if s.execution.status is ExecutionStatus.RUNNING and s.lease_until is not None and s.lease_until <= now
            ],
            limit,
        )

    async def find_finished_before(
        self, *, before: datetime, after: FinishedPosition | None = None, limit: int
    ) -> FinishedPage:
        await _round_trip()
        finished = sorted(
            (
                FinishedExecution(e.execution_id, e.workflow_id, e.created_at, e.finished_at)
                for e in (s.execution for s in self._items.values())
                if e.status.is_final and e.finished_at is not None and e.finished_at < before
            ),
            key=lambda item: item.position,
        )
        page = [item for item in finished if after is None or item.position > after][:limit]
        return FinishedPage(page, page[-1].position if len(page) == limit else None)

    async def keep_last_boundary(self, workflow_id: str, *, keep_last: int) -> ExecutionPosition | None:
        await _round_trip()
        history = sorted(
            (
                ExecutionPosition(s.execution.created_at, s.execution.execution_id)
                for s in self._items.values()
                if s.execution.workflow_id == workflow_id
            ),
            reverse=True,
        )
        return history[keep_last - 1] if len(history) >= keep_last else None

    async def remove_finished(self, execution_ids: Sequence[str], *, finished_before: datetime) -> int:
        await _round_trip()
        removed = 0
        for execution_id in set(execution_ids):
            stored = self._items.get(execution_id)
            if stored is None:
                continue
            execution = stored.execution
            if (
                execution.status.is_final
                and execution.finished_at is not None
                and execution.finished_at < finished_before
            ):
                del self._items[execution_id]
                removed += 1
        return removed

    async def statistics(self, *, workflow_id: str | None, since: datetime, until: datetime) -> ExecutionStatistics:
        await _round_trip()
        return summarize(
            (stored.execution for stored in self._items.values()), workflow_id=workflow_id, since=since, until=until
        )

    @staticmethod
    def _least_recently_dispatched(stalled: list[_StoredExecution], limit: int) -> list[Execution]:
        stalled.sort(key=lambda s: (s.dispatched_at, s.execution.execution_id))
        return [_copy_execution(s.execution) for s in stalled[:limit]]

    def _get(self, execution_id: str) -> _StoredExecution:
        stored = self._items.get(execution_id)
        if stored is None:
            raise ExecutionNotFound(execution_id)
        return stored


_RECORD_FIELDS = frozenset(
    {
        RunField.STATUS,
        RunField.ATTEMPT,
        RunField.NEXT_RETRY_AT,
        RunField.FINISHED_AT,
        RunField.CANCEL_REQUESTED_AT,
        RunField.WAITING,
    }
)


def _run_state(stored: _StoredExecution) -> dict[RunField, object]:
    return {name: getattr(stored.execution if name in _RECORD_FIELDS else stored, name.value) for name in RunField}


def _apply_to_run(stored: _StoredExecution, change: RunTransition) -> bool:
    state = _run_state(stored)
    if not change.allows(state):
        return False
    for name, value in change.applied_to(state).items():
        setattr(stored.execution if name in _RECORD_FIELDS else stored, name.value, value)
    return True


class InMemoryShardLeases:
    def __init__(self) -> None:
        self._leases: dict[int, ShardLease] = {}
        self._members: dict[str, datetime] = {}

    async def read(self) -> ShardView:
        await _round_trip()
        return ShardView(leases=dict(self._leases), members=dict(self._members))

    async def heartbeat(self, owner: str, *, until: datetime) -> None:
        await _round_trip()
        self._members[owner] = until
        for shard, lease in self._leases.items():
            if lease.owner == owner:
                self._leases[shard] = replace(lease, lease_until=until)

    async def try_take(self, shard: int, *, owner: str, until: datetime, now: datetime) -> bool:
        await _round_trip()
        lease = self._leases.get(shard)
        if lease is not None and lease.lease_until > now:
            return False
        self._leases[shard] = ShardLease(shard, owner, until)
        return True

    async def release(self, shard: int, *, owner: str) -> None:
        await _round_trip()
        lease = self._leases.get(shard)
        if lease is not None and lease.owner == owner:
            self._leases[shard] = ShardLease(shard, None, RELEASED)

    async def leave(self, owner: str) -> None:
        await _round_trip()
        for shard, lease in self._leases.items():
            if lease.owner == owner:
                self._leases[shard] = ShardLease(shard, None, RELEASED)
        if owner in self._members:
            self._members[owner] = RELEASED

    async def forget(self, owners: Iterable[str]) -> None:
        await _round_trip()
        for owner in owners:
            self._members.pop(owner, None)
