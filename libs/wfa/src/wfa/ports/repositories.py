"""The repository ports: one per aggregate. Atomic operations are methods named for what they guarantee.

Two implementations pass one contract suite (tests/contract): MongoDB (`wfa.adapters.mongo`) for production
and an in-memory one (`wfa.adapters.memory`) for unit tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from wfa.domain.execution import Execution, ExecutionPlan, ExecutionStatus, Reason
from wfa.domain.failure_streak import Concluded
from wfa.domain.labels import Selector
from wfa.domain.schedule import FirePlan
from wfa.domain.shards import ShardView
from wfa.domain.statistics import ExecutionStatistics
from wfa.domain.trigger_lock import SlotOutcome as SlotOutcome  # re-exported: the claim's answer
from wfa.domain.versions import WorkflowVersion
from wfa.domain.workflow import BacklogSlot, Workflow

Workflows = list[Workflow]
"""A plain list of workflows (the repositories' `list` method shadows the builtin in their scope)."""


@dataclass(frozen=True)
class SlotClaim:
    outcome: SlotOutcome
    workflow: Workflow | None  # the workflow after the claim (None when lost)


@dataclass(frozen=True)
class ClaimedExecution:
    execution: Execution
    plan: ExecutionPlan


@dataclass(frozen=True)
class WorkflowPage:
    items: list[Workflow]
    next_cursor: str | None


@dataclass(frozen=True)
class VersionPage:
    items: list[WorkflowVersion]
    next_cursor: str | None


@dataclass(frozen=True)
class ExecutionPage:
    items: list[Execution]
    next_cursor: str | None


@dataclass(frozen=True)
class ExecutionFilter:
    """Which executions a listing holds: every given criterion must match (None: any). `since` is inclusive and
    `until` exclusive, both bounding createdAt."""

    workflow_id: str | None = None
    status: ExecutionStatus | None = None
    reason: Reason | None = None
    since: datetime | None = None
    until: datetime | None = None

    def matches(self, execution: Execution) -> bool:
        return (
            (self.workflow_id is None or execution.workflow_id == self.workflow_id)
            and (self.status is None or execution.status is self.status)
            and (self.reason is None or execution.reason is self.reason)
            and (self.since is None or execution.created_at >= self.since)
            and (self.until is None or execution.created_at < self.until)
        )


@dataclass(frozen=True, order=True)
class LockPosition:
    """A place in the held locks ordered by (lockedAt, workflowId): the next page starts strictly after it."""

    locked_at: datetime
    workflow_id: str


@dataclass(frozen=True)
class LockPage:
    items: list[Workflow]
    resume_after: LockPosition | None  # None when this page reached the end of the list


@dataclass(frozen=True, order=True)
class ExecutionPosition:
    """A place in a workflow's history ordered by (createdAt, executionId), as its executions are listed."""

    created_at: datetime
    execution_id: str


@dataclass(frozen=True, order=True)
class FinishedPosition:
    """A place in the finished executions ordered by (finishedAt, executionId)."""

    finished_at: datetime
    execution_id: str


@dataclass(frozen=True)
class FinishedExecution:
    """What retention needs to know of a finished execution, without reading its record."""

    execution_id: str
    workflow_id: str
    created_at: datetime
    finished_at: datetime

    @property
    def position(self) -> FinishedPosition:
        return FinishedPosition(self.finished_at, self.execution_id)

    @property
    def in_history(self) -> ExecutionPosition:
        return ExecutionPosition(self.created_at, self.execution_id)


@dataclass(frozen=True)
class FinishedPage:
    items: list[FinishedExecution]
    resume_after: FinishedPosition | None  # None when this page reached the end of the list


class WorkflowRepository(Protocol):
    async def add(self, workflow: Workflow) -> None:
        """Store a new workflow. Raises WorkflowAlreadyExists; a deleted workflow's id may be reused."""

    async def get(self, workflow_id: str) -> Workflow:
        """Raises WorkflowNotFound, also for a deleted workflow."""

    async def ever_existed(self, workflow_id: str) -> bool:
        """True for a live or a deleted workflow: its executions stay readable."""

    async def find_latest(self, workflow_id: str) -> Workflow | None:
        """The live workflow, or else the last state of the latest deleted one under this id (its history stays
        readable); None when the id never existed."""

    async def list(self, *, limit: int, cursor: str | None, labels: Sequence[Selector] = ()) -> WorkflowPage:
        """Live workflows in workflowId order, only those carrying every label in `labels`. Raises ValidationFailed
        for a cursor it did not hand out."""

    async def replace_definition(self, workflow: Workflow, *, expected_version: int, reschedule: bool) -> Workflow:
        """Store a new definition (and its version, updatedAt) if the stored version is the expected one; the lock
        fields are left as they are, and so is the stored nextRunAt unless `reschedule` (a new trigger: a new grid,
        the workflow's nextRunAt). Raises WorkflowNotFound or VersionMismatch."""

    async def delete(self, workflow_id: str, *, now: datetime) -> None:
        """Raises WorkflowNotFound. The workflow is never scheduled again."""

    async def set_enabled(
        self, workflow_id: str, *, enabled: bool, next_run_at: datetime | None, now: datetime
    ) -> Workflow:
        """Pause (by hand: `pausedReason: manual`) or resume (`pausedReason` null, the count of failures in a row
        back to 0). Raises WorkflowNotFound."""

    async def try_acquire_trigger_lock(self, workflow_id: str, *, execution_id: str, now: datetime) -> Workflow:
        """idle → busy, held by `execution_id`, in one atomic step: of concurrent callers exactly one wins. With
        `concurrency.limit` k above 1, a slot of k: of concurrent callers at most as many win as slots are free.

        Raises WorkflowNotFound, or TriggerLocked (busy, pending or paused) for the losers."""

    async def release_trigger_lock(self, workflow_id: str, *, execution_id: str) -> bool:
        """busy/pending → idle (or its slot freed), only if `execution_id` holds the lock. False when it did not."""

    async def conclude_trigger_lock(
        self, workflow_id: str, *, execution_id: str, status: ExecutionStatus, pause_after_failures: int | None
    ) -> Concluded:
        """busy/pending → idle as `execution_id` ends with the final `status`, only if it holds the lock, and in the
        same atomic write the count of failures in a row moved, the workflow paused when it reached
        `pause_after_failures` (wfa.domain.failure_streak). A repeated call changes nothing."""

    async def mark_trigger_pending(self, workflow_id: str, *, execution_id: str) -> bool:
        """busy → pending while the holder waits for a retry. False when `execution_id` does not hold it."""

    async def mark_trigger_busy(self, workflow_id: str, *, execution_id: str) -> bool:
        """pending → busy when the holder's retry is dispatched. False when `execution_id` does not hold it."""

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
        """Claim the slot `slot` (the stored nextRunAt) once among any number of schedulers, move nextRunAt on,
        and in the same step take the lock for `execution_id` if it is free (else count a skipped fire), logging
        the outcome. `plan` (default: fire `slot`, nothing missed) says which slot fires, if any (else the claim
        passes: SlotOutcome.PASSED, whatever the lock) and which slots were missed, counted in the same write. `limit`:
        the workflow's concurrency limit as read (a slot of the lock is taken while one is free); `queue_max`: its
        queue's bound as read when it queues (`whenBusy: queue`): with every slot taken, or executions waiting
        already, `execution_id` joins the queue (SlotOutcome.QUEUED) unless it is full (skipped)."""

    async def add_to_backlog(self, workflow_id: str, slots: Sequence[BacklogSlot]) -> None:
        """Add slots to the workflow's backlog (kept in order, oldest first): a backfill, or the catch-up of
        `catchup: all`. Raises WorkflowNotFound."""

    async def due_backlogs(self, *, now: datetime, limit: int) -> Workflows:
        """Enabled, live workflows whose backlog's first slot is at or before `now`, earliest first."""

    async def take_lock_for_backlog_slot(
        self, workflow_id: str, *, slot: datetime, execution_id: str, now: datetime, limit: int = 1
    ) -> bool:
        """idle → busy (or a free slot of `limit`) for `execution_id` while `slot` is the backlog's first slot,
        logging the slot as fired. The slot stays in the backlog until `drop_backlog_slot`: a crash before its
        execution is stored loses nothing."""

    async def drop_backlog_slot(self, workflow_id: str, *, slot: datetime) -> None:
        """Remove `slot` from the head of the backlog (its execution is stored); nothing if it is not the head."""

    async def due_for_schedule(self, *, now: datetime, limit: int) -> Workflows:
        """Enabled, scheduled, live workflows whose nextRunAt is at or before `now`, earliest first."""

    async def earliest_next_run_at(self) -> datetime | None:
        """The earliest nextRunAt among enabled, scheduled, live workflows."""

    async def find_locked_since(self, *, before: datetime, after: LockPosition | None = None, limit: int) -> LockPage:
        """Workflows whose lock was taken before `before` and is still held: candidates for repair. Oldest first,
        starting strictly after `after`: a sweep that reads one page at a time reaches every lock."""

    async def find_holders_since(self, *, before: datetime, limit: int) -> Workflows:
        """Workflows whose other slots (concurrency limit above 1) have been held since before `before` without
        the repair sweep looking at them (`trigger.holdersSince`), oldest first."""

    async def holders_looked_at(self, workflow_id: str, *, since: datetime, now: datetime, seen: Sequence[str]) -> None:
        """The repair sweep looked at the holders of a list dated `since` and saw `seen`: dated `now` with `seen`
        kept (or undated when empty), unless the date changed meanwhile."""

    async def join_queue(self, workflow_id: str, *, execution_id: str, now: datetime) -> Workflow:
        """`execution_id` waits for a slot at the end of the workflow's queue (`whenBusy: queue`), in one atomic
        step: of concurrent callers at most as many join as places are left under `queueMax`. Raises
        WorkflowNotFound, QueueFull, or TriggerLocked when paused or when the workflow no longer queues."""

    async def start_waiting(self, workflow_id: str, *, head: str, now: datetime, limit: int) -> bool:
        """`head`, first in the queue, takes a free slot of `limit` (the limit as read) and leaves the queue, in one
        atomic step. False when no slot is free, `head` is no longer first, or the workflow is paused."""

    async def find_waiting_since(self, *, before: datetime, limit: int) -> Workflows:
        """Workflows whose queue has not moved since before `before` (`trigger.waitingSince`), oldest first."""

    async def waiting_looked_at(self, workflow_id: str, *, since: datetime, now: datetime) -> None:
        """The repair sweep looked at a queue dated `since`: dated `now` (or undated when empty), unless the date
        changed meanwhile."""


class WorkflowVersionRepository(Protocol):
    """Every version of every workflow, kept after the workflow is deleted (contract v2, "Versions").

    A workflow created again under a deleted one's id starts a new history: versions are kept per (workflowId,
    createdAt), and reads name the createdAt of the workflow whose history they want."""

    async def record(self, version: WorkflowVersion) -> None:
        """Store a committed version. Idempotent: recording the same version again (a retry, a repair) leaves one
        record, so it can be called whenever a version might be missing."""

    async def get(self, workflow_id: str, *, created_at: datetime, version: int) -> WorkflowVersion | None: ...

    async def list(
        self, workflow_id: str, *, created_at: datetime, newest: int, limit: int, cursor: str | None
    ) -> VersionPage:
        """Newest first, from version `newest` down (the workflow's current version: versions are recorded without
        gaps, so a page is a range of numbers and its cost does not depend on the history's length). A cursor names
        the history and the place it was handed out for, whatever `created_at` and `newest` say. Raises
        ValidationFailed for a cursor this repository did not hand out."""


class ExecutionRepository(Protocol):
    async def add(self, execution: Execution, plan: ExecutionPlan, *, idempotency_key: str | None) -> None: ...

    async def get(self, execution_id: str) -> Execution:
        """Raises ExecutionNotFound."""

    async def get_plan(self, execution_id: str) -> ExecutionPlan:
        """The plan frozen when the execution was created (a retry runs it again). Raises ExecutionNotFound."""

    async def find_by_idempotency_key(self, workflow_id: str, key: str, *, since: datetime) -> Execution | None:
        """The execution created for this key since `since` (keys are remembered for 24 h)."""

    async def claim_idempotency_key(self, workflow_id: str, key: str, *, execution_id: str, now: datetime) -> str:
        """Which execution `key` names for the workflow, decided once among concurrent callers: `execution_id`
        when this call claimed it (no claim of it since IDEMPOTENCY_WINDOW before `now`), else the claimant before
        it. For starts the lock does not serialise (a queue has room for every request of one key)."""

    async def reclaim_idempotency_key(
        self, workflow_id: str, key: str, *, execution_id: str, claimed_by: str, now: datetime
    ) -> bool:
        """Take the claim of `key` over from `claimed_by`, whose execution never appeared (its process died before
        storing it); False when another took it over first."""

    async def newest_first(self, where: ExecutionFilter, *, limit: int, cursor: str | None) -> ExecutionPage:
        """The executions `where` selects, by (createdAt, executionId) descending, a page at a time: one
        workflow's history or every workflow's. Each filter combination is served by an index (MongoDB: see
        wfa.adapters.mongo.history). Raises ValidationFailed for a cursor this repository did not hand out."""

    async def claim_for_run(
        self, execution_id: str, *, attempt: int, owner: str, lease_until: datetime, now: datetime
    ) -> ClaimedExecution | None:
        """Take the execution for one attempt: queued at this attempt, or running at this attempt under a lease
        that has expired (its runner died). None when it is not ours to run (already running elsewhere,
        finished, cancelled, or at another attempt): the redelivered request is then a no-op."""

    async def save_progress(self, execution: Execution, *, owner: str, lease_until: datetime) -> bool:
        """Store the runner's view of the execution and extend its lease, only while `owner` holds it and it is
        still running. False means the execution was cancelled or taken over: the runner stops."""

    async def renew_lease(self, execution_id: str, *, owner: str, lease_until: datetime) -> bool: ...

    async def request_cancel(self, execution_id: str, *, now: datetime) -> Execution:
        """Mark a queued, pending or running execution for cancelling and take its lease away: no runner may claim
        it from now on, nor save. Raises ExecutionNotFound or ExecutionAlreadyFinished."""

    async def cancel(self, execution_id: str, *, now: datetime) -> Execution:
        """Move a queued, pending or running execution to cancelled. Raises ExecutionNotFound or
        ExecutionAlreadyFinished."""

    async def claim_retry(self, execution_id: str, *, now: datetime) -> Execution | None:
        """pending → queued with attempt + 1, once among any number of schedulers; None when not due or taken."""

    async def due_retries(self, *, now: datetime, limit: int) -> list[Execution]:
        """Pending executions whose nextRetryAt is at or before `now`."""

    async def earliest_retry_at(self) -> datetime | None:
        """The earliest nextRetryAt among pending executions: when the scheduler next has a retry to send."""

    async def end_wait(self, execution_id: str, *, now: datetime) -> Execution | None:
        """A waiting execution that now holds a slot is waiting no more and is dispatched `now` (the caller then
        publishes its request). None when it is missing, no longer waiting (another process ended its wait) or
        marked for cancelling."""

    async def mark_dispatched(self, execution_id: str, *, attempt: int, now: datetime) -> None:
        """Remember when the request for this attempt was last published, for the stall sweep."""

    async def find_unconsumed(self, *, dispatched_before: datetime, limit: int) -> list[Execution]:
        """Queued executions last dispatched before `dispatched_before` (the request was lost or never sent),
        least recently dispatched first."""

    async def find_expired_leases(self, *, now: datetime, limit: int) -> list[Execution]:
        """Running executions whose lease expired at or before `now` (their runner died), least recently
        dispatched first: one whose request was just published again goes to the back of the list."""

    async def find_finished_before(
        self, *, before: datetime, after: FinishedPosition | None = None, limit: int
    ) -> FinishedPage:
        """Executions that reached a final status (succeeded, failed, cancelled) before `before`, by (finishedAt,
        executionId), starting strictly after `after`: retention's candidates. Never a queued, running or pending
        one."""

    async def keep_last_boundary(self, workflow_id: str, *, keep_last: int) -> ExecutionPosition | None:
        """The place of the workflow's `keep_last`-th newest execution (any status; keep_last >= 1): it and every
        newer one are kept. None when the workflow has fewer than `keep_last` executions."""

    async def remove_finished(self, execution_ids: Sequence[str], *, finished_before: datetime) -> int:
        """Delete those of these executions that are final and finished before `finished_before`; how many went.
        Any other (unknown, already removed, not final, finished later) is left alone, so that running it twice,
        or in several processes at once, removes each execution once."""

    async def statistics(self, *, workflow_id: str | None, since: datetime, until: datetime) -> ExecutionStatistics:
        """Statistics of the executions created in [since, until], of one workflow or of all (definitions in
        wfa.domain.statistics). Computed where the executions are, never by loading them all."""


class ShardLeaseRepository(Protocol):
    """The scheduler processes' leases on the shards of the schedule (wfa.domain.shards), and their heartbeats."""

    async def read(self) -> ShardView:
        """Every lease and every process's heartbeat (a few dozen small records: one read)."""

    async def heartbeat(self, owner: str, *, until: datetime) -> None:
        """Say that `owner` lives until `until`, and extend every lease it still holds to then."""

    async def try_take(self, shard: int, *, owner: str, until: datetime, now: datetime) -> bool:
        """Lease `shard` to `owner` until `until` if nobody holds it at `now` (never leased, released, or expired);
        of concurrent takers one wins. False when another holds it."""

    async def release(self, shard: int, *, owner: str) -> None:
        """Hand `shard` back at once, if `owner` holds it."""

    async def leave(self, owner: str) -> None:
        """Hand back every shard `owner` holds and mark it no longer alive: at a clean shutdown."""

    async def forget(self, owners: Iterable[str]) -> None:
        """Remove the heartbeats of processes long gone."""
