"""WorkflowRepository: the lock of a workflow with `concurrency.limit` k above 1 has k slots (the first is v1's
`status`/`executionId`, the others `holders`); of any number of concurrent takes exactly as many win as slots are
free, never one more."""

from __future__ import annotations

import asyncio

import pytest
from tests.contract.builders import T0, seconds, workflow

from wfa.domain.errors import TriggerLocked
from wfa.domain.execution import ExecutionStatus
from wfa.domain.workflow import TriggerStatus
from wfa.ports.repositories import SlotOutcome, WorkflowRepository


def limited(limit: int, **kwargs: object) -> object:
    return workflow("wf", concurrency={"limit": limit}, **kwargs)  # type: ignore[arg-type]


async def _take(workflows: WorkflowRepository, execution_id: str) -> bool:
    try:
        await workflows.try_acquire_trigger_lock("wf", execution_id=execution_id, now=T0 + seconds(1))
    except TriggerLocked:
        return False
    return True


@pytest.mark.parametrize("limit", [2, 3, 5])
async def test_concurrent_takes_on_limit_k_let_exactly_k_win(workflows: WorkflowRepository, limit: int) -> None:
    await workflows.add(limited(limit))  # type: ignore[arg-type]

    won = await asyncio.gather(*(_take(workflows, f"ex-{n}") for n in range(3 * limit)))

    assert sum(won) == limit
    stored = (await workflows.get("wf")).trigger
    holding = {stored.execution_id, *stored.holders}
    assert holding == {f"ex-{n}" for n, ok in enumerate(won) if ok}
    assert (stored.status, stored.running) == (TriggerStatus.BUSY, limit)


async def test_a_take_beyond_the_limit_is_refused_busy_naming_the_first_slot(workflows: WorkflowRepository) -> None:
    await workflows.add(limited(2))  # type: ignore[arg-type]
    await workflows.try_acquire_trigger_lock("wf", execution_id="ex-1", now=T0)
    await workflows.try_acquire_trigger_lock("wf", execution_id="ex-2", now=T0)

    with pytest.raises(TriggerLocked) as raised:
        await workflows.try_acquire_trigger_lock("wf", execution_id="ex-3", now=T0)

    assert (raised.value.reason, raised.value.execution_id) == ("busy", "ex-1")


async def test_a_released_other_slot_can_be_taken_again(workflows: WorkflowRepository) -> None:
    await workflows.add(limited(2))  # type: ignore[arg-type]
    await workflows.try_acquire_trigger_lock("wf", execution_id="ex-1", now=T0)
    await workflows.try_acquire_trigger_lock("wf", execution_id="ex-2", now=T0)

    assert await workflows.release_trigger_lock("wf", execution_id="ex-2")
    assert not await workflows.release_trigger_lock("wf", execution_id="ex-2")
    await workflows.try_acquire_trigger_lock("wf", execution_id="ex-3", now=T0)

    stored = (await workflows.get("wf")).trigger
    assert (stored.execution_id, stored.holders, stored.running) == ("ex-1", ["ex-3"], 2)


async def test_concluding_a_holder_of_another_slot_frees_it_and_counts_the_failure(
    workflows: WorkflowRepository,
) -> None:
    await workflows.add(limited(3))  # type: ignore[arg-type]
    for n in (1, 2, 3):
        await workflows.try_acquire_trigger_lock("wf", execution_id=f"ex-{n}", now=T0)

    concluded = await workflows.conclude_trigger_lock(
        "wf", execution_id="ex-2", status=ExecutionStatus.FAILED, pause_after_failures=None
    )
    again = await workflows.conclude_trigger_lock(
        "wf", execution_id="ex-2", status=ExecutionStatus.FAILED, pause_after_failures=None
    )

    stored = (await workflows.get("wf")).trigger
    assert (concluded.released, again.released) == (True, False)
    assert (stored.execution_id, stored.holders, stored.running, stored.consecutive_failures) == (
        "ex-1",
        ["ex-3"],
        2,
        1,
    )


async def test_limit_one_never_uses_the_other_slots(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf"))
    await workflows.try_acquire_trigger_lock("wf", execution_id="ex-1", now=T0)

    with pytest.raises(TriggerLocked):
        await workflows.try_acquire_trigger_lock("wf", execution_id="ex-2", now=T0)

    stored = (await workflows.get("wf")).trigger
    assert (stored.holders, stored.running) == ([], 1)


async def test_a_paused_workflow_takes_no_other_slot(workflows: WorkflowRepository) -> None:
    await workflows.add(limited(3))  # type: ignore[arg-type]
    await workflows.try_acquire_trigger_lock("wf", execution_id="ex-1", now=T0)
    await workflows.set_enabled("wf", enabled=False, next_run_at=None, now=T0)

    with pytest.raises(TriggerLocked) as raised:
        await workflows.try_acquire_trigger_lock("wf", execution_id="ex-2", now=T0)

    assert raised.value.reason == "paused"


async def test_a_scheduled_fire_takes_a_free_other_slot_and_skips_when_all_are_taken(
    workflows: WorkflowRepository,
) -> None:
    await workflows.add(limited(2, next_run_at=T0 + seconds(10)))  # type: ignore[arg-type]
    await workflows.try_acquire_trigger_lock("wf", execution_id="ex-1", now=T0)

    fired = await workflows.claim_schedule_slot(
        "wf", slot=T0 + seconds(10), next_run_at=T0 + seconds(20), execution_id="ex-2", now=T0 + seconds(10), limit=2
    )
    skipped = await workflows.claim_schedule_slot(
        "wf", slot=T0 + seconds(20), next_run_at=T0 + seconds(30), execution_id="ex-3", now=T0 + seconds(20), limit=2
    )

    assert (fired.outcome, skipped.outcome) == (SlotOutcome.FIRED, SlotOutcome.SKIPPED)
    stored = (await workflows.get("wf")).trigger
    assert (stored.holders, stored.skipped_fires, stored.fired_fires) == (["ex-2"], 1, 1)


async def test_concurrent_fires_and_takes_never_exceed_the_limit(workflows: WorkflowRepository) -> None:
    await workflows.add(limited(3, next_run_at=T0 + seconds(10)))  # type: ignore[arg-type]

    async def fire(n: int) -> bool:
        claim = await workflows.claim_schedule_slot(
            "wf", slot=T0 + seconds(10), next_run_at=T0 + seconds(20), execution_id=f"s-{n}", now=T0, limit=3
        )
        return claim.outcome is SlotOutcome.FIRED

    results = await asyncio.gather(*(_take(workflows, f"ex-{n}") for n in range(6)), *(fire(n) for n in range(3)))

    assert sum(results) == 3
    assert sum(results[6:]) <= 1  # a slot fires at most once, however many schedulers look
    assert (await workflows.get("wf")).trigger.running == 3


async def test_the_first_holder_of_the_other_slots_dates_the_list_for_the_repair_sweep(
    workflows: WorkflowRepository,
) -> None:
    await workflows.add(limited(3))  # type: ignore[arg-type]
    await workflows.try_acquire_trigger_lock("wf", execution_id="ex-1", now=T0)
    await workflows.try_acquire_trigger_lock("wf", execution_id="ex-2", now=T0 + seconds(1))
    await workflows.try_acquire_trigger_lock("wf", execution_id="ex-3", now=T0 + seconds(2))

    found = await workflows.find_holders_since(before=T0 + seconds(2), limit=10)
    not_yet = await workflows.find_holders_since(before=T0 + seconds(1), limit=10)

    assert [(w.workflow_id, w.trigger.holders_since, w.trigger.holders) for w in found] == [
        ("wf", T0 + seconds(1), ["ex-2", "ex-3"])
    ]
    assert not_yet == []


async def test_a_looked_at_list_is_dated_anew_and_an_empty_one_undated(workflows: WorkflowRepository) -> None:
    await workflows.add(limited(2))  # type: ignore[arg-type]
    await workflows.try_acquire_trigger_lock("wf", execution_id="ex-1", now=T0)
    await workflows.try_acquire_trigger_lock("wf", execution_id="ex-2", now=T0)

    await workflows.holders_looked_at("wf", since=T0, now=T0 + seconds(60), seen=["ex-2"])
    looked = (await workflows.get("wf")).trigger
    await workflows.release_trigger_lock("wf", execution_id="ex-2")
    await workflows.holders_looked_at("wf", since=T0 + seconds(60), now=T0 + seconds(120), seen=[])
    emptied = (await workflows.get("wf")).trigger

    assert (looked.holders_since, looked.holders_seen) == (T0 + seconds(60), ["ex-2"])
    assert (emptied.holders_since, emptied.holders_seen) == (None, [])
    await workflows.try_acquire_trigger_lock("wf", execution_id="ex-3", now=T0 + seconds(130))
    assert (await workflows.get("wf")).trigger.holders_since == T0 + seconds(130)
