"""The lock's slots under `concurrency.limit` (wfa.domain.trigger_lock): the transitions' preconditions and effects,
applied to plain state as the in-memory repository does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from wfa.domain import failure_streak, trigger_lock
from wfa.domain.execution import ExecutionStatus, oldest_unfinished
from wfa.domain.transition import HasFewerThan
from wfa.domain.trigger_lock import LockField, SlotOutcome
from wfa.domain.workflow import Concurrency, TriggerStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)
State = dict[LockField, object]


def state(*, limit: int, holder: str | None = None, holders: list[str] | None = None) -> State:
    return {
        LockField.ENABLED: True,
        LockField.LIMIT: limit,
        LockField.STATUS: TriggerStatus.BUSY if holder else TriggerStatus.IDLE,
        LockField.HOLDER: holder,
        LockField.HOLDERS: holders or [],
        LockField.HOLDERS_SINCE: T0 if holders else None,
        LockField.NEXT_RUN_AT: T0,
    }


def take(current: State, execution_id: str, *, limit: int, now: datetime = T0) -> State | None:
    for change in trigger_lock.acquires(execution_id, now, limit=limit):
        if change.allows(current):
            return change.applied_to(current)
    return None


def test_limit_one_has_only_v1s_take() -> None:
    assert trigger_lock.acquires("e", T0, limit=1) == [trigger_lock.acquire("e", T0)]


def test_takes_fill_the_first_slot_then_the_others_up_to_the_limit_and_no_further() -> None:
    current: State | None = state(limit=3)
    for n in range(3):
        assert current is not None
        current = take(current, f"e{n}", limit=3, now=T0 + timedelta(seconds=n))
    assert current is not None
    assert (current[LockField.HOLDER], current[LockField.HOLDERS]) == ("e0", ["e1", "e2"])
    assert current[LockField.HOLDERS_SINCE] == T0 + timedelta(seconds=1)  # dated by the list's first holder
    assert take(current, "e3", limit=3) is None


def test_a_take_of_another_slot_needs_the_stored_limit_to_be_the_one_read() -> None:
    lowered = state(limit=1, holder="e0")

    assert take(lowered, "e1", limit=2) is None


def test_releasing_another_slot_removes_only_its_holder() -> None:
    current = state(limit=3, holder="e0", holders=["e1", "e2"])
    release = trigger_lock.release_other_slot("e1")

    after = release.applied_to(current)

    assert release.allows(current) and not release.allows(after)
    assert (after[LockField.HOLDER], after[LockField.HOLDERS]) == ("e0", ["e2"])


def test_the_end_of_a_holder_of_another_slot_counts_a_failure_as_the_first_slot_does() -> None:
    current = {**state(limit=2, holder="e0", holders=["e1"]), LockField.CONSECUTIVE_FAILURES: 0}
    releases = failure_streak.releases("e1", ExecutionStatus.FAILED, pause_after_failures=None)

    applied = next(r.change for r in releases if r.change.allows(current)).applied_to(current)

    assert (applied[LockField.HOLDER], applied[LockField.HOLDERS], applied[LockField.CONSECUTIVE_FAILURES]) == (
        "e0",
        [],
        1,
    )


def test_a_scheduled_fire_skips_only_when_every_slot_is_taken() -> None:
    def outcome(current: State) -> SlotOutcome | None:
        changes = trigger_lock.claim_transitions(
            T0, T0 + timedelta(seconds=10), execution_id="s", now=T0, plan=None, limit=3
        )
        return next((o for o, change in changes if change.allows(current)), None)

    assert outcome(state(limit=3, holder="e0", holders=["e1"])) is SlotOutcome.FIRED
    assert outcome(state(limit=3, holder="e0", holders=["e1", "e2"])) is SlotOutcome.SKIPPED


def test_a_list_shorter_than_nothing_is_not_a_condition() -> None:
    with pytest.raises(ValueError):
        HasFewerThan(0)


@pytest.mark.parametrize("limit", [0, 101])
def test_limit_is_between_1_and_100(limit: int) -> None:
    with pytest.raises(ValidationError):
        Concurrency.model_validate({"limit": limit})


def test_the_oldest_unfinished_execution_is_the_first_accepted_that_is_not_final() -> None:
    class Stub:
        def __init__(self, execution_id: str, minutes: int, status: ExecutionStatus) -> None:
            self.execution_id = execution_id
            self.created_at = T0 + timedelta(minutes=minutes)
            self.status = status

    stubs = [
        Stub("c", 2, ExecutionStatus.RUNNING),
        Stub("a", 0, ExecutionStatus.CANCELLED),
        Stub("b", 1, ExecutionStatus.PENDING),
        Stub("d", 1, ExecutionStatus.QUEUED),
    ]

    assert oldest_unfinished(stubs).execution_id == "b"  # type: ignore[arg-type,union-attr]
    assert oldest_unfinished([]) is None
