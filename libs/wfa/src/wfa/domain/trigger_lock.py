"""The trigger lock: one execution at a time per workflow (contract, "Semantics users rely on", Lock).

`trigger.status` goes idle → busy when an execution is created (a manual trigger or a scheduled fire),
busy → pending while the holder waits for a retry, pending → busy when the retry is dispatched, and back to idle
when the holder finishes or is cancelled. Each step is a transition on the workflow's lock fields; a step that
names its holder applies only while that execution holds the lock.

With `concurrency.limit` k above 1 (docs/concurrency.md) the lock has k slots: the first is v1's (`status`,
`executionId`), the k − 1 others a bounded list (`holders`). A take tries the first slot, then one of the others
(the list has fewer than k − 1 items, and the stored limit is still k); a release frees whichever slot the
execution holds. Each try is one conditional write on the workflow, so of any number of concurrent takes at
most k win. Limit 1 is exactly v1: its transitions never look at the list.

With `whenBusy: queue` a trigger that finds every slot taken joins a bounded list of waiting executions
(`waiting`, oldest first) instead, and the head of that list takes a slot as one frees (`starts_waiting`): a take
(any trigger's, a fire's) requires the list empty, so nothing overtakes an execution that waits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum

from wfa.domain.errors import QueueFull, TriggerLocked
from wfa.domain.schedule import NOTHING_MISSED, FirePlan, Missed
from wfa.domain.transition import (
    Appended,
    Condition,
    HasAtLeast,
    HasFewerThan,
    Holds,
    Is,
    IsAtOrBefore,
    IsOneOf,
    StartsWith,
    Transition,
)
from wfa.domain.workflow import (
    MAX_CONCURRENCY,
    RECENT_FIRES,
    FireOutcome,
    FireRecord,
    TriggerStatus,
    WhenBusy,
    Workflow,
)


class LockField(StrEnum):
    ENABLED = "enabled"
    STATUS = "trigger.status"
    HOLDER = "trigger.execution_id"
    LOCKED_AT = "trigger.locked_at"
    NEXT_RUN_AT = "trigger.next_run_at"
    SKIPPED_FIRES = "trigger.skipped_fires"
    CONSECUTIVE_FAILURES = "trigger.consecutive_failures"
    PAUSED_REASON = "paused_reason"
    MISSED_FIRES = "trigger.missed_fires"
    FIRED_FIRES = "trigger.fired_fires"
    RECENT_FIRES = "trigger.recent_fires"
    HOLDERS = "trigger.holders"
    HOLDERS_SINCE = "trigger.holders_since"
    HOLDERS_SEEN = "trigger.holders_seen"
    WAITING = "trigger.waiting"
    WAITING_SINCE = "trigger.waiting_since"
    LIMIT = "concurrency.limit"
    QUEUE_MAX = "concurrency.queue_max"


LockTransition = Transition[LockField]


class SlotOutcome(StrEnum):
    FIRED = "fired"  # the slot was ours and the lock was free: the caller creates the execution
    SKIPPED = "skipped"  # the slot was ours but the workflow was busy or pending: counted, not queued
    LOST = "lost"  # another scheduler claimed this slot first, or the workflow changed meanwhile
    PASSED = "passed"  # the slot was ours and starts nothing now (catchup: missed, or handed to the backlog)
    QUEUED = "queued"  # the slot was ours and every lock slot taken (whenBusy: queue): its execution waits


def _take(execution_id: str, now: datetime) -> dict[LockField, object]:
    return {LockField.STATUS: TriggerStatus.BUSY, LockField.HOLDER: execution_id, LockField.LOCKED_AT: now}


_NOBODY_WAITING: dict[LockField, Condition] = {LockField.WAITING: HasFewerThan(1)}
"""What every take requires beside a free slot: no execution waits for one (those go first)."""


def acquire(execution_id: str, now: datetime) -> LockTransition:
    """idle → busy for `execution_id`; a paused workflow takes no trigger."""
    return Transition(
        requires={LockField.ENABLED: Is(True), LockField.STATUS: Is(TriggerStatus.IDLE), **_NOBODY_WAITING},
        sets=_take(execution_id, now),
    )


def _other_slots(
    limit: int,
    *,
    also_sets: Mapping[LockField, object],
    appends: Mapping[LockField, Appended],
    execution_id: str,
    now: datetime,
) -> list[LockTransition]:
    """The takes of a slot beside the first (none for limit 1), while the stored limit is `limit` and fewer than
    limit − 1 hold the others, tried in order. The take that starts the list dates it (`holdersSince`, which the
    repair sweep reads); a later take leaves the date alone, so that it is never later than the oldest holder's take
    (a take that finds the list emptied meanwhile leaves an older date: the sweep looks sooner, harmlessly)."""
    if limit <= 1:
        return []
    pushed = {**appends, LockField.HOLDERS: Appended((execution_id,), keep=MAX_CONCURRENCY)}
    open_ = {LockField.ENABLED: Is(True), LockField.LIMIT: Is(limit), **_NOBODY_WAITING}
    return [
        Transition(
            requires={**open_, LockField.HOLDERS: HasFewerThan(1)},
            sets={**also_sets, LockField.HOLDERS_SINCE: now},
            appends=pushed,
        ),
        # Only while the list is dated: a list emptied since the take above failed would otherwise get a holder
        # the sweep never looks at (that rare race costs a 409, as a lost v1 race does).
        Transition(
            requires={**open_, LockField.HOLDERS: HasFewerThan(limit - 1), LockField.HOLDERS_SINCE: _DATED},
            sets=also_sets,
            appends=pushed,
        ),
    ]


_DATED = IsAtOrBefore(datetime(9999, 1, 1, tzinfo=UTC))
"""A moment, not null."""


def holders_looked_at(since: datetime, now: datetime, *, seen: Sequence[str]) -> LockTransition:
    """The repair sweep looked at every holder of the other slots (`seen`) when the list was dated `since`: it
    dates the list `now`, so that it looks again after the repair time, not at every sweep, and keeps `seen`: a
    holder still missing at the next look took its slot at least the repair time before."""
    return Transition(
        requires={LockField.HOLDERS_SINCE: Is(since), LockField.HOLDERS: HasAtLeast(1)},
        sets={LockField.HOLDERS_SINCE: now, LockField.HOLDERS_SEEN: list(seen)},
    )


def holders_gone(since: datetime) -> LockTransition:
    """The list dated `since` is empty: undated (the next first holder dates it again)."""
    return Transition(
        requires={LockField.HOLDERS_SINCE: Is(since), LockField.HOLDERS: HasFewerThan(1)},
        sets={LockField.HOLDERS_SINCE: None, LockField.HOLDERS_SEEN: []},
    )


def acquires(execution_id: str, now: datetime, *, limit: int = 1) -> list[LockTransition]:
    """The takes of a slot for `execution_id`, tried in order until one applies (none: every slot is taken, or
    the workflow is paused): the first slot (v1's idle → busy), then the others."""
    return [
        acquire(execution_id, now),
        *_other_slots(limit, also_sets={}, appends={}, execution_id=execution_id, now=now),
    ]


def holds_a_slot(state: Mapping[LockField, object], execution_id: str) -> bool:
    """Whether `execution_id` holds one of the lock's slots in `state` (a repeated take that had landed)."""
    holders = state.get(LockField.HOLDERS)
    return state.get(LockField.HOLDER) == execution_id or (isinstance(holders, list) and execution_id in holders)


def release_other_slot(execution_id: str) -> LockTransition:
    """A slot beside the first freed by (or for) the execution holding it."""
    return Transition(
        requires={LockField.HOLDERS: Holds(execution_id)}, sets={}, removes={LockField.HOLDERS: execution_id}
    )


RELEASED: dict[LockField, object] = {
    LockField.STATUS: TriggerStatus.IDLE,
    LockField.HOLDER: None,
    LockField.LOCKED_AT: None,
}
"""What every release sets (wfa.domain.failure_streak adds the count of failures to it)."""


def release(execution_id: str) -> LockTransition:
    """busy or pending → idle, by (or for) the execution holding the lock."""
    return Transition(requires={LockField.HOLDER: Is(execution_id)}, sets=RELEASED)


def to_pending(execution_id: str) -> LockTransition:
    """busy → pending while the holder waits for its next attempt."""
    return Transition(
        requires={LockField.HOLDER: Is(execution_id), LockField.STATUS: Is(TriggerStatus.BUSY)},
        sets={LockField.STATUS: TriggerStatus.PENDING},
    )


def to_busy(execution_id: str) -> LockTransition:
    """pending → busy when the holder's retry is dispatched."""
    return Transition(
        requires={LockField.HOLDER: Is(execution_id), LockField.STATUS: Is(TriggerStatus.PENDING)},
        sets={LockField.STATUS: TriggerStatus.BUSY},
    )


def joins_queue(
    execution_id: str,
    now: datetime,
    *,
    queue_max: int,
    requires: Mapping[LockField, Condition] | None = None,
    sets: Mapping[LockField, object] | None = None,
    increments: Mapping[LockField, int] | None = None,
    appends: Mapping[LockField, Appended] | None = None,
) -> list[LockTransition]:
    """`execution_id` waits for a slot (`whenBusy: queue`), while fewer than `queue_max` wait and the stored
    queueMax is still the one read; tried in order. The first to join an empty queue dates it (`waitingSince`,
    which the repair sweep reads); a later one only while it is dated, so that a queue is never left undated with
    an execution in it (a race with the sweep's undating costs a second try). `requires`, `sets`, `increments`
    and `appends`: what a scheduled fire adds (its slot claimed, counted and logged in the same write)."""
    open_ = {**(requires or {}), LockField.ENABLED: Is(True), LockField.QUEUE_MAX: Is(queue_max)}
    joined = {**(appends or {}), LockField.WAITING: Appended((execution_id,), keep=queue_max)}
    return [
        Transition(
            requires={**open_, LockField.WAITING: HasFewerThan(1)},
            sets={**(sets or {}), LockField.WAITING_SINCE: now},
            increments=increments or {},
            appends=joined,
        ),
        Transition(
            requires={**open_, LockField.WAITING: HasFewerThan(queue_max), LockField.WAITING_SINCE: _DATED},
            sets=sets or {},
            increments=increments or {},
            appends=joined,
        ),
    ]


def starts_waiting(head: str, now: datetime, *, limit: int) -> list[LockTransition]:
    """The execution first in the queue (`head`) takes a free slot and leaves the queue, in one write: the first
    slot, then (limit above 1) one of the others, tried in order. Dates the queue anew (its head moved on)."""
    at_head: dict[LockField, Condition] = {LockField.ENABLED: Is(True), LockField.WAITING: StartsWith(head)}
    first = Transition(
        requires={**at_head, LockField.STATUS: Is(TriggerStatus.IDLE)},
        sets={**_take(head, now), LockField.WAITING_SINCE: now},
        removes={LockField.WAITING: head},
    )
    others = [
        Transition(
            requires={**change.requires, **at_head},
            sets={**change.sets, LockField.WAITING_SINCE: now},
            appends=change.appends,
            removes={LockField.WAITING: head},
        )
        for change in _other_slots(limit, also_sets={}, appends={}, execution_id=head, now=now)
    ]
    return [first, *others]


def leaves_queue(execution_id: str) -> LockTransition:
    """A waiting execution leaves the queue without a slot (it was cancelled)."""
    return Transition(
        requires={LockField.WAITING: Holds(execution_id)}, sets={}, removes={LockField.WAITING: execution_id}
    )


def why_not_queued(workflow: Workflow) -> TriggerLocked | QueueFull:
    """Why a workflow as it stands takes no waiting execution: paused, full, or it no longer queues (or it kept
    changing under the tries: busy, as a lost race of the lock is)."""
    trigger = workflow.trigger
    if not workflow.enabled:
        return TriggerLocked(
            workflow.workflow_id,
            reason="paused",
            trigger_status=trigger.status.value,
            execution_id=trigger.execution_id,
        )
    if workflow.concurrency.when_busy is WhenBusy.QUEUE and len(trigger.waiting) >= workflow.concurrency.queue_max:
        return QueueFull(
            workflow.workflow_id,
            queue_max=workflow.concurrency.queue_max,
            trigger_status=trigger.status.value,
            execution_id=trigger.execution_id,
        )
    busy = TriggerStatus.BUSY if trigger.status is TriggerStatus.IDLE else trigger.status
    return TriggerLocked(
        workflow.workflow_id,
        reason=busy.value,
        trigger_status=trigger.status.value,
        execution_id=trigger.execution_id,
    )


def waiting_looked_at(since: datetime, now: datetime) -> LockTransition:
    """The repair sweep looked at a queue dated `since` that still holds executions: dated `now`, so that it looks
    again after the repair time, not at every sweep."""
    return Transition(
        requires={LockField.WAITING_SINCE: Is(since), LockField.WAITING: HasAtLeast(1)},
        sets={LockField.WAITING_SINCE: now},
    )


def waiting_gone(since: datetime) -> LockTransition:
    """The queue dated `since` is empty: undated (the next execution to wait dates it again)."""
    return Transition(
        requires={LockField.WAITING_SINCE: Is(since), LockField.WAITING: HasFewerThan(1)},
        sets={LockField.WAITING_SINCE: None},
    )


def _outcomes(missed: Missed, *last: FireRecord) -> dict[LockField, Appended]:
    """The slots' outcomes, logged in the write that decides them (GET /workflows/{id}/schedule)."""
    records = [FireRecord(slot=slot, outcome=FireOutcome.MISSED) for slot in missed.newest]
    return {LockField.RECENT_FIRES: Appended((*records, *last), keep=RECENT_FIRES)}


def _missed(missed: Missed) -> dict[LockField, int]:
    return {LockField.MISSED_FIRES: missed.count} if missed.count else {}


def _scheduled(slot: datetime) -> dict[LockField, Condition]:
    return {LockField.ENABLED: Is(True), LockField.NEXT_RUN_AT: Is(slot)}


def fire_slot(
    slot: datetime,
    *,
    next_run_at: datetime | None,
    execution_id: str,
    now: datetime,
    fires: datetime | None = None,
    missed: Missed = NOTHING_MISSED,
) -> LockTransition:
    """The scheduler's fire of `slot` (the stored nextRunAt, so a slot is claimed once however many schedulers
    look): the schedule moves on and the lock is taken for `execution_id`. `fires`: the slot the execution is for
    (default `slot`; `catchup: none` fires the latest due one); `missed`: the slots given up meanwhile."""
    return fire_slots(
        slot, next_run_at=next_run_at, execution_id=execution_id, now=now, fires=fires, missed=missed, limit=1
    )[0]


def fire_slots(
    slot: datetime,
    *,
    next_run_at: datetime | None,
    execution_id: str,
    now: datetime,
    fires: datetime | None = None,
    missed: Missed = NOTHING_MISSED,
    limit: int,
) -> list[LockTransition]:
    """`fire_slot` in the lock's first slot, then (limit above 1) in one of the others, tried in order."""
    moved: dict[LockField, object] = {LockField.NEXT_RUN_AT: next_run_at}
    counted = {LockField.FIRED_FIRES: 1, **_missed(missed)}
    logged = _outcomes(missed, FireRecord(slot=fires or slot, outcome=FireOutcome.FIRED, execution_id=execution_id))
    first = Transition(
        requires={**_scheduled(slot), LockField.STATUS: Is(TriggerStatus.IDLE), **_NOBODY_WAITING},
        sets={**moved, **_take(execution_id, now)},
        increments=counted,
        appends=logged,
    )
    others = [
        Transition(
            requires={**change.requires, **_scheduled(slot)},
            sets=change.sets,
            increments=counted,
            appends=change.appends,
        )
        for change in _other_slots(limit, also_sets=moved, appends=logged, execution_id=execution_id, now=now)
    ]
    return [first, *others]


def skip_slot(
    slot: datetime,
    *,
    next_run_at: datetime | None,
    fires: datetime | None = None,
    missed: Missed = NOTHING_MISSED,
    limit: int = 1,
) -> LockTransition:
    """The fire of `slot` while the workflow is busy or pending (every slot of its limit taken): the schedule moves
    on, the fire is counted as skipped (not queued)."""
    full: dict[LockField, Condition] = (
        {LockField.LIMIT: Is(limit), LockField.HOLDERS: HasAtLeast(limit - 1)} if limit > 1 else {}
    )
    return Transition(
        requires={
            **_scheduled(slot),
            LockField.STATUS: IsOneOf((TriggerStatus.BUSY, TriggerStatus.PENDING)),
            **full,
        },
        sets={LockField.NEXT_RUN_AT: next_run_at},
        increments={LockField.SKIPPED_FIRES: 1, **_missed(missed)},
        appends=_outcomes(missed, FireRecord(slot=fires or slot, outcome=FireOutcome.SKIPPED)),
    )


def pass_slot(slot: datetime, *, next_run_at: datetime | None, missed: Missed) -> LockTransition:
    """The fire of `slot` that starts nothing now, whatever the lock: its slots were missed (`catchup: none`), or
    went to the backlog that fires them one after another (`catchup: all`)."""
    return Transition(
        requires=_scheduled(slot),
        sets={LockField.NEXT_RUN_AT: next_run_at},
        increments=_missed(missed),
        appends=_outcomes(missed),
    )


def fire_backlog_slot(slot: datetime, *, execution_id: str, now: datetime) -> LockTransition:
    """idle → busy for the execution of a backlog slot (a catch-up or a backfill), logged as the slot's fire."""
    return fire_backlog_slots(slot, execution_id=execution_id, now=now, limit=1)[0]


def fire_backlog_slots(slot: datetime, *, execution_id: str, now: datetime, limit: int) -> list[LockTransition]:
    """`fire_backlog_slot` in the lock's first slot, then (limit above 1) in one of the others: a backlog obeys
    the concurrency limit as any trigger does."""
    logged = _outcomes(NOTHING_MISSED, FireRecord(slot=slot, outcome=FireOutcome.FIRED, execution_id=execution_id))
    counted = {LockField.FIRED_FIRES: 1}
    first = Transition(
        requires={LockField.ENABLED: Is(True), LockField.STATUS: Is(TriggerStatus.IDLE), **_NOBODY_WAITING},
        sets=_take(execution_id, now),
        increments=counted,
        appends=logged,
    )
    others = [
        Transition(requires=change.requires, sets=change.sets, increments=counted, appends=change.appends)
        for change in _other_slots(limit, also_sets={}, appends=logged, execution_id=execution_id, now=now)
    ]
    return [first, *others]


def claim_transitions(
    slot: datetime,
    next_run_at: datetime | None,
    *,
    execution_id: str,
    now: datetime,
    plan: FirePlan | None,
    limit: int = 1,
    queue_max: int | None = None,
) -> list[tuple[SlotOutcome, LockTransition]]:
    """The writes that may claim `slot`, tried in order until one applies (none: another scheduler had it, or the
    lock or the limit changed meanwhile and the next pass tries again). `limit`: the concurrency limit as read;
    `queue_max`: the queue's bound as read when the workflow queues (`whenBusy: queue`), else None."""
    plan = plan or FirePlan(fires=slot, next_run_at=next_run_at)
    if plan.fires is None:
        return [(SlotOutcome.PASSED, pass_slot(slot, next_run_at=plan.next_run_at, missed=plan.missed))]
    fires = fire_slots(
        slot,
        next_run_at=plan.next_run_at,
        execution_id=execution_id,
        now=now,
        fires=plan.fires,
        missed=plan.missed,
        limit=limit,
    )
    fired = [(SlotOutcome.FIRED, fire) for fire in fires]
    if queue_max is None:
        skip = skip_slot(slot, next_run_at=plan.next_run_at, fires=plan.fires, missed=plan.missed, limit=limit)
        return [*fired, (SlotOutcome.SKIPPED, skip)]
    record = FireRecord(slot=plan.fires, outcome=FireOutcome.FIRED, execution_id=execution_id)
    waits = joins_queue(
        execution_id,
        now,
        queue_max=queue_max,
        requires=_scheduled(slot),
        sets={LockField.NEXT_RUN_AT: plan.next_run_at},
        increments={LockField.FIRED_FIRES: 1, **_missed(plan.missed)},
        appends=_outcomes(plan.missed, record),
    )
    # A fire is skipped only when the queue is full, whatever the slots: a queue that is not goes first.
    full = Transition(
        requires={**_scheduled(slot), LockField.WAITING: HasAtLeast(queue_max)},
        sets={LockField.NEXT_RUN_AT: plan.next_run_at},
        increments={LockField.SKIPPED_FIRES: 1, **_missed(plan.missed)},
        appends=_outcomes(plan.missed, FireRecord(slot=plan.fires, outcome=FireOutcome.SKIPPED)),
    )
    return [*fired, *((SlotOutcome.QUEUED, wait) for wait in waits), (SlotOutcome.SKIPPED, full)]
