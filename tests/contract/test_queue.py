"""WorkflowRepository and ExecutionRepository: the queue of `whenBusy: queue` (docs/concurrency.md). Of any number
of concurrent joins at most `queueMax` wait; the head, and only the head, takes a free slot, once however many
processes try; nothing overtakes a waiting execution; a waiting execution's request is not due for the stall sweep
until its wait ends, once."""

from __future__ import annotations

import asyncio

import pytest
from tests.contract.builders import T0, queued, seconds, workflow

from wfa.domain.errors import QueueFull, TriggerLocked
from wfa.domain.execution import ExecutionPlan, ExecutionStatus
from wfa.domain.schedule import FirePlan
from wfa.domain.workflow import TriggerStatus, Workflow
from wfa.ports.repositories import ExecutionRepository, SlotOutcome, WorkflowRepository

NOW = T0 + seconds(1)


def queueing(limit: int = 1, queue_max: int = 100, **kwargs: object) -> Workflow:
    concurrency = {"limit": limit, "whenBusy": "queue", "queueMax": queue_max}
    return workflow("wf", concurrency=concurrency, **kwargs)  # type: ignore[arg-type]


async def _join(workflows: WorkflowRepository, execution_id: str) -> bool:
    try:
        await workflows.join_queue("wf", execution_id=execution_id, now=NOW)
    except QueueFull:
        return False
    return True


async def _store_waiting(executions: ExecutionRepository, execution_id: str) -> None:
    """An execution stored as a trigger that joined the queue stores it: queued, waiting, its request unsent."""
    of = queueing()
    waiting = queued(of, execution_id)
    waiting.wait_for_slot()
    await executions.add(waiting, ExecutionPlan.of(of), idempotency_key=None)


async def _full(workflows: WorkflowRepository, limit: int) -> None:
    for n in range(limit):
        await workflows.try_acquire_trigger_lock("wf", execution_id=f"run-{n}", now=NOW)


@pytest.mark.parametrize("queue_max", [1, 3, 7])
async def test_concurrent_joins_let_exactly_queue_max_wait_in_the_order_they_joined(
    workflows: WorkflowRepository, queue_max: int
) -> None:
    await workflows.add(queueing(queue_max=queue_max))
    await _full(workflows, 1)

    joined = await asyncio.gather(*(_join(workflows, f"ex-{n}") for n in range(3 * queue_max)))

    assert sum(joined) == queue_max
    trigger = (await workflows.get("wf")).trigger
    assert sorted(trigger.waiting) == sorted(f"ex-{n}" for n, ok in enumerate(joined) if ok)
    assert (trigger.queued, trigger.waiting_since) == (queue_max, NOW)


async def test_a_full_queue_is_refused_queue_full_and_a_paused_one_paused(workflows: WorkflowRepository) -> None:
    await workflows.add(queueing(queue_max=1))
    await _full(workflows, 1)
    await workflows.join_queue("wf", execution_id="ex-1", now=NOW)

    with pytest.raises(QueueFull) as full:
        await workflows.join_queue("wf", execution_id="ex-2", now=NOW)
    await workflows.set_enabled("wf", enabled=False, next_run_at=None, now=NOW)
    with pytest.raises(TriggerLocked) as paused:
        await workflows.join_queue("wf", execution_id="ex-3", now=NOW)

    assert (full.value.reason, full.value.execution_id) == ("queue_full", "run-0")
    assert paused.value.reason == "paused" and not isinstance(paused.value, QueueFull)


async def test_a_workflow_that_does_not_queue_refuses_a_join_as_busy(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf", concurrency={"limit": 1}))
    await workflows.try_acquire_trigger_lock("wf", execution_id="run-0", now=NOW)

    with pytest.raises(TriggerLocked) as busy:
        await workflows.join_queue("wf", execution_id="ex-1", now=NOW)

    assert busy.value.reason == "busy" and not isinstance(busy.value, QueueFull)


async def test_nothing_overtakes_a_waiting_execution_a_free_slot_goes_to_the_head(
    workflows: WorkflowRepository,
) -> None:
    await workflows.add(queueing(limit=2))
    await _full(workflows, 2)
    await workflows.join_queue("wf", execution_id="ex-1", now=NOW)
    await workflows.join_queue("wf", execution_id="ex-2", now=NOW)
    assert await workflows.release_trigger_lock("wf", execution_id="run-1")

    with pytest.raises(TriggerLocked) as refused:
        await workflows.try_acquire_trigger_lock("wf", execution_id="newcomer", now=NOW)
    not_head = await workflows.start_waiting("wf", head="ex-2", now=NOW + seconds(1), limit=2)
    head = await workflows.start_waiting("wf", head="ex-1", now=NOW + seconds(1), limit=2)
    none_free = await workflows.start_waiting("wf", head="ex-2", now=NOW + seconds(1), limit=2)

    assert refused.value.reason == "busy"
    assert (not_head, head, none_free) == (False, True, False)
    trigger = (await workflows.get("wf")).trigger
    assert (trigger.holder_ids(), trigger.waiting, trigger.running, trigger.queued) == (
        ["run-0", "ex-1"],
        ["ex-2"],
        2,
        1,
    )
    assert trigger.waiting_since == NOW + seconds(1)


async def test_the_head_takes_the_first_slot_as_v1s_lock(workflows: WorkflowRepository) -> None:
    await workflows.add(queueing())
    await _full(workflows, 1)
    await workflows.join_queue("wf", execution_id="ex-1", now=NOW)
    await workflows.release_trigger_lock("wf", execution_id="run-0")

    assert await workflows.start_waiting("wf", head="ex-1", now=NOW + seconds(2), limit=1)

    trigger = (await workflows.get("wf")).trigger
    assert (trigger.status, trigger.execution_id, trigger.locked_at, trigger.waiting) == (
        TriggerStatus.BUSY,
        "ex-1",
        NOW + seconds(2),
        [],
    )


@pytest.mark.parametrize("limit", [1, 3])
async def test_concurrent_starts_of_one_head_start_it_once_and_never_exceed_the_limit(
    workflows: WorkflowRepository, limit: int
) -> None:
    await workflows.add(queueing(limit=limit))
    await _full(workflows, limit)
    for n in range(4):
        await workflows.join_queue("wf", execution_id=f"ex-{n}", now=NOW)
    for n in range(limit):
        await workflows.release_trigger_lock("wf", execution_id=f"run-{n}")

    async def start_heads(caller: int) -> int:
        # Each caller's own moment, as each process reads the clock (a repeated send is recognised by it).
        now = NOW + seconds(caller + 1)
        started = 0
        for _ in range(6):
            trigger = (await workflows.get("wf")).trigger
            if trigger.waiting and await workflows.start_waiting("wf", head=trigger.waiting[0], now=now, limit=limit):
                started += 1
        return started

    started = await asyncio.gather(*(start_heads(caller) for caller in range(5)))

    trigger = (await workflows.get("wf")).trigger
    assert sum(started) == limit
    assert sorted(trigger.holder_ids()) == [f"ex-{n}" for n in range(limit)]
    assert trigger.waiting == [f"ex-{n}" for n in range(limit, 4)]


async def test_a_paused_workflow_starts_nothing_from_its_queue(workflows: WorkflowRepository) -> None:
    await workflows.add(queueing())
    await _full(workflows, 1)
    await workflows.join_queue("wf", execution_id="ex-1", now=NOW)
    await workflows.release_trigger_lock("wf", execution_id="run-0")
    await workflows.set_enabled("wf", enabled=False, next_run_at=None, now=NOW)

    assert not await workflows.start_waiting("wf", head="ex-1", now=NOW, limit=1)


async def test_a_cancelled_waiting_execution_leaves_the_queue(workflows: WorkflowRepository) -> None:
    await workflows.add(queueing())
    await _full(workflows, 1)
    await workflows.join_queue("wf", execution_id="ex-1", now=NOW)
    await workflows.join_queue("wf", execution_id="ex-2", now=NOW)

    concluded = await workflows.conclude_trigger_lock(
        "wf", execution_id="ex-1", status=ExecutionStatus.CANCELLED, pause_after_failures=None
    )

    trigger = (await workflows.get("wf")).trigger
    assert concluded.released
    assert (trigger.waiting, trigger.execution_id, trigger.consecutive_failures) == (["ex-2"], "run-0", 0)


async def test_the_repair_sweep_finds_a_queue_that_has_not_moved_and_undates_an_empty_one(
    workflows: WorkflowRepository,
) -> None:
    await workflows.add(queueing())
    await _full(workflows, 1)
    await workflows.join_queue("wf", execution_id="ex-1", now=NOW)

    assert await workflows.find_waiting_since(before=NOW, limit=10) == []
    found = await workflows.find_waiting_since(before=NOW + seconds(30), limit=10)
    await workflows.waiting_looked_at("wf", since=NOW, now=NOW + seconds(30))
    dated = (await workflows.get("wf")).trigger.waiting_since
    await workflows.release_trigger_lock("wf", execution_id="ex-1")
    await workflows.waiting_looked_at("wf", since=NOW + seconds(30), now=NOW + seconds(60))

    assert [w.workflow_id for w in found] == ["wf"]
    assert dated == NOW + seconds(30)
    assert (await workflows.get("wf")).trigger.waiting_since is None
    assert await workflows.find_waiting_since(before=NOW + seconds(600), limit=10) == []


async def test_a_scheduled_fire_on_a_full_lock_waits_and_a_full_queue_skips_it(workflows: WorkflowRepository) -> None:
    slot = T0 + seconds(10)
    await workflows.add(queueing(queue_max=1))
    await _full(workflows, 1)

    waits = await workflows.claim_schedule_slot(
        "wf", slot=slot, next_run_at=slot + seconds(10), execution_id="fire-1", now=slot, limit=1, queue_max=1
    )
    later = slot + seconds(10)
    skipped = await workflows.claim_schedule_slot(
        "wf",
        slot=later,
        next_run_at=later + seconds(10),
        execution_id="fire-2",
        now=later,
        plan=FirePlan(fires=later, next_run_at=later + seconds(10)),
        limit=1,
        queue_max=1,
    )

    assert (waits.outcome, skipped.outcome) == (SlotOutcome.QUEUED, SlotOutcome.SKIPPED)
    trigger = (await workflows.get("wf")).trigger
    assert (trigger.waiting, trigger.fired_fires, trigger.skipped_fires) == (["fire-1"], 1, 1)


async def test_a_scheduled_fire_does_not_overtake_the_queue_even_with_a_free_slot(
    workflows: WorkflowRepository,
) -> None:
    slot = T0 + seconds(10)
    await workflows.add(queueing(limit=2))
    await _full(workflows, 2)
    await workflows.join_queue("wf", execution_id="ex-1", now=NOW)
    await workflows.release_trigger_lock("wf", execution_id="run-1")

    claim = await workflows.claim_schedule_slot(
        "wf", slot=slot, next_run_at=slot + seconds(10), execution_id="fire-1", now=slot, limit=2, queue_max=100
    )

    assert claim.outcome is SlotOutcome.QUEUED
    assert (await workflows.get("wf")).trigger.waiting == ["ex-1", "fire-1"]


async def test_a_waiting_execution_is_not_due_for_the_stall_sweep_until_its_wait_ends_once(
    workflows: WorkflowRepository, executions: ExecutionRepository
) -> None:
    await _store_waiting(executions, "ex-1")

    before = await executions.find_unconsumed(dispatched_before=NOW + seconds(3600), limit=10)
    ended = await executions.end_wait("ex-1", now=NOW)
    again = await executions.end_wait("ex-1", now=NOW + seconds(1))
    after = await executions.find_unconsumed(dispatched_before=NOW + seconds(3600), limit=10)

    assert before == []
    assert ended is not None and (ended.waiting, ended.status.value) == (False, "queued")
    assert again is None
    assert [e.execution_id for e in after] == ["ex-1"]
    assert await executions.end_wait("missing", now=NOW) is None


async def test_a_wait_does_not_end_for_an_execution_being_cancelled(executions: ExecutionRepository) -> None:
    await _store_waiting(executions, "ex-1")
    await executions.request_cancel("ex-1", now=NOW)

    assert await executions.end_wait("ex-1", now=NOW) is None


async def test_a_cancelled_waiting_execution_is_waiting_no_more(executions: ExecutionRepository) -> None:
    await _store_waiting(executions, "ex-1")
    await executions.request_cancel("ex-1", now=NOW)

    cancelled = await executions.cancel("ex-1", now=NOW)

    assert (cancelled.status, cancelled.waiting) == (ExecutionStatus.CANCELLED, False)
    assert (await executions.get("ex-1")).waiting is False


async def test_a_waiting_execution_marked_for_cancelling_is_due_for_the_stall_sweep(
    executions: ExecutionRepository,
) -> None:
    await _store_waiting(executions, "ex-1")

    await executions.request_cancel("ex-1", now=NOW)

    # Should the cancel never be recorded, the stall sweep is what completes it (it never republishes a cancel).
    assert await executions.find_unconsumed(dispatched_before=NOW, limit=10) == []
    due = await executions.find_unconsumed(dispatched_before=NOW + seconds(1), limit=10)
    assert [(e.execution_id, e.cancel_requested_at) for e in due] == [("ex-1", NOW)]


async def test_of_concurrent_claims_of_one_key_one_wins_and_every_caller_learns_which(
    executions: ExecutionRepository,
) -> None:
    claims = await asyncio.gather(
        *(executions.claim_idempotency_key("wf", "k", execution_id=f"ex-{n}", now=NOW) for n in range(8))
    )
    other_workflow = await executions.claim_idempotency_key("other", "k", execution_id="ex-x", now=NOW)
    repeated = await executions.claim_idempotency_key("wf", "k", execution_id=claims[0], now=NOW)

    assert len(set(claims)) == 1 and claims[0] in {f"ex-{n}" for n in range(8)}
    assert (other_workflow, repeated) == ("ex-x", claims[0])


async def test_a_claim_expires_after_the_idempotency_window_and_a_dead_claimant_can_be_replaced(
    executions: ExecutionRepository,
) -> None:
    await executions.claim_idempotency_key("wf", "k", execution_id="ex-1", now=NOW)

    within = await executions.claim_idempotency_key("wf", "k", execution_id="ex-2", now=NOW + seconds(3600))
    after = await executions.claim_idempotency_key("wf", "k", execution_id="ex-3", now=NOW + seconds(86401))
    stale = await executions.reclaim_idempotency_key(
        "wf", "k", execution_id="ex-4", claimed_by="ex-1", now=NOW + seconds(86402)
    )
    taken = await executions.reclaim_idempotency_key(
        "wf", "k", execution_id="ex-4", claimed_by="ex-3", now=NOW + seconds(86402)
    )

    assert (within, after, stale, taken) == ("ex-1", "ex-3", False, True)
    assert await executions.claim_idempotency_key("wf", "k", execution_id="ex-5", now=NOW + seconds(86403)) == "ex-4"
