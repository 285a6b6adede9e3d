"""`whenBusy: queue` in the one path that starts executions: joining the queue, starting its head as slots free,
scheduled fires that wait, and what a crash between the writes leaves for the repair sweep."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest
from tests.unit.fakes import START, RecordingPublisher, add_workflow

from wfa.domain.clock import FakeClock
from wfa.domain.errors import QueueFull
from wfa.domain.execution import Execution, ExecutionPlan, ExecutionStatus, Reason
from wfa.ports.repositories import SlotOutcome
from wfa.service_layer import finishing
from wfa.service_layer.triggering import (
    Triggering,
    TriggerStep,
    _started_or_waiting,
    fire_schedule,
    start_waiting,
    trigger_manually,
)


def queue(limit: int = 1, queue_max: int = 100) -> dict[str, object]:
    return {"limit": limit, "whenBusy": "queue", "queueMax": queue_max}


def _sent(deps: Triggering) -> list[str]:
    assert isinstance(deps.publisher, RecordingPublisher)
    return [request.execution_id for request in deps.publisher.sent]


async def _finish(deps: Triggering, execution_id: str) -> bool:
    """As the runner ends an execution: the slot released, then the record, then the next one started. Whether it
    was still waiting (ended before it started)."""
    execution = await deps.executions.get(execution_id)
    await finishing.release(deps.workflows, workflow_id="w", execution_id=execution_id)
    await deps.executions.cancel(execution.execution_id, now=deps.clock.now())
    await start_waiting(deps, "w")
    return execution.waiting


async def test_waiting_executions_start_one_per_freed_slot_in_the_order_they_joined(deps: Triggering) -> None:
    await add_workflow(deps, {"type": "manual"}, concurrency=queue(limit=2))
    results = [await trigger_manually(deps, "w") for _ in range(5)]

    sent_at_first = _sent(deps)
    await _finish(deps, "e2")
    await _finish(deps, "e1")
    trigger = (await deps.workflows.get("w")).trigger

    assert [r.execution.waiting for r in results] == [False, False, True, True, True]
    assert sent_at_first == ["e1", "e2"]
    assert _sent(deps) == ["e1", "e2", "e3", "e4"]
    assert (sorted(trigger.holder_ids()), trigger.waiting, trigger.running, trigger.queued) == (
        ["e3", "e4"],
        ["e5"],
        2,
        1,
    )


async def test_a_full_queue_refuses_with_queue_full_and_stores_nothing(deps: Triggering) -> None:
    await add_workflow(deps, {"type": "manual"}, concurrency=queue(queue_max=1))
    await trigger_manually(deps, "w")
    await trigger_manually(deps, "w")

    with pytest.raises(QueueFull) as full:
        await trigger_manually(deps, "w")

    assert (full.value.reason, full.value.execution_id) == ("queue_full", "e1")
    with pytest.raises(Exception, match="e3"):
        await deps.executions.get("e3")


async def test_of_many_concurrent_triggers_never_more_than_the_limit_hold_slots(deps: Triggering) -> None:
    await add_workflow(deps, {"type": "manual"}, concurrency=queue(limit=3, queue_max=50))

    ended_waiting: set[str] = set()

    async def trigger_and_maybe_finish(n: int) -> None:
        result = await trigger_manually(deps, "w")
        if n % 2 == 0 and await _finish(deps, result.execution.execution_id):
            ended_waiting.add(result.execution.execution_id)

    await asyncio.gather(*(trigger_and_maybe_finish(n) for n in range(30)))
    for _ in range(30):
        trigger = (await deps.workflows.get("w")).trigger
        assert trigger.running <= 3
        if not trigger.holder_ids():
            break
        await _finish(deps, trigger.holder_ids()[0])

    trigger = (await deps.workflows.get("w")).trigger
    assert (trigger.running, trigger.waiting) == (0, [])
    sent = _sent(deps)
    assert len(sent) == len(set(sent))  # each request sent once
    # Each one either started (its request sent) or was ended while it still waited (never sent).
    records = [await deps.executions.get(f"e{n}") for n in range(1, 31)]
    assert all((record.execution_id in sent) != (record.execution_id in ended_waiting) for record in records)
    assert {record.status for record in records} == {ExecutionStatus.CANCELLED}


async def test_a_scheduled_fire_on_a_full_lock_waits_instead_of_being_skipped(deps: Triggering) -> None:
    await add_workflow(deps, {"type": "periodic", "interval": "1s"}, concurrency=queue())
    assert isinstance(deps.clock, FakeClock)
    outcomes = []
    for _ in range(3):
        deps.clock.advance(timedelta(seconds=1))
        outcomes.append(await fire_schedule(deps, await deps.workflows.get("w")))

    trigger = (await deps.workflows.get("w")).trigger
    assert outcomes == [SlotOutcome.FIRED, SlotOutcome.QUEUED, SlotOutcome.QUEUED]
    assert (trigger.skipped_fires, trigger.fired_fires, trigger.waiting) == (0, 3, ["e2", "e3"])
    assert (await deps.executions.get("e2")).scheduled_for == START + timedelta(seconds=2)
    assert _sent(deps) == ["e1"]


def _crashing(deps: Triggering, at: TriggerStep) -> Triggering:
    class Crashed(Exception):
        pass

    def checkpoint(step: TriggerStep) -> None:
        if step is at:
            raise Crashed(step.value)

    return replace(deps, checkpoint=checkpoint)


async def test_a_crash_after_joining_leaves_an_entry_without_an_execution(deps: Triggering) -> None:
    await add_workflow(deps, {"type": "manual"}, concurrency=queue())
    await trigger_manually(deps, "w")

    with pytest.raises(Exception, match="after_lock"):
        await trigger_manually(_crashing(deps, TriggerStep.AFTER_LOCK), "w")

    assert (await deps.workflows.get("w")).trigger.waiting == ["e2"]
    with pytest.raises(Exception, match="e2"):
        await deps.executions.get("e2")


async def test_a_crash_after_storing_a_waiting_execution_leaves_it_waiting_unsent(deps: Triggering) -> None:
    await add_workflow(deps, {"type": "manual"}, concurrency=queue())
    await trigger_manually(deps, "w")

    with pytest.raises(Exception, match="after_store"):
        await trigger_manually(_crashing(deps, TriggerStep.AFTER_STORE), "w")

    stored = await deps.executions.get("e2")
    assert (stored.status, stored.waiting) == (ExecutionStatus.QUEUED, True)
    assert _sent(deps) == ["e1"]
    assert await deps.executions.find_unconsumed(dispatched_before=START + timedelta(days=1), limit=10) != [stored]


async def test_a_head_moved_into_a_slot_before_its_record_was_stored_is_started_by_its_own_trigger(
    deps: Triggering,
) -> None:
    await add_workflow(deps, {"type": "manual"}, concurrency=queue())
    await trigger_manually(deps, "w")
    # The holder ends while the next trigger is between joining and storing: the slot goes to it, unsent.
    joined = await deps.workflows.join_queue("w", execution_id="late", now=deps.clock.now())
    await finishing.release(deps.workflows, workflow_id="w", execution_id="e1")
    started_without_record = await start_waiting(deps, "w")

    late = Execution.queued(execution_id="late", workflow=joined, reason=Reason.MANUAL, input=None, now=START)
    late.wait_for_slot()
    await deps.executions.add(late, ExecutionPlan.of(joined), idempotency_key=None)
    started = await _started_or_waiting(deps, late)

    assert started_without_record == []
    assert (started.waiting, _sent(deps)) == (False, ["e1", "late"])
