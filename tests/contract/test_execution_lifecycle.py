"""ExecutionRepository: the runner's claim and lease, cancelling, retries and the stall sweep's queries."""

from __future__ import annotations

import asyncio

import pytest
from tests.contract.builders import T0, ms, pending, running, seconds, stored, workflow

from wfa.domain.errors import ActionFailed, ExecutionAlreadyFinished, ExecutionNotFound
from wfa.domain.execution import ActionStatus, ExecutionPlan, ExecutionStatus, Section, Step
from wfa.ports.repositories import ClaimedExecution, ExecutionRepository

LEASE = seconds(30)
WF = workflow("wf")


# -- claim_for_run -----------------------------------------------------------------------------------------------


async def test_claim_for_run_takes_a_queued_execution(executions: ExecutionRepository) -> None:
    await stored(executions, WF, "ex")

    claimed = await executions.claim_for_run("ex", attempt=1, owner="r1", lease_until=T0 + LEASE, now=T0)

    assert claimed is not None
    assert claimed.execution.status is ExecutionStatus.RUNNING
    assert claimed.execution == await executions.get("ex")


async def test_claim_for_run_takes_over_a_running_execution_whose_lease_expired(
    executions: ExecutionRepository,
) -> None:
    await running(executions, WF, "ex", owner="dead", now=T0)
    later = T0 + LEASE

    claimed = await executions.claim_for_run("ex", attempt=1, owner="r2", lease_until=later + LEASE, now=later)

    assert claimed is not None
    assert claimed.execution.started_at == T0  # the runner's progress is kept for the new owner
    assert not await executions.renew_lease("ex", owner="dead", lease_until=later + LEASE)
    assert await executions.renew_lease("ex", owner="r2", lease_until=later + LEASE)


async def test_claim_for_run_leaves_a_running_execution_under_a_live_lease_alone(
    executions: ExecutionRepository,
) -> None:
    await running(executions, WF, "ex", owner="r1", now=T0)

    claimed = await executions.claim_for_run("ex", attempt=1, owner="r2", lease_until=T0 + LEASE, now=T0 + ms(1))

    assert claimed is None
    assert await executions.renew_lease("ex", owner="r1", lease_until=T0 + LEASE)


@pytest.mark.parametrize("final", ["succeeded", "cancelled"])
async def test_claim_for_run_refuses_a_finished_execution(executions: ExecutionRepository, final: str) -> None:
    execution = await running(executions, WF, "ex", owner="r1", now=T0)
    if final == "succeeded":
        execution.succeed(T0 + ms(10))
        await executions.save_progress(execution, owner="r1", lease_until=T0 + LEASE)
    else:
        await executions.cancel("ex", now=T0 + ms(10))
    later = T0 + LEASE + LEASE

    assert await executions.claim_for_run("ex", attempt=1, owner="r2", lease_until=later + LEASE, now=later) is None


async def test_claim_for_run_refuses_another_attempt(executions: ExecutionRepository) -> None:
    await stored(executions, WF, "ex")
    assert await executions.claim_for_run("ex", attempt=2, owner="r1", lease_until=T0 + LEASE, now=T0) is None
    assert (await executions.get("ex")).status is ExecutionStatus.QUEUED


async def test_claim_for_run_refuses_a_pending_execution(executions: ExecutionRepository) -> None:
    await pending(executions, WF, "ex", now=T0)
    later = T0 + LEASE + LEASE
    assert await executions.claim_for_run("ex", attempt=1, owner="r2", lease_until=later + LEASE, now=later) is None


async def test_claim_for_run_of_an_unknown_execution_is_none(executions: ExecutionRepository) -> None:
    assert await executions.claim_for_run("nope", attempt=1, owner="r1", lease_until=T0 + LEASE, now=T0) is None


async def test_of_twenty_concurrent_run_claims_exactly_one_wins(executions: ExecutionRepository) -> None:
    await stored(executions, WF, "ex")

    claims = await asyncio.gather(
        *(executions.claim_for_run("ex", attempt=1, owner=f"r{i}", lease_until=T0 + LEASE, now=T0) for i in range(20))
    )

    assert len([claim for claim in claims if isinstance(claim, ClaimedExecution)]) == 1


# -- save_progress and renew_lease -------------------------------------------------------------------------------


async def test_save_progress_by_the_owner_stores_the_runners_view(executions: ExecutionRepository) -> None:
    execution = await running(executions, WF, "ex", owner="r1", now=T0)
    execution.begin_action(0, T0 + ms(1))
    execution.complete_action(0, {"said": "hello", "$odd.key": [1, {"x": None}]}, T0 + ms(7))

    assert await executions.save_progress(execution, owner="r1", lease_until=T0 + LEASE)

    assert await executions.get("ex") == execution


async def test_save_progress_by_another_owner_is_refused(executions: ExecutionRepository) -> None:
    execution = await running(executions, WF, "ex", owner="r1", now=T0)
    before = await executions.get("ex")
    execution.succeed(T0 + ms(5))

    assert not await executions.save_progress(execution, owner="r2", lease_until=T0 + LEASE)
    assert await executions.get("ex") == before


async def test_save_progress_that_would_change_a_final_status_is_refused(executions: ExecutionRepository) -> None:
    execution = await running(executions, WF, "ex", owner="r1", now=T0)
    execution.succeed(T0 + ms(5))
    assert await executions.save_progress(execution, owner="r1", lease_until=T0 + LEASE)
    execution.status = ExecutionStatus.FAILED

    assert not await executions.save_progress(execution, owner="r1", lease_until=T0 + LEASE)
    assert (await executions.get("ex")).status is ExecutionStatus.SUCCEEDED


async def test_save_progress_after_a_cancel_is_refused(executions: ExecutionRepository) -> None:
    execution = await running(executions, WF, "ex", owner="r1", now=T0)
    cancelled = await executions.cancel("ex", now=T0 + ms(3))
    execution.succeed(T0 + ms(5))

    assert not await executions.save_progress(execution, owner="r1", lease_until=T0 + LEASE)
    assert await executions.get("ex") == cancelled


async def test_save_progress_of_a_queued_execution_is_refused(executions: ExecutionRepository) -> None:
    execution = await stored(executions, WF, "ex")
    assert not await executions.save_progress(execution, owner="r1", lease_until=T0 + LEASE)


async def test_renew_lease_by_the_owner_keeps_others_out(executions: ExecutionRepository) -> None:
    await running(executions, WF, "ex", owner="r1", now=T0)
    later = T0 + LEASE

    assert await executions.renew_lease("ex", owner="r1", lease_until=later + LEASE)

    assert await executions.claim_for_run("ex", attempt=1, owner="r2", lease_until=later + LEASE, now=later) is None
    assert await executions.find_expired_leases(now=later, limit=10) == []


async def test_renew_lease_is_refused_to_others_and_when_not_running(executions: ExecutionRepository) -> None:
    await running(executions, WF, "ex", owner="r1", now=T0)
    await stored(executions, WF, "queued")
    assert not await executions.renew_lease("ex", owner="r2", lease_until=T0 + LEASE)
    assert not await executions.renew_lease("queued", owner="r1", lease_until=T0 + LEASE)
    assert not await executions.renew_lease("nope", owner="r1", lease_until=T0 + LEASE)


# -- cancel ------------------------------------------------------------------------------------------------------


async def test_cancel_of_a_queued_execution_skips_every_action(executions: ExecutionRepository) -> None:
    await stored(executions, WF, "ex")

    cancelled = await executions.cancel("ex", now=T0 + seconds(1))

    assert cancelled.status is ExecutionStatus.CANCELLED
    assert (cancelled.finished_at, cancelled.duration_ms, cancelled.started_at) == (T0 + seconds(1), None, None)
    assert [run.status for run in cancelled.actions] == [ActionStatus.SKIPPED]
    assert await executions.get("ex") == cancelled


async def test_cancel_of_a_running_execution_records_what_the_domain_records(
    executions: ExecutionRepository,
) -> None:
    three = workflow("three", actions=[{"type": "log", "message": str(i)} for i in range(3)])
    execution = await running(executions, three, "ex", owner="r1", now=T0)
    execution.begin_action(0, T0 + ms(1))
    execution.complete_action(0, {"ok": True}, T0 + ms(4))
    execution.begin_action(1, T0 + ms(4))
    execution.begin_action(1, T0 + ms(5))  # the run before was interrupted: its record is kept through the cancel
    await executions.save_progress(execution, owner="r1", lease_until=T0 + LEASE)

    cancelled = await executions.cancel("ex", now=T0 + ms(250))

    execution.cancel(T0 + ms(250))
    assert cancelled == execution
    assert [run.status for run in cancelled.actions] == [
        ActionStatus.SUCCEEDED,
        ActionStatus.FAILED,
        ActionStatus.SKIPPED,
    ]
    assert (cancelled.actions[1].duration_ms, cancelled.duration_ms) == (245, 250)
    assert [run.started_at for run in cancelled.actions[1].previous] == [T0 + ms(4)]


async def test_cancel_while_failure_handlers_run_skips_the_handlers_not_started(
    executions: ExecutionRepository,
) -> None:
    undo = {"type": "log", "name": "undo", "message": "undo"}
    saga = workflow(
        "saga",
        actions=[{"type": "log", "name": "a", "message": "a", "compensate": undo}, {"type": "log", "message": "b"}],
    )
    saga.on_failure = [workflow(actions=[{"type": "log", "name": "notify", "message": "n"}]).actions[0]]
    plan = ExecutionPlan.of(saga)
    execution = await running(executions, saga, "ex", owner="r1", now=T0)
    execution.begin_action(0, T0)
    execution.complete_action(0, {}, T0)
    execution.begin_action(1, T0)
    execution.fail_action(1, ActionFailed("no", kind="x", retryable=False), plan, T0)
    execution.begin_action(Step(Section.COMPENSATIONS, 0), T0 + ms(1))
    await executions.save_progress(execution, owner="r1", lease_until=T0 + LEASE)

    cancelled = await executions.cancel("ex", now=T0 + ms(20))

    execution.cancel(T0 + ms(20))
    assert cancelled == execution
    assert cancelled.compensations is not None and cancelled.compensations[0].status is ActionStatus.FAILED
    assert cancelled.on_failure is not None and cancelled.on_failure[0].status is ActionStatus.SKIPPED


async def test_cancel_of_a_pending_execution_drops_its_retry(executions: ExecutionRepository) -> None:
    await pending(executions, WF, "ex", now=T0)

    cancelled = await executions.cancel("ex", now=T0 + seconds(1))

    assert (cancelled.status, cancelled.next_retry_at) == (ExecutionStatus.CANCELLED, None)
    assert await executions.due_retries(now=T0 + seconds(60), limit=10) == []
    assert await executions.claim_retry("ex", now=T0 + seconds(60)) is None


@pytest.mark.parametrize("final", ["succeeded", "failed", "cancelled"])
async def test_cancel_of_a_finished_execution_raises_already_finished(
    executions: ExecutionRepository, final: str
) -> None:
    execution = await running(executions, WF, "ex", owner="r1", now=T0)
    if final == "succeeded":
        execution.succeed(T0 + ms(1))
    elif final == "failed":
        execution.begin_action(0, T0)
        execution.fail_action(0, ActionFailed("no", kind="x", retryable=False), ExecutionPlan.of(WF), T0 + ms(1))
    else:
        execution.cancel(T0 + ms(1))
    await executions.save_progress(execution, owner="r1", lease_until=T0 + LEASE)

    with pytest.raises(ExecutionAlreadyFinished) as raised:
        await executions.cancel("ex", now=T0 + seconds(1))

    assert raised.value.status == final
    assert await executions.get("ex") == execution


async def test_cancel_of_an_unknown_execution_raises_not_found(executions: ExecutionRepository) -> None:
    with pytest.raises(ExecutionNotFound):
        await executions.cancel("nope", now=T0)


# -- retries -----------------------------------------------------------------------------------------------------


async def test_claim_retry_requeues_a_due_pending_execution_for_its_next_attempt(
    executions: ExecutionRepository,
) -> None:
    waiting = await pending(executions, WF, "ex", now=T0)
    assert waiting.next_retry_at is not None

    claimed = await executions.claim_retry("ex", now=waiting.next_retry_at)

    assert claimed is not None
    assert (claimed.status, claimed.attempt) == (ExecutionStatus.QUEUED, 2)
    assert claimed == await executions.get("ex")
    assert await executions.claim_for_run("ex", attempt=2, owner="r2", lease_until=T0 + LEASE, now=T0) is not None


async def test_a_requeued_retry_can_be_claimed_while_the_last_attempts_lease_would_still_run(
    executions: ExecutionRepository,
) -> None:
    waiting = await pending(executions, WF, "ex", owner="r1", now=T0)
    assert waiting.next_retry_at is not None and waiting.next_retry_at < T0 + LEASE
    await executions.claim_retry("ex", now=waiting.next_retry_at)

    claimed = await executions.claim_for_run(
        "ex", attempt=2, owner="r2", lease_until=T0 + LEASE + LEASE, now=waiting.next_retry_at
    )

    assert claimed is not None
    assert not await executions.renew_lease("ex", owner="r1", lease_until=T0 + LEASE)


async def test_claim_retry_before_the_retry_is_due_is_none(executions: ExecutionRepository) -> None:
    waiting = await pending(executions, WF, "ex", now=T0)
    assert waiting.next_retry_at is not None

    assert await executions.claim_retry("ex", now=waiting.next_retry_at - ms(1)) is None
    assert (await executions.get("ex")).status is ExecutionStatus.PENDING


async def test_claim_retry_happens_once(executions: ExecutionRepository) -> None:
    waiting = await pending(executions, WF, "ex", now=T0)
    assert waiting.next_retry_at is not None

    claims = await asyncio.gather(*(executions.claim_retry("ex", now=waiting.next_retry_at) for _ in range(20)))

    assert len([claim for claim in claims if claim is not None]) == 1
    assert (await executions.get("ex")).attempt == 2


async def test_claim_retry_of_an_execution_that_is_not_pending_is_none(executions: ExecutionRepository) -> None:
    await stored(executions, WF, "queued")
    await running(executions, WF, "running", now=T0)
    assert await executions.claim_retry("queued", now=T0 + seconds(60)) is None
    assert await executions.claim_retry("running", now=T0 + seconds(60)) is None
    assert await executions.claim_retry("nope", now=T0 + seconds(60)) is None


async def test_due_retries_lists_due_pending_executions_earliest_first(executions: ExecutionRepository) -> None:
    later = await pending(executions, WF, "later", now=T0 + seconds(1))
    first = await pending(executions, WF, "first", now=T0)
    not_yet = await pending(executions, WF, "not-yet", now=T0 + seconds(5))
    await running(executions, WF, "running", now=T0)
    assert later.next_retry_at is not None and not_yet.next_retry_at is not None

    due = await executions.due_retries(now=later.next_retry_at, limit=10)

    assert due == [first, later]
    assert [e.execution_id for e in await executions.due_retries(now=not_yet.next_retry_at, limit=2)] == [
        "first",
        "later",
    ]


async def test_earliest_retry_at_is_the_soonest_retry_of_a_pending_execution(executions: ExecutionRepository) -> None:
    await pending(executions, WF, "later", now=T0 + seconds(1))
    first = await pending(executions, WF, "first", now=T0)
    await pending(executions, WF, "requeued", now=T0 - seconds(10))
    await executions.claim_retry("requeued", now=T0)

    assert await executions.earliest_retry_at() == first.next_retry_at


async def test_earliest_retry_at_is_none_without_pending_executions(executions: ExecutionRepository) -> None:
    await stored(executions, WF, "queued")
    await running(executions, WF, "running", now=T0)
    assert await executions.earliest_retry_at() is None


# -- the stall sweep ---------------------------------------------------------------------------------------------


async def test_find_unconsumed_returns_queued_executions_dispatched_before_the_horizon(
    executions: ExecutionRepository,
) -> None:
    old = await stored(executions, WF, "old", now=T0)
    await stored(executions, WF, "fresh", now=T0 + seconds(10))
    await running(executions, WF, "running", now=T0)

    stalled = await executions.find_unconsumed(dispatched_before=T0 + seconds(10), limit=10)

    assert stalled == [old]


async def test_mark_dispatched_postpones_the_stall(executions: ExecutionRepository) -> None:
    await stored(executions, WF, "ex", now=T0)

    await executions.mark_dispatched("ex", attempt=1, now=T0 + seconds(10))

    assert await executions.find_unconsumed(dispatched_before=T0 + seconds(10), limit=10) == []
    assert len(await executions.find_unconsumed(dispatched_before=T0 + seconds(11), limit=10)) == 1


async def test_mark_dispatched_for_another_attempt_is_ignored(executions: ExecutionRepository) -> None:
    await stored(executions, WF, "ex", now=T0)

    await executions.mark_dispatched("ex", attempt=2, now=T0 + seconds(10))
    await executions.mark_dispatched("nope", attempt=1, now=T0 + seconds(10))

    assert len(await executions.find_unconsumed(dispatched_before=T0 + seconds(10), limit=10)) == 1


async def test_claim_retry_counts_as_a_dispatch(executions: ExecutionRepository) -> None:
    waiting = await pending(executions, WF, "ex", now=T0)
    assert waiting.next_retry_at is not None
    at = waiting.next_retry_at
    await executions.claim_retry("ex", now=at)

    assert await executions.find_unconsumed(dispatched_before=at, limit=10) == []
    assert [e.execution_id for e in await executions.find_unconsumed(dispatched_before=at + ms(1), limit=10)] == ["ex"]


async def test_find_expired_leases_returns_running_executions_whose_lease_expired(
    executions: ExecutionRepository,
) -> None:
    await running(executions, WF, "dead", owner="r1", now=T0)
    await running(executions, WF, "alive", owner="r2", now=T0 + seconds(1))
    await stored(executions, WF, "queued", now=T0)

    stalled = await executions.find_expired_leases(now=T0 + LEASE, limit=10)

    assert [e.execution_id for e in stalled] == ["dead"]


async def test_the_stall_sweep_leaves_out_pending_and_finished_executions(executions: ExecutionRepository) -> None:
    await pending(executions, WF, "pending", now=T0)
    finished = await running(executions, WF, "finished", owner="r1", now=T0)
    finished.succeed(T0 + ms(1))
    await executions.save_progress(finished, owner="r1", lease_until=T0 + LEASE)
    await stored(executions, WF, "cancelled", now=T0)
    await executions.cancel("cancelled", now=T0)
    much_later = T0 + seconds(3600)

    assert await executions.find_unconsumed(dispatched_before=much_later, limit=10) == []
    assert await executions.find_expired_leases(now=much_later, limit=10) == []


async def test_find_unconsumed_returns_the_least_recently_dispatched_first_up_to_limit(
    executions: ExecutionRepository,
) -> None:
    await stored(executions, WF, "b", now=T0 + seconds(2))
    await stored(executions, WF, "c", now=T0 + seconds(3))
    await stored(executions, WF, "a", now=T0 + seconds(1))
    much_later = T0 + seconds(3600)

    assert [e.execution_id for e in await executions.find_unconsumed(dispatched_before=much_later, limit=2)] == [
        "a",
        "b",
    ]


async def test_an_execution_published_again_goes_to_the_back_of_the_stall_sweep(
    executions: ExecutionRepository,
) -> None:
    # Republishing does not end a stall by itself (the runners may all be down): if it kept its place, the first
    # `limit` stalled executions would fill every sweep's page and hide the others for good.
    for i in range(3):
        await running(executions, WF, f"dead-{i}", owner="r1", now=T0 + seconds(i))
        await stored(executions, WF, f"lost-{i}", now=T0 + seconds(i))
    later = T0 + seconds(3600)
    for i in range(2):
        await executions.mark_dispatched(f"dead-{i}", attempt=1, now=later)
        await executions.mark_dispatched(f"lost-{i}", attempt=1, now=later)

    expired = await executions.find_expired_leases(now=later, limit=2)
    unconsumed = await executions.find_unconsumed(dispatched_before=later + seconds(1), limit=2)

    assert [e.execution_id for e in expired] == ["dead-2", "dead-0"]
    assert [e.execution_id for e in unconsumed] == ["lost-2", "lost-0"]


# -- request_cancel: the first step of a cancel ------------------------------------------------------------------


async def test_a_cancel_request_takes_the_lease_from_the_runner(executions: ExecutionRepository) -> None:
    execution = await running(executions, WF, "ex", owner="r1", now=T0)

    requested = await executions.request_cancel("ex", now=T0 + ms(2))

    assert requested.status is ExecutionStatus.RUNNING  # not cancelled yet: that is recorded after the lock
    assert not await executions.save_progress(execution, owner="r1", lease_until=T0 + LEASE)
    assert not await executions.renew_lease("ex", owner="r1", lease_until=T0 + LEASE)
    later = T0 + LEASE + LEASE
    assert await executions.claim_for_run("ex", attempt=1, owner="r2", lease_until=later + LEASE, now=later) is None


async def test_an_execution_with_a_cancel_requested_is_never_retried(executions: ExecutionRepository) -> None:
    waiting = await pending(executions, WF, "ex", now=T0)
    assert waiting.next_retry_at is not None

    await executions.request_cancel("ex", now=T0 + ms(2))

    assert await executions.claim_retry("ex", now=waiting.next_retry_at) is None
    # Due at once, so that the retry loop completes the cancel should its process die before recording it.
    assert [due.execution_id for due in await executions.due_retries(now=T0 + ms(2), limit=10)] == ["ex"]


async def test_a_cancel_request_of_a_finished_execution_raises_already_finished(
    executions: ExecutionRepository,
) -> None:
    await stored(executions, WF, "ex")
    await executions.cancel("ex", now=T0)

    with pytest.raises(ExecutionAlreadyFinished):
        await executions.request_cancel("ex", now=T0 + ms(1))
    with pytest.raises(ExecutionNotFound):
        await executions.request_cancel("nope", now=T0)
