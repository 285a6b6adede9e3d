"""Failures in a row (wfa.domain.failure_streak): what the release at the end of an execution counts, and when it
pauses the workflow. Applied here to a plain state, as the in-memory repository applies them."""

from __future__ import annotations

import pytest

from wfa.domain.execution import ExecutionStatus
from wfa.domain.failure_streak import releases
from wfa.domain.trigger_lock import LockField
from wfa.domain.workflow import PausedReason, TriggerStatus

State = dict[LockField, object]


def held_by(execution_id: str, *, failures: int | None = 0, enabled: bool = True) -> State:
    return {
        LockField.ENABLED: enabled,
        LockField.STATUS: TriggerStatus.BUSY,
        LockField.HOLDER: execution_id,
        LockField.CONSECUTIVE_FAILURES: failures,
        LockField.PAUSED_REASON: None if enabled else PausedReason.MANUAL,
    }


def end(state: State, execution_id: str, status: ExecutionStatus, pause_after: int | None) -> tuple[State, bool]:
    """The state after the first applicable release, and whether it paused; the state unchanged when none applies."""
    for release in releases(execution_id, status, pause_after_failures=pause_after):
        if release.change.allows(state):
            return release.change.applied_to(state), release.pauses
    return state, False


def test_a_failure_counts_one_and_releases_the_lock() -> None:
    after, paused = end(held_by("e1", failures=1), "e1", ExecutionStatus.FAILED, pause_after=3)

    assert (after[LockField.CONSECUTIVE_FAILURES], after[LockField.STATUS], after[LockField.HOLDER]) == (
        2,
        TriggerStatus.IDLE,
        None,
    )
    assert not paused and after[LockField.ENABLED] is True


def test_a_success_resets_the_count() -> None:
    after, _ = end(held_by("e1", failures=4), "e1", ExecutionStatus.SUCCEEDED, pause_after=5)

    assert after[LockField.CONSECUTIVE_FAILURES] == 0


def test_a_cancel_neither_counts_nor_resets() -> None:
    after, _ = end(held_by("e1", failures=2), "e1", ExecutionStatus.CANCELLED, pause_after=5)

    assert (after[LockField.CONSECUTIVE_FAILURES], after[LockField.STATUS]) == (2, TriggerStatus.IDLE)


def test_the_failure_that_reaches_the_threshold_pauses_the_workflow() -> None:
    after, paused = end(held_by("e1", failures=2), "e1", ExecutionStatus.FAILED, pause_after=3)

    assert paused
    assert (after[LockField.ENABLED], after[LockField.PAUSED_REASON], after[LockField.CONSECUTIVE_FAILURES]) == (
        False,
        PausedReason.FAILURES,
        3,
    )
    assert after[LockField.STATUS] is TriggerStatus.IDLE


def test_a_threshold_of_one_pauses_at_the_first_failure_even_with_no_count_stored() -> None:
    after, paused = end(held_by("e1", failures=None), "e1", ExecutionStatus.FAILED, pause_after=1)

    assert paused and after[LockField.CONSECUTIVE_FAILURES] == 1


def test_a_count_never_stored_counts_as_zero() -> None:
    after, paused = end(held_by("e1", failures=None), "e1", ExecutionStatus.FAILED, pause_after=2)

    assert not paused and after[LockField.CONSECUTIVE_FAILURES] == 1


def test_without_a_threshold_failures_are_counted_and_never_pause() -> None:
    after, paused = end(held_by("e1", failures=99), "e1", ExecutionStatus.FAILED, pause_after=None)

    assert not paused and after[LockField.CONSECUTIVE_FAILURES] == 100 and after[LockField.ENABLED] is True


def test_a_workflow_paused_by_hand_meanwhile_keeps_its_reason_and_still_counts() -> None:
    after, paused = end(held_by("e1", failures=2, enabled=False), "e1", ExecutionStatus.FAILED, pause_after=3)

    assert not paused
    assert (after[LockField.PAUSED_REASON], after[LockField.CONSECUTIVE_FAILURES]) == (PausedReason.MANUAL, 3)


@pytest.mark.parametrize("status", [ExecutionStatus.FAILED, ExecutionStatus.SUCCEEDED, ExecutionStatus.CANCELLED])
def test_a_repeated_release_changes_nothing(status: ExecutionStatus) -> None:
    once, _ = end(held_by("e1", failures=1), "e1", status, pause_after=2)

    twice, paused = end(once, "e1", status, pause_after=2)

    assert twice == once and not paused


def test_the_release_of_an_execution_that_does_not_hold_the_lock_changes_nothing() -> None:
    state = held_by("e2", failures=1)

    after, _ = end(state, "e1", ExecutionStatus.FAILED, pause_after=2)

    assert after == state


def test_only_a_final_status_ends_an_execution() -> None:
    with pytest.raises(ValueError, match="final"):
        releases("e1", ExecutionStatus.PENDING, pause_after_failures=None)
