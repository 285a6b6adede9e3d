"""The trigger lock: one execution at a time per workflow (contract, "Semantics users rely on", Lock).

`trigger.status` goes idle → busy when an execution is created (a manual trigger or a scheduled fire),
busy → pending while the holder waits for a retry, pending → busy when the retry is dispatched, and back to idle
when the holder finishes or is cancelled. Each step is a transition on the workflow's lock fields; a step that
names its holder applies only while that execution holds the lock.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from wfa.domain.schedule import NOTHING_MISSED, FirePlan, Missed
from wfa.domain.transition import Appended, Condition, Is, IsOneOf, Transition
from wfa.domain.workflow import RECENT_FIRES, FireOutcome, FireRecord, TriggerStatus


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


LockTransition = Transition[LockField]


class SlotOutcome(StrEnum):
    FIRED = "fired"  # the slot was ours and the lock was free: the caller creates the execution
    SKIPPED = "skipped"  # the slot was ours but the workflow was busy or pending: counted, not queued
    LOST = "lost"  # another scheduler claimed this slot first, or the workflow changed meanwhile
    PASSED = "passed"  # the slot was ours and starts nothing now (catchup: missed, or handed to the backlog)


def _take(execution_id: str, now: datetime) -> dict[LockField, object]:
    return {LockField.STATUS: TriggerStatus.BUSY, LockField.HOLDER: execution_id, LockField.LOCKED_AT: now}


def acquire(execution_id: str, now: datetime) -> LockTransition:
    """idle → busy for `execution_id`; a paused workflow takes no trigger."""
    return Transition(
        requires={LockField.ENABLED: Is(True), LockField.STATUS: Is(TriggerStatus.IDLE)},
        sets=_take(execution_id, now),
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
    return Transition(
        requires={**_scheduled(slot), LockField.STATUS: Is(TriggerStatus.IDLE)},
        sets={LockField.NEXT_RUN_AT: next_run_at, **_take(execution_id, now)},
        increments={LockField.FIRED_FIRES: 1, **_missed(missed)},
        appends=_outcomes(missed, FireRecord(slot=fires or slot, outcome=FireOutcome.FIRED, execution_id=execution_id)),
    )


def skip_slot(
    slot: datetime, *, next_run_at: datetime | None, fires: datetime | None = None, missed: Missed = NOTHING_MISSED
) -> LockTransition:
    """The fire of `slot` while the workflow is busy or pending: the schedule moves on, the fire is counted as
    skipped (not queued)."""
    return Transition(
        requires={
            **_scheduled(slot),
            LockField.STATUS: IsOneOf((TriggerStatus.BUSY, TriggerStatus.PENDING)),
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
    return Transition(
        requires={LockField.ENABLED: Is(True), LockField.STATUS: Is(TriggerStatus.IDLE)},
        sets=_take(execution_id, now),
        increments={LockField.FIRED_FIRES: 1},
        appends=_outcomes(NOTHING_MISSED, FireRecord(slot=slot, outcome=FireOutcome.FIRED, execution_id=execution_id)),
    )


def claim_transitions(
    slot: datetime, next_run_at: datetime | None, *, execution_id: str, now: datetime, plan: FirePlan | None
) -> list[tuple[SlotOutcome, LockTransition]]:
    """The writes that may claim `slot`, tried in order until one applies (none: another scheduler had it)."""
    plan = plan or FirePlan(fires=slot, next_run_at=next_run_at)
    if plan.fires is None:
        return [(SlotOutcome.PASSED, pass_slot(slot, next_run_at=plan.next_run_at, missed=plan.missed))]
    fire = fire_slot(
        slot, next_run_at=plan.next_run_at, execution_id=execution_id, now=now, fires=plan.fires, missed=plan.missed
    )
    skip = skip_slot(slot, next_run_at=plan.next_run_at, fires=plan.fires, missed=plan.missed)
    return [(SlotOutcome.FIRED, fire), (SlotOutcome.SKIPPED, skip)]
