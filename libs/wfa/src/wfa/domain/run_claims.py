"""Who may write an execution, and when: the runner's claim and lease, the retry's re-queue, cancelling.

A runner claims an execution for one attempt under a lease with a token of its own (one per claim, never per
process), and every later write of that runner names the token: once another claim took the execution over, or
a cancel dropped the lease, the old runner's writes no longer apply and it stops. What the runner records in
between (actions, final status) is the domain's `Execution`; these transitions guard it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from wfa.domain.execution import ExecutionStatus
from wfa.domain.transition import Is, IsAtOrBefore, IsNotAfter, IsOneOf, Transition


class RunField(StrEnum):
    STATUS = "status"
    ATTEMPT = "attempt"
    NEXT_RETRY_AT = "next_retry_at"
    FINISHED_AT = "finished_at"
    LEASE_OWNER = "lease_owner"  # the token of the last claim: a runner's (holding the lease), a re-queue's, a cancel's
    LEASE_UNTIL = "lease_until"
    DISPATCHED_AT = "dispatched_at"  # when the request for the current attempt was last published
    CANCEL_REQUESTED_AT = "cancel_requested_at"
    WAITING = "waiting"  # queued without a slot yet (whenBusy: queue): its request is not sent


RunTransition = Transition[RunField]


def new_token() -> str:
    """A claim's token: unique to one claim, so that the state a write leaves tells whose write it was."""
    return uuid.uuid4().hex


NOT_FINAL = tuple(status for status in ExecutionStatus if not status.is_final)


def claim_for_run(*, attempt: int, token: str, lease_until: datetime, now: datetime) -> RunTransition:
    """Queued at this attempt, or running at it under a lease that expired (its runner died) → running under
    a lease held by `token`. A queued execution never has a lease (`requeue_for_retry` drops the last one), so
    one condition on the lease covers both."""
    return Transition(
        requires={
            RunField.ATTEMPT: Is(attempt),
            RunField.STATUS: IsOneOf((ExecutionStatus.QUEUED, ExecutionStatus.RUNNING)),
            RunField.LEASE_UNTIL: IsNotAfter(now),
            RunField.CANCEL_REQUESTED_AT: Is(None),
        },
        sets={RunField.STATUS: ExecutionStatus.RUNNING, RunField.LEASE_OWNER: token, RunField.LEASE_UNTIL: lease_until},
    )


def renew_lease(*, token: str, lease_until: datetime) -> RunTransition:
    return Transition(
        requires={RunField.STATUS: Is(ExecutionStatus.RUNNING), RunField.LEASE_OWNER: Is(token)},
        sets={RunField.LEASE_UNTIL: lease_until, RunField.LEASE_OWNER: token},
    )


def save_progress(*, token: str, lease_until: datetime, status: ExecutionStatus) -> RunTransition:
    """The runner stores its view of the execution (now `status`) while its claim holds. The execution may
    already be at `status`: a repeated send of the final save finds it so, and succeeds again."""
    return Transition(
        requires={
            RunField.STATUS: IsOneOf((ExecutionStatus.RUNNING, status)),
            RunField.LEASE_OWNER: Is(token),
        },
        # The owner is set to itself so that the state a save leaves names the claim whose save it was.
        sets={RunField.LEASE_UNTIL: lease_until, RunField.LEASE_OWNER: token},
    )


def requeue_for_retry(*, now: datetime, token: str) -> RunTransition:
    """pending → queued for the next attempt once nextRetryAt has come, without the last attempt's lease (the
    re-queue's `token` in its place)."""
    return Transition(
        requires={
            RunField.STATUS: Is(ExecutionStatus.PENDING),
            RunField.NEXT_RETRY_AT: IsAtOrBefore(now),
            RunField.CANCEL_REQUESTED_AT: Is(None),
        },
        sets={
            RunField.STATUS: ExecutionStatus.QUEUED,
            RunField.DISPATCHED_AT: now,
            RunField.LEASE_OWNER: token,
            RunField.LEASE_UNTIL: None,
        },
        increments={RunField.ATTEMPT: 1},
    )


def end_wait(*, now: datetime) -> RunTransition:
    """A waiting execution that now holds a slot (wfa.domain.trigger_lock.starts_waiting) is waiting no more and
    dispatched now: from here on the stall sweep sends its request again should this one be lost. Not for one
    marked for cancelling (its cancel frees the slot)."""
    return Transition(
        requires={
            RunField.STATUS: Is(ExecutionStatus.QUEUED),
            RunField.WAITING: Is(True),
            RunField.CANCEL_REQUESTED_AT: Is(None),
        },
        sets={RunField.WAITING: False, RunField.DISPATCHED_AT: now},
    )


def mark_dispatched(*, attempt: int, now: datetime) -> RunTransition:
    return Transition(requires={RunField.ATTEMPT: Is(attempt)}, sets={RunField.DISPATCHED_AT: now})


def request_cancel(*, now: datetime, token: str) -> RunTransition:
    """The first step of a cancel (wfa.service_layer.finishing.cancel): the execution is marked, and its lease taken
    away, before the lock is released, so that no runner goes on or starts with the lock free. The lease ends now,
    a pending retry is due now, and a queued execution counts as dispatched now: should the cancel itself never be
    recorded, the repair sweep (a running execution at once, a queued one once its request counts as unconsumed) or
    the retry loop (a pending one) finds the execution and completes the cancel."""
    return Transition(
        requires={RunField.STATUS: IsOneOf(NOT_FINAL)},
        sets={
            RunField.CANCEL_REQUESTED_AT: now,
            RunField.LEASE_OWNER: token,
            RunField.LEASE_UNTIL: now,
            RunField.NEXT_RETRY_AT: now,
            # A waiting execution (whenBusy: queue) has no dispatch until its wait ends, so the stall sweep would
            # never see it: once its cancel took it out of the queue, nothing else would either.
            RunField.DISPATCHED_AT: now,
        },
    )


def cancel(*, now: datetime, token: str) -> RunTransition:
    """Queued, running or pending → cancelled. The record's own changes (a running action interrupted, the ones
    not started skipped) are `Execution.cancel`; the lease goes to the cancel's `token`, so the runner's next
    write fails and it stops. One waiting for a slot (whenBusy: queue) waits no more: it will never start."""
    return Transition(
        requires={RunField.STATUS: IsOneOf(NOT_FINAL)},
        sets={
            RunField.STATUS: ExecutionStatus.CANCELLED,
            RunField.WAITING: False,
            RunField.NEXT_RETRY_AT: None,
            RunField.FINISHED_AT: now,
            RunField.LEASE_OWNER: token,
        },
    )
