"""Failures in a row, and the pause they lead to (contract v2, "Schedules and concurrency", pauseAfterFailures).

The count (`trigger.consecutiveFailures`) moves in the very write that releases the lock when an execution ends,
so that it costs no write of its own and inherits the release's guarantee: the release applies only while the
execution holds the lock, so a release sent twice (a retried write, a runner that crashed after it and concluded
the execution again) counts once, and two executions of one workflow never race on the count (one holds the lock
at a time).

- succeeded: the count goes back to 0;
- failed for good: the count goes up by 1, and when it reaches the workflow's `pauseAfterFailures` the same write
  pauses the workflow (`enabled: false`, `pausedReason: failures`; the stored schedule slot is kept, as by a manual
  pause, so that resuming stays on the grid);
- cancelled (by a user, or `unlock --force`): neither counts nor resets. A cancel says nothing of whether the
  workflow works, and a user cancelling runs must not hide a streak of failures.

A resume resets the count to 0: the workflow gets `pauseAfterFailures` new chances.

The threshold is the one frozen in the execution's plan (wfa.domain.execution.ExecutionPlan), as every other
part of the definition an execution runs: the write compares the stored count with it (`IsBelow`), so no read is
needed before it.
"""

from __future__ import annotations

from dataclasses import dataclass

from wfa.domain import trigger_lock
from wfa.domain.execution import ExecutionStatus
from wfa.domain.transition import Holds, Is, IsBelow, Transition
from wfa.domain.trigger_lock import RELEASED, LockField, LockTransition
from wfa.domain.workflow import PausedReason


@dataclass(frozen=True)
class Release:
    """One way of releasing the lock as an execution ends; `pauses`: applying it pauses the workflow."""

    change: LockTransition
    pauses: bool = False


@dataclass(frozen=True)
class Concluded:
    """What the release at the end of an execution did."""

    released: bool
    """False: the execution no longer held the lock (released already, by this very call sent before, a cancel or
    the repair sweep): nothing was changed, nothing counted."""
    paused: bool = False
    """The workflow was paused by this release (the count reached `pauseAfterFailures`)."""
    consecutive_failures: int | None = None
    """The count after a pausing release (None otherwise)."""


def releases(execution_id: str, status: ExecutionStatus, *, pause_after_failures: int | None) -> tuple[Release, ...]:
    """The releases to try, in order, for `execution_id` ending with the final `status`: the first whose
    precondition holds is the one that applies; when none does, the execution did not hold the lock. The likeliest
    comes first, so that an execution's end costs one write in the usual case: the lock's first slot (v1's), then
    the other slots of a concurrency limit above 1 (`holders`), counted the same way."""
    first = _first_slot_releases(execution_id, status, pause_after_failures=pause_after_failures)
    others = tuple(
        Release(
            Transition(
                requires={
                    **{name: c for name, c in release.change.requires.items() if name is not LockField.HOLDER},
                    LockField.HOLDERS: Holds(execution_id),
                },
                sets={name: v for name, v in release.change.sets.items() if name not in RELEASED},
                increments=release.change.increments,
                removes={LockField.HOLDERS: execution_id},
            ),
            pauses=release.pauses,
        )
        for release in first
    )
    # Last, a cancelled execution that was still waiting for a slot (whenBusy: queue): it held none.
    return (*first, *others, Release(trigger_lock.leaves_queue(execution_id)))


def _first_slot_releases(
    execution_id: str, status: ExecutionStatus, *, pause_after_failures: int | None
) -> tuple[Release, ...]:
    if not status.is_final:
        raise ValueError(f"only a final status ends an execution, not {status.value!r}")
    holder = {LockField.HOLDER: Is(execution_id)}
    if status is ExecutionStatus.SUCCEEDED:
        return (Release(Transition(requires=holder, sets={**RELEASED, LockField.CONSECUTIVE_FAILURES: 0})),)
    if status is not ExecutionStatus.FAILED:
        return (Release(Transition(requires=holder, sets=RELEASED)),)
    counted = Release(Transition(requires=holder, sets=RELEASED, increments={LockField.CONSECUTIVE_FAILURES: 1}))
    if pause_after_failures is None:
        return (counted,)
    below = Release(
        Transition(
            requires={**holder, LockField.CONSECUTIVE_FAILURES: IsBelow(pause_after_failures - 1)},
            sets=RELEASED,
            increments={LockField.CONSECUTIVE_FAILURES: 1},
        )
    )
    pausing = Release(
        Transition(
            # Only an enabled workflow is paused by failures: one paused by hand meanwhile keeps its reason.
            requires={**holder, LockField.ENABLED: Is(True)},
            sets={**RELEASED, LockField.ENABLED: False, LockField.PAUSED_REASON: PausedReason.FAILURES},
            increments={LockField.CONSECUTIVE_FAILURES: 1},
        ),
        pauses=True,
    )
    return (below, pausing, counted)
