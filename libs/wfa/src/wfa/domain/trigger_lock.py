"""The trigger lock: one execution at a time per workflow (contract, "Semantics users rely on", Lock).

`trigger.status` goes idle → busy when an execution is created (a manual trigger or a scheduled fire),
busy → pending while the holder waits for a retry, pending → busy when the retry is dispatched, and back to idle
when the holder finishes or is cancelled. Each step is a transition on the workflow's lock fields; a step that
names its holder applies only while that execution holds the lock.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from wfa.domain.transition import Is, IsOneOf, Transition
from wfa.domain.workflow import TriggerStatus


class LockField(StrEnum):
    ENABLED = "enabled"
    STATUS = "trigger.status"
    HOLDER = "trigger.execution_id"
    LOCKED_AT = "trigger.locked_at"
    NEXT_RUN_AT = "trigger.next_run_at"
    SKIPPED_FIRES = "trigger.skipped_fires"
    CONSECUTIVE_FAILURES = "trigger.consecutive_failures"
    PAUSED_REASON = "paused_reason"


LockTransition = Transition[LockField]


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


def fire_slot(slot: datetime, *, next_run_at: datetime | None, execution_id: str, now: datetime) -> LockTransition:
    """The scheduler's fire of `slot` (the stored nextRunAt, so a slot is claimed once however many schedulers
    look): the schedule moves on and the lock is taken for `execution_id`."""
    return Transition(
        requires={
            LockField.ENABLED: Is(True),
            LockField.NEXT_RUN_AT: Is(slot),
            LockField.STATUS: Is(TriggerStatus.IDLE),
        },
        sets={LockField.NEXT_RUN_AT: next_run_at, **_take(execution_id, now)},
    )


def skip_slot(slot: datetime, *, next_run_at: datetime | None) -> LockTransition:
    """The fire of `slot` while the workflow is busy or pending: the schedule moves on, the fire is counted as
    skipped (not queued)."""
    return Transition(
        requires={
            LockField.ENABLED: Is(True),
            LockField.NEXT_RUN_AT: Is(slot),
            LockField.STATUS: IsOneOf((TriggerStatus.BUSY, TriggerStatus.PENDING)),
        },
        sets={LockField.NEXT_RUN_AT: next_run_at},
        increments={LockField.SKIPPED_FIRES: 1},
    )
