"""WorkflowRepository: the outcomes of slots logged in the claim's own write, and the backlog of slots fired one
after another (catch-up of `catchup: all`, backfills)."""

from __future__ import annotations

from datetime import datetime

from tests.contract.builders import T0, seconds, workflow

from wfa.domain.schedule import FirePlan, Missed
from wfa.domain.workflow import RECENT_FIRES, BacklogSlot, FireOutcome, TriggerStatus, Workflow
from wfa.ports.repositories import SlotOutcome, WorkflowRepository

SLOT = T0 + seconds(10)
NEXT = T0 + seconds(20)


def _outcomes(wf: Workflow) -> list[tuple[datetime, FireOutcome, str | None]]:
    return [(record.slot, record.outcome, record.execution_id) for record in wf.trigger.recent_fires]


async def test_a_fire_logs_its_slot_and_counts_it(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf", next_run_at=SLOT))

    await workflows.claim_schedule_slot("wf", slot=SLOT, next_run_at=NEXT, execution_id="ex-1", now=SLOT)

    stored = await workflows.get("wf")
    assert stored.trigger.fired_fires == 1
    assert _outcomes(stored) == [(SLOT, FireOutcome.FIRED, "ex-1")]


async def test_a_skip_logs_its_slot(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf", next_run_at=SLOT))
    await workflows.try_acquire_trigger_lock("wf", execution_id="ex-manual", now=T0)

    await workflows.claim_schedule_slot("wf", slot=SLOT, next_run_at=NEXT, execution_id="ex-1", now=SLOT)

    assert _outcomes(await workflows.get("wf")) == [(SLOT, FireOutcome.SKIPPED, None)]


async def test_missed_slots_are_counted_and_logged_with_the_fire(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf", next_run_at=SLOT))
    late = SLOT + seconds(20)
    plan = FirePlan(fires=late, next_run_at=late + seconds(10), missed=Missed(2, (SLOT, SLOT + seconds(10))))

    claim = await workflows.claim_schedule_slot(
        "wf", slot=SLOT, next_run_at=plan.next_run_at, execution_id="ex-1", now=late, plan=plan
    )

    assert claim.outcome is SlotOutcome.FIRED
    stored = await workflows.get("wf")
    assert (stored.trigger.missed_fires, stored.trigger.fired_fires) == (2, 1)
    assert _outcomes(stored) == [
        (SLOT, FireOutcome.MISSED, None),
        (SLOT + seconds(10), FireOutcome.MISSED, None),
        (late, FireOutcome.FIRED, "ex-1"),
    ]


async def test_a_plan_that_fires_nothing_passes_whatever_the_lock(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf", next_run_at=SLOT))
    await workflows.try_acquire_trigger_lock("wf", execution_id="ex-manual", now=T0)
    plan = FirePlan(fires=None, next_run_at=NEXT, missed=Missed(1, (SLOT,)))

    claim = await workflows.claim_schedule_slot(
        "wf", slot=SLOT, next_run_at=NEXT, execution_id="ex-1", now=SLOT, plan=plan
    )
    again = await workflows.claim_schedule_slot(
        "wf", slot=SLOT, next_run_at=NEXT, execution_id="ex-2", now=SLOT, plan=plan
    )

    assert (claim.outcome, again.outcome) == (SlotOutcome.PASSED, SlotOutcome.LOST)
    stored = await workflows.get("wf")
    assert (stored.trigger.next_run_at, stored.trigger.missed_fires, stored.trigger.execution_id) == (
        NEXT,
        1,
        "ex-manual",
    )


async def test_the_log_keeps_only_the_last_outcomes(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf", next_run_at=SLOT))
    missed = tuple(SLOT + seconds(k) for k in range(RECENT_FIRES + 5))
    plan = FirePlan(fires=None, next_run_at=NEXT, missed=Missed(len(missed), missed))

    await workflows.claim_schedule_slot("wf", slot=SLOT, next_run_at=NEXT, execution_id="ex", now=SLOT, plan=plan)

    stored = await workflows.get("wf")
    assert [record.slot for record in stored.trigger.recent_fires] == list(missed[-RECENT_FIRES:])
    assert stored.trigger.missed_fires == RECENT_FIRES + 5


async def test_an_update_keeps_the_counters_the_log_and_the_backlog(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf", next_run_at=SLOT))
    await workflows.claim_schedule_slot("wf", slot=SLOT, next_run_at=NEXT, execution_id="ex-1", now=SLOT)
    await workflows.add_to_backlog("wf", [BacklogSlot(slot=T0, backfill=True)])
    stored = await workflows.get("wf")
    revised = stored.model_copy(deep=True)
    revised.name = "renamed"
    revised.version = stored.version + 1
    revised.trigger.fired_fires = 0
    revised.trigger.recent_fires = []
    revised.trigger.backlog = []

    updated = await workflows.replace_definition(revised, expected_version=stored.version, reschedule=False)

    assert (updated.name, updated.trigger.fired_fires, len(updated.trigger.recent_fires)) == ("renamed", 1, 1)
    assert [entry.slot for entry in updated.trigger.backlog] == [T0]


# -- the backlog ---------------------------------------------------------------------------------------------------


async def test_backlog_slots_are_kept_oldest_first_and_found_when_due(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf", next_run_at=NEXT))
    await workflows.add_to_backlog("wf", [BacklogSlot(slot=T0 + seconds(3), backfill=True)])
    await workflows.add_to_backlog(
        "wf", [BacklogSlot(slot=T0 + seconds(1), backfill=False), BacklogSlot(slot=T0 + seconds(2), backfill=True)]
    )

    due = await workflows.due_backlogs(now=T0 + seconds(1), limit=10)
    not_yet = await workflows.due_backlogs(now=T0, limit=10)

    assert [w.workflow_id for w in due] == ["wf"]
    assert [(entry.slot, entry.backfill) for entry in due[0].trigger.backlog] == [
        (T0 + seconds(1), False),
        (T0 + seconds(2), True),
        (T0 + seconds(3), True),
    ]
    assert not_yet == []


async def test_the_lock_is_taken_for_the_backlogs_first_slot_only(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf", next_run_at=NEXT))
    await workflows.add_to_backlog("wf", [BacklogSlot(slot=T0, backfill=True), BacklogSlot(slot=SLOT, backfill=True)])

    second = await workflows.take_lock_for_backlog_slot("wf", slot=SLOT, execution_id="ex-2", now=SLOT)
    first = await workflows.take_lock_for_backlog_slot("wf", slot=T0, execution_id="ex-1", now=SLOT)
    again = await workflows.take_lock_for_backlog_slot("wf", slot=T0, execution_id="ex-3", now=SLOT)

    assert (second, first, again) == (False, True, False)
    stored = await workflows.get("wf")
    assert (stored.trigger.status, stored.trigger.execution_id, stored.trigger.fired_fires) == (
        TriggerStatus.BUSY,
        "ex-1",
        1,
    )
    assert _outcomes(stored) == [(T0, FireOutcome.FIRED, "ex-1")]
    assert [entry.slot for entry in stored.trigger.backlog] == [T0, SLOT]  # until its execution is stored


async def test_dropping_the_first_slot_moves_the_backlog_on(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf", next_run_at=NEXT))
    await workflows.add_to_backlog("wf", [BacklogSlot(slot=T0, backfill=True), BacklogSlot(slot=SLOT, backfill=True)])

    await workflows.drop_backlog_slot("wf", slot=SLOT)  # not the head: nothing
    await workflows.drop_backlog_slot("wf", slot=T0)
    await workflows.drop_backlog_slot("wf", slot=T0)  # a repeated drop: nothing

    assert [w.trigger.backlog_next for w in await workflows.due_backlogs(now=NEXT, limit=10)] == [SLOT]
    await workflows.drop_backlog_slot("wf", slot=SLOT)
    assert await workflows.due_backlogs(now=NEXT, limit=10) == []


async def test_a_paused_workflows_backlog_waits(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf", next_run_at=NEXT))
    await workflows.add_to_backlog("wf", [BacklogSlot(slot=T0, backfill=True)])
    await workflows.set_enabled("wf", enabled=False, next_run_at=NEXT, now=T0)

    assert await workflows.due_backlogs(now=NEXT, limit=10) == []
    assert not await workflows.take_lock_for_backlog_slot("wf", slot=T0, execution_id="ex", now=T0)
