"""WorkflowRepository: what the scheduler relies on. Slots fire at most once, due workflows come earliest first,
and old locks can be found for repair."""

from __future__ import annotations

import asyncio

from tests.contract.builders import T0, added, manual_workflow, seconds, workflow

from wfa.domain.workflow import TriggerStatus
from wfa.ports.repositories import LockPosition, SlotOutcome, WorkflowRepository

SLOT = T0 + seconds(10)
NEXT = T0 + seconds(20)


async def test_claiming_the_due_slot_of_an_idle_workflow_fires_and_takes_the_lock(
    workflows: WorkflowRepository,
) -> None:
    await workflows.add(workflow("wf", next_run_at=SLOT))

    claim = await workflows.claim_schedule_slot("wf", slot=SLOT, next_run_at=NEXT, execution_id="ex-1", now=SLOT)

    assert claim.outcome is SlotOutcome.FIRED
    assert claim.workflow is not None
    trigger = claim.workflow.trigger
    assert (trigger.status, trigger.execution_id, trigger.locked_at, trigger.next_run_at, trigger.skipped_fires) == (
        TriggerStatus.BUSY,
        "ex-1",
        SLOT,
        NEXT,
        0,
    )
    assert await workflows.get("wf") == claim.workflow


async def test_claiming_the_due_slot_of_a_busy_workflow_skips_it_and_counts_the_skip(
    workflows: WorkflowRepository,
) -> None:
    await workflows.add(workflow("wf", next_run_at=SLOT))
    await workflows.try_acquire_trigger_lock("wf", execution_id="ex-manual", now=T0)

    claim = await workflows.claim_schedule_slot("wf", slot=SLOT, next_run_at=NEXT, execution_id="ex-1", now=SLOT)

    assert claim.outcome is SlotOutcome.SKIPPED
    assert claim.workflow is not None
    trigger = claim.workflow.trigger
    assert (trigger.status, trigger.execution_id, trigger.locked_at, trigger.next_run_at, trigger.skipped_fires) == (
        TriggerStatus.BUSY,
        "ex-manual",
        T0,
        NEXT,
        1,
    )
    assert await workflows.get("wf") == claim.workflow


async def test_claiming_the_due_slot_of_a_pending_workflow_skips_it(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf", next_run_at=SLOT))
    await workflows.try_acquire_trigger_lock("wf", execution_id="ex-0", now=T0)
    await workflows.mark_trigger_pending("wf", execution_id="ex-0")

    claim = await workflows.claim_schedule_slot("wf", slot=SLOT, next_run_at=NEXT, execution_id="ex-1", now=SLOT)

    assert claim.outcome is SlotOutcome.SKIPPED
    assert claim.workflow is not None
    assert (claim.workflow.trigger.status, claim.workflow.trigger.execution_id) == (TriggerStatus.PENDING, "ex-0")


async def test_a_claim_is_lost_when_the_slot_is_not_the_stored_next_run(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf", next_run_at=SLOT))
    before = await workflows.get("wf")

    claim = await workflows.claim_schedule_slot(
        "wf", slot=SLOT - seconds(10), next_run_at=SLOT, execution_id="ex-1", now=SLOT
    )

    assert (claim.outcome, claim.workflow) == (SlotOutcome.LOST, None)
    assert await workflows.get("wf") == before


async def test_a_slot_is_claimed_only_once(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf", next_run_at=SLOT))
    await workflows.claim_schedule_slot("wf", slot=SLOT, next_run_at=NEXT, execution_id="ex-1", now=SLOT)
    await workflows.release_trigger_lock("wf", execution_id="ex-1")

    again = await workflows.claim_schedule_slot("wf", slot=SLOT, next_run_at=NEXT, execution_id="ex-2", now=SLOT)

    assert (again.outcome, again.workflow) == (SlotOutcome.LOST, None)
    assert (await workflows.get("wf")).trigger.status is TriggerStatus.IDLE


async def test_a_claim_on_a_paused_deleted_or_unknown_workflow_is_lost(workflows: WorkflowRepository) -> None:
    await added(workflows, workflow("paused", next_run_at=SLOT), workflow("deleted", next_run_at=SLOT))
    await workflows.set_enabled("paused", enabled=False, next_run_at=SLOT, now=T0)
    await workflows.delete("deleted", now=T0)

    for workflow_id in ("paused", "deleted", "unknown"):
        claim = await workflows.claim_schedule_slot(
            workflow_id, slot=SLOT, next_run_at=NEXT, execution_id="ex-1", now=SLOT
        )
        assert claim.outcome is SlotOutcome.LOST, workflow_id


async def test_a_claim_may_end_the_schedule(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf", next_run_at=SLOT))

    claim = await workflows.claim_schedule_slot("wf", slot=SLOT, next_run_at=None, execution_id="ex-1", now=SLOT)

    assert claim.outcome is SlotOutcome.FIRED
    assert (await workflows.get("wf")).trigger.next_run_at is None


async def test_of_twenty_concurrent_claimers_of_one_slot_exactly_one_fires(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf", next_run_at=SLOT))

    claims = await asyncio.gather(
        *(
            workflows.claim_schedule_slot("wf", slot=SLOT, next_run_at=NEXT, execution_id=f"ex-{i}", now=SLOT)
            for i in range(20)
        )
    )

    outcomes = [claim.outcome for claim in claims]
    assert outcomes.count(SlotOutcome.FIRED) == 1
    assert outcomes.count(SlotOutcome.LOST) == 19
    winner = next(claim for claim in claims if claim.outcome is SlotOutcome.FIRED)
    assert winner.workflow is not None
    assert (await workflows.get("wf")).trigger.execution_id == winner.workflow.trigger.execution_id


async def test_due_for_schedule_returns_due_workflows_earliest_first(workflows: WorkflowRepository) -> None:
    await added(
        workflows,
        workflow("late", next_run_at=T0 + seconds(3)),
        workflow("b-tie", next_run_at=T0 + seconds(1)),
        workflow("a-tie", next_run_at=T0 + seconds(1)),
        workflow("first", next_run_at=T0),
        workflow("exactly-now", next_run_at=T0 + seconds(5)),
        workflow("future", next_run_at=T0 + seconds(6)),
    )

    due = await workflows.due_for_schedule(now=T0 + seconds(5), limit=10)

    assert [w.workflow_id for w in due] == ["first", "a-tie", "b-tie", "late", "exactly-now"]


async def test_due_for_schedule_returns_at_most_limit_workflows(workflows: WorkflowRepository) -> None:
    await added(workflows, *(workflow(f"wf-{i}", next_run_at=T0 + seconds(i)) for i in range(5)))

    due = await workflows.due_for_schedule(now=T0 + seconds(10), limit=3)

    assert [w.workflow_id for w in due] == ["wf-0", "wf-1", "wf-2"]


async def test_due_for_schedule_leaves_out_paused_deleted_and_manual_workflows(workflows: WorkflowRepository) -> None:
    await added(
        workflows,
        workflow("due", next_run_at=T0),
        workflow("paused", next_run_at=T0),
        workflow("deleted", next_run_at=T0),
        manual_workflow("manual"),
    )
    await workflows.set_enabled("paused", enabled=False, next_run_at=T0, now=T0)
    await workflows.delete("deleted", now=T0)

    due = await workflows.due_for_schedule(now=T0 + seconds(60), limit=10)

    assert [w.workflow_id for w in due] == ["due"]


async def test_due_for_schedule_includes_busy_workflows(workflows: WorkflowRepository) -> None:
    # A due slot of a busy workflow must still be claimed, to be counted as skipped and moved on.
    await workflows.add(workflow("wf", next_run_at=T0))
    await workflows.try_acquire_trigger_lock("wf", execution_id="ex-1", now=T0)

    due = await workflows.due_for_schedule(now=T0, limit=10)

    assert [w.workflow_id for w in due] == ["wf"]


async def test_earliest_next_run_at_is_that_of_the_soonest_enabled_live_schedule(
    workflows: WorkflowRepository,
) -> None:
    await added(
        workflows,
        workflow("soon", next_run_at=T0 + seconds(30)),
        workflow("later", next_run_at=T0 + seconds(40)),
        workflow("paused", next_run_at=T0 + seconds(10)),
        workflow("deleted", next_run_at=T0 + seconds(20)),
        manual_workflow("manual"),
    )
    await workflows.set_enabled("paused", enabled=False, next_run_at=T0 + seconds(10), now=T0)
    await workflows.delete("deleted", now=T0)

    assert await workflows.earliest_next_run_at() == T0 + seconds(30)


async def test_earliest_next_run_at_is_none_without_any_schedule(workflows: WorkflowRepository) -> None:
    await added(workflows, manual_workflow("manual"))
    await workflows.add(workflow("ended", next_run_at=SLOT))
    await workflows.claim_schedule_slot("ended", slot=SLOT, next_run_at=None, execution_id="ex-1", now=SLOT)

    assert await workflows.earliest_next_run_at() is None


async def test_find_locked_since_returns_locks_taken_before_the_horizon_oldest_first(
    workflows: WorkflowRepository,
) -> None:
    await added(workflows, *(workflow(name) for name in ("busy", "pending", "recent", "idle", "released", "gone")))
    await workflows.try_acquire_trigger_lock("pending", execution_id="ex-p", now=T0)
    await workflows.mark_trigger_pending("pending", execution_id="ex-p")
    await workflows.try_acquire_trigger_lock("busy", execution_id="ex-b", now=T0 + seconds(1))
    await workflows.try_acquire_trigger_lock("recent", execution_id="ex-r", now=T0 + seconds(10))
    await workflows.try_acquire_trigger_lock("released", execution_id="ex-x", now=T0)
    await workflows.release_trigger_lock("released", execution_id="ex-x")
    await workflows.try_acquire_trigger_lock("gone", execution_id="ex-g", now=T0)
    await workflows.delete("gone", now=T0)

    locked = await workflows.find_locked_since(before=T0 + seconds(10), limit=10)

    assert [(w.workflow_id, w.trigger.execution_id) for w in locked.items] == [("pending", "ex-p"), ("busy", "ex-b")]
    assert locked.resume_after is None


async def test_find_locked_since_returns_at_most_limit_workflows(workflows: WorkflowRepository) -> None:
    await added(workflows, *(workflow(f"wf-{i}") for i in range(4)))
    for i in range(4):
        await workflows.try_acquire_trigger_lock(f"wf-{i}", execution_id=f"ex-{i}", now=T0 + seconds(i))

    locked = await workflows.find_locked_since(before=T0 + seconds(60), limit=2)

    assert [w.workflow_id for w in locked.items] == ["wf-0", "wf-1"]
    assert locked.resume_after == LockPosition(T0 + seconds(1), "wf-1")


async def _every_lock_page(workflows: WorkflowRepository, *, limit: int) -> list[list[str]]:
    pages: list[list[str]] = []
    after: LockPosition | None = None
    while True:
        page = await workflows.find_locked_since(before=T0 + seconds(60), after=after, limit=limit)
        pages.append([w.workflow_id for w in page.items])
        if page.resume_after is None:
            return pages
        after = page.resume_after
        assert len(pages) < 10, "the pages never end"


async def test_find_locked_since_resumes_strictly_after_the_position_it_handed_out(
    workflows: WorkflowRepository,
) -> None:
    await added(workflows, *(workflow(f"wf-{i}") for i in range(5)))
    for i in range(5):
        await workflows.try_acquire_trigger_lock(f"wf-{i}", execution_id=f"ex-{i}", now=T0 + seconds(i))

    pages = await _every_lock_page(workflows, limit=2)

    assert [i for page in pages for i in page] == [f"wf-{i}" for i in range(5)]
    assert all(len(page) <= 2 for page in pages)


async def test_find_locked_since_pages_through_locks_taken_in_the_same_millisecond(
    workflows: WorkflowRepository,
) -> None:
    # Ties on lockedAt are ordered by workflowId, and a page boundary inside a tie loses none and repeats none.
    await added(workflows, *(workflow(f"wf-{i}") for i in range(7)))
    await workflows.try_acquire_trigger_lock("wf-6", execution_id="ex-6", now=T0 - seconds(1))
    for i in range(6):
        await workflows.try_acquire_trigger_lock(f"wf-{i}", execution_id=f"ex-{i}", now=T0)

    pages = await _every_lock_page(workflows, limit=2)

    assert [i for page in pages for i in page] == ["wf-6", *(f"wf-{i}" for i in range(6))]


async def test_find_locked_since_after_a_position_leaves_out_locks_released_or_newer_than_the_horizon(
    workflows: WorkflowRepository,
) -> None:
    await added(workflows, *(workflow(f"wf-{i}") for i in range(4)))
    for i in range(4):
        await workflows.try_acquire_trigger_lock(f"wf-{i}", execution_id=f"ex-{i}", now=T0 + seconds(i))
    await workflows.release_trigger_lock("wf-1", execution_id="ex-1")

    page = await workflows.find_locked_since(before=T0 + seconds(3), after=LockPosition(T0, "wf-0"), limit=10)

    assert ([w.workflow_id for w in page.items], page.resume_after) == (["wf-2"], None)
