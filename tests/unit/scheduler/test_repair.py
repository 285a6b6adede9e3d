from datetime import timedelta

from tests.unit.fakes import START, RecordingPublisher, add_workflow
from tests.unit.scheduler.fakes import run_until_pending, sample, seconds

from wfa.domain.clock import FakeClock
from wfa.domain.execution import ExecutionStatus
from wfa.domain.workflow import TriggerStatus
from wfa.service_layer.triggering import Triggering, trigger_manually
from wfa_scheduler.metrics import SchedulerMetrics
from wfa_scheduler.repair import Repair

AFTER = timedelta(seconds=30)  # both redispatch_after and repair_after
LEASE = timedelta(seconds=30)


def _repair(deps: Triggering, metrics: SchedulerMetrics, *, batch: int = 100) -> Repair:
    return Repair(deps, metrics=metrics, batch=batch, redispatch_after=AFTER, repair_after=AFTER, interval=seconds(5))


async def _start_running(deps: Triggering, owner: str = "runner-1", workflow_id: str = "w") -> str:
    """A manual execution that a runner has claimed (lease of 30 s from now)."""
    started = await trigger_manually(deps, workflow_id)
    now = deps.clock.now()
    claimed = await deps.executions.claim_for_run(
        started.execution.execution_id, attempt=1, owner=owner, lease_until=now + LEASE, now=now
    )
    assert claimed is not None
    return started.execution.execution_id


async def test_lock_whose_execution_is_missing_is_released_once_old_enough(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    await add_workflow(deps, {"type": "manual"})
    # A crash between taking the lock and storing the execution.
    await deps.workflows.try_acquire_trigger_lock("w", execution_id="ghost", now=START)
    repair = _repair(deps, metrics)

    clock.set(START + AFTER - timedelta(milliseconds=1))
    early = await repair.run_once(clock.now())
    clock.set(START + AFTER + seconds(1))
    late = await repair.run_once(clock.now())

    assert (early.released, late.released) == (0, 1)
    workflow = await deps.workflows.get("w")
    assert (workflow.trigger.status, workflow.trigger.execution_id) == (TriggerStatus.IDLE, None)
    assert sample(metrics.repairs, action="released") == 1


async def test_lock_of_an_execution_already_finished_is_released(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    await add_workflow(deps, {"type": "manual"})
    execution_id = await _start_running(deps)
    execution = await deps.executions.get(execution_id)
    execution.succeed(clock.now())
    assert await deps.executions.save_progress(execution, owner="runner-1", lease_until=clock.now() + LEASE)
    # ...and the runner died before releasing the lock.
    clock.set(START + AFTER + seconds(1))

    done = await _repair(deps, metrics).run_once(clock.now())

    assert done.released == 1
    assert (await deps.workflows.get("w")).trigger.status is TriggerStatus.IDLE


async def test_stalled_queued_execution_is_republished_once_per_window(
    deps: Triggering, clock: FakeClock, publisher: RecordingPublisher, metrics: SchedulerMetrics
) -> None:
    await add_workflow(deps, {"type": "manual"})
    publisher.down = True  # the request is lost between MongoDB and Kafka
    started = await trigger_manually(deps, "w")
    publisher.down = False
    repair = _repair(deps, metrics)

    clock.set(START + AFTER - seconds(1))
    early = await repair.run_once(clock.now())
    clock.set(START + AFTER + seconds(1))
    due = await repair.run_once(clock.now())
    clock.set(START + AFTER + seconds(6))
    next_sweep = await repair.run_once(clock.now())

    assert (early.republished, due.republished, next_sweep.republished) == (0, 1, 0)
    assert [(r.execution_id, r.attempt) for r in publisher.sent] == [(started.execution.execution_id, 1)]
    assert (await deps.workflows.get("w")).trigger.status is TriggerStatus.BUSY  # its lock is left alone


async def test_healthy_running_execution_is_left_alone(
    deps: Triggering, clock: FakeClock, publisher: RecordingPublisher, metrics: SchedulerMetrics
) -> None:
    await add_workflow(deps, {"type": "manual"})
    execution_id = await _start_running(deps)
    clock.set(START + AFTER * 3)
    assert await deps.executions.renew_lease(execution_id, owner="runner-1", lease_until=clock.now() + LEASE)

    done = await _repair(deps, metrics).run_once(clock.now())

    assert (done.republished, done.released, done.relocked) == (0, 0, 0)
    assert len(publisher.sent) == 1
    workflow = await deps.workflows.get("w")
    assert (workflow.trigger.status, workflow.trigger.execution_id) == (TriggerStatus.BUSY, execution_id)
    assert (await deps.executions.get(execution_id)).status is ExecutionStatus.RUNNING


async def test_running_execution_whose_runner_died_is_republished_for_its_attempt(
    deps: Triggering, clock: FakeClock, publisher: RecordingPublisher, metrics: SchedulerMetrics
) -> None:
    await add_workflow(deps, {"type": "manual"})
    execution_id = await _start_running(deps)
    repair = _repair(deps, metrics)

    clock.set(START + LEASE + seconds(1))
    first = await repair.run_once(clock.now())
    clock.set(clock.now() + seconds(5))
    soon_after = await repair.run_once(clock.now())  # no runner took it yet: still stalled, not sent again
    clock.set(clock.now() + AFTER)
    much_later = await repair.run_once(clock.now())

    assert (first.republished, soon_after.republished, much_later.republished) == (1, 0, 1)
    assert [(r.execution_id, r.attempt) for r in publisher.sent] == [(execution_id, 1)] * 3


async def test_pending_execution_holding_the_lock_is_left_alone(
    deps: Triggering, clock: FakeClock, publisher: RecordingPublisher, metrics: SchedulerMetrics
) -> None:
    await add_workflow(deps, {"type": "manual"})
    started = await trigger_manually(deps, "w")
    await run_until_pending(deps, started.execution.execution_id)
    clock.set(START + AFTER * 3)

    done = await _repair(deps, metrics).run_once(clock.now())

    assert (done.republished, done.released, done.relocked) == (0, 0, 0)
    assert (await deps.workflows.get("w")).trigger.status is TriggerStatus.PENDING


async def test_pending_lock_of_an_execution_queued_again_is_set_back_to_busy(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    await add_workflow(deps, {"type": "manual"})
    started = await trigger_manually(deps, "w")
    execution_id = started.execution.execution_id
    await run_until_pending(deps, execution_id)
    clock.set(START + seconds(2))
    # A scheduler crashed between claim_retry and mark_trigger_busy.
    assert await deps.executions.claim_retry(execution_id, now=clock.now()) is not None
    clock.set(START + AFTER + seconds(1))

    done = await _repair(deps, metrics).run_once(clock.now())

    assert done.relocked == 1
    workflow = await deps.workflows.get("w")
    assert (workflow.trigger.status, workflow.trigger.execution_id) == (TriggerStatus.BUSY, execution_id)


async def test_repair_during_a_broker_outage_tries_again_next_sweep(
    deps: Triggering, clock: FakeClock, publisher: RecordingPublisher, metrics: SchedulerMetrics
) -> None:
    await add_workflow(deps, {"type": "manual"})
    publisher.down = True
    started = await trigger_manually(deps, "w")
    repair = _repair(deps, metrics)

    clock.set(START + AFTER + seconds(1))
    during = await repair.run_once(clock.now())
    publisher.down = False
    clock.set(clock.now() + seconds(5))
    after = await repair.run_once(clock.now())

    assert (during.republished, after.republished) == (0, 1)
    assert [r.execution_id for r in publisher.sent] == [started.execution.execution_id]


async def test_a_crashed_lock_behind_a_full_batch_of_waiting_locks_is_released(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    # More locks than one batch, legitimately held by executions waiting for their retry, all older than the
    # one lock a crash left behind: a sweep that only ever reads the oldest batch would never reach it.
    for i in range(3):
        await add_workflow(deps, {"type": "manual"}, workflow_id=f"waiting-{i}")
        started = await trigger_manually(deps, f"waiting-{i}")
        await run_until_pending(deps, started.execution.execution_id)
    clock.set(START + seconds(1))
    await add_workflow(deps, {"type": "manual"}, workflow_id="crashed")
    await deps.workflows.try_acquire_trigger_lock("crashed", execution_id="ghost", now=clock.now())
    repair = _repair(deps, metrics, batch=2)

    clock.set(START + AFTER + seconds(2))
    passes = []
    for _ in range(3):  # the 4 locks take two batches of 2; one more pass for good measure
        passes.append(await repair.run_once(clock.now()))
        clock.set(clock.now() + seconds(5))

    assert sum(p.released for p in passes) == 1
    assert (await deps.workflows.get("crashed")).trigger.status is TriggerStatus.IDLE
    for i in range(3):
        assert (await deps.workflows.get(f"waiting-{i}")).trigger.status is TriggerStatus.PENDING


async def test_every_execution_whose_runner_died_is_republished_however_many_there_are(
    deps: Triggering, clock: FakeClock, publisher: RecordingPublisher, metrics: SchedulerMetrics
) -> None:
    ids = []
    for i in range(3):
        await add_workflow(deps, {"type": "manual"}, workflow_id=f"w{i}")
        ids.append(await _start_running(deps, workflow_id=f"w{i}"))
        clock.set(clock.now() + seconds(1))
    publisher.sent.clear()
    repair = _repair(deps, metrics, batch=2)

    # No runner takes them over: the first ones republished stay stalled, and must not crowd out the third.
    clock.set(START + LEASE + seconds(3))
    first = await repair.run_once(clock.now())
    clock.set(clock.now() + seconds(5))
    second = await repair.run_once(clock.now())

    assert (first.republished, second.republished) == (2, 1)
    assert sorted(r.execution_id for r in publisher.sent) == sorted(ids)


async def test_a_lost_request_is_republished_while_older_dead_runs_stay_stalled(
    deps: Triggering, clock: FakeClock, publisher: RecordingPublisher, metrics: SchedulerMetrics
) -> None:
    for i in range(2):
        await add_workflow(deps, {"type": "manual"}, workflow_id=f"w{i}")
        await _start_running(deps, workflow_id=f"w{i}")
    clock.set(START + seconds(1))
    await add_workflow(deps, {"type": "manual"}, workflow_id="lost")
    publisher.down = True
    lost = await trigger_manually(deps, "lost")
    publisher.down = False
    publisher.sent.clear()
    repair = _repair(deps, metrics, batch=2)

    clock.set(START + AFTER + seconds(2))
    passes = []
    for _ in range(2):
        passes.append(await repair.run_once(clock.now()))
        clock.set(clock.now() + seconds(5))

    assert lost.execution.execution_id in [r.execution_id for r in publisher.sent]
    assert sum(p.republished for p in passes) == 3


async def test_another_slot_whose_execution_is_missing_is_released_at_the_next_look_even_by_another_process(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    await add_workflow(deps, {"type": "manual"}, concurrency={"limit": 3})
    first = await _start_running(deps)
    # A crash between taking the second slot and storing its execution.
    await deps.workflows.try_acquire_trigger_lock("w", execution_id="ghost", now=START)

    clock.set(START + AFTER + seconds(1))
    # The list is old, but "ghost" may have taken its slot just now: seen, not released.
    seen = await _repair(deps, metrics).run_once(clock.now())
    clock.set(START + 2 * AFTER + seconds(2))
    released = await _repair(deps, metrics).run_once(clock.now())  # a restarted scheduler

    assert (seen.released, released.released) == (0, 1)
    trigger = (await deps.workflows.get("w")).trigger
    assert (trigger.execution_id, trigger.holders, trigger.running) == (first, [], 1)


async def test_another_slot_of_a_finished_execution_is_released_and_live_ones_kept(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    await add_workflow(deps, {"type": "manual"}, concurrency={"limit": 3})
    first = await _start_running(deps)
    finished = await _start_running(deps)
    live = await _start_running(deps)
    execution = await deps.executions.get(finished)
    execution.succeed(clock.now())
    assert await deps.executions.save_progress(execution, owner="runner-1", lease_until=clock.now() + LEASE)
    # ...and the runner died before releasing its slot.
    clock.set(START + AFTER + seconds(1))

    done = await _repair(deps, metrics).run_once(clock.now())

    assert done.released == 1
    trigger = (await deps.workflows.get("w")).trigger
    assert (trigger.execution_id, trigger.holders, trigger.holders_since) == (first, [live], clock.now())


async def test_an_emptied_list_of_holders_is_undated_and_no_longer_looked_at(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    await add_workflow(deps, {"type": "manual"}, concurrency={"limit": 2})
    await _start_running(deps)
    second = await _start_running(deps)
    await deps.workflows.release_trigger_lock("w", execution_id=second)
    clock.set(START + AFTER + seconds(1))

    await _repair(deps, metrics).run_once(clock.now())

    assert (await deps.workflows.get("w")).trigger.holders_since is None
    assert await deps.workflows.find_holders_since(before=clock.now() + AFTER, limit=10) == []


QUEUE = {"whenBusy": "queue"}


async def test_a_holder_whose_wait_never_ended_gets_its_request_sent(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    await add_workflow(deps, {"type": "manual"}, concurrency=QUEUE)
    first = await _start_running(deps)
    waiting = (await trigger_manually(deps, "w")).execution.execution_id
    # The first one ends and its slot goes to the head of the queue; the process dies before ending the wait.
    await deps.workflows.release_trigger_lock("w", execution_id=first)
    assert await deps.workflows.start_waiting("w", head=waiting, now=clock.now(), limit=1)
    publisher = deps.publisher
    assert isinstance(publisher, RecordingPublisher)
    clock.set(START + AFTER + seconds(1))

    await _repair(deps, metrics).run_once(clock.now())

    assert publisher.sent[-1].execution_id == waiting
    assert (await deps.executions.get(waiting)).waiting is False
    assert sample(metrics.repairs, action="wait_ended") == 1


async def test_a_queue_left_behind_a_freed_slot_is_started_after_the_repair_time(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    await add_workflow(deps, {"type": "manual"}, concurrency=QUEUE)
    first = await _start_running(deps)
    waiting = (await trigger_manually(deps, "w")).execution.execution_id
    # The first one's process frees the slot and dies before passing it on.
    await deps.workflows.release_trigger_lock("w", execution_id=first)

    clock.set(START + AFTER - seconds(1))
    early = await _repair(deps, metrics).run_once(clock.now())
    clock.set(START + AFTER + seconds(1))
    late = await _repair(deps, metrics).run_once(clock.now())

    assert (early.started, late.started) == (0, 1)
    trigger = (await deps.workflows.get("w")).trigger
    assert (trigger.execution_id, trigger.waiting, trigger.waiting_since) == (waiting, [], clock.now())
    assert sample(metrics.repairs, action="queue_moved") == 1


async def test_a_queue_behind_a_live_holder_is_dated_anew_and_left_waiting(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    await add_workflow(deps, {"type": "manual"}, concurrency=QUEUE)
    first = await _start_running(deps)
    waiting = (await trigger_manually(deps, "w")).execution.execution_id
    clock.set(START + AFTER + seconds(1))

    done = await _repair(deps, metrics).run_once(clock.now())

    trigger = (await deps.workflows.get("w")).trigger
    assert done.started == 0
    assert (trigger.execution_id, trigger.waiting, trigger.waiting_since) == (first, [waiting], clock.now())
    assert await deps.workflows.find_waiting_since(before=clock.now(), limit=10) == []


async def test_a_queue_entry_whose_execution_is_missing_is_passed_over_once_its_slot_is_repaired(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    await add_workflow(deps, {"type": "manual"}, concurrency=QUEUE)
    first = await _start_running(deps)
    # A crash between joining the queue and storing the execution, then a real one behind it.
    await deps.workflows.join_queue("w", execution_id="ghost", now=clock.now())
    behind = (await trigger_manually(deps, "w")).execution.execution_id
    execution = await deps.executions.get(first)
    execution.succeed(clock.now())
    assert await deps.executions.save_progress(execution, owner="runner-1", lease_until=clock.now() + LEASE)
    await deps.workflows.release_trigger_lock("w", execution_id=first)
    started = await deps.workflows.start_waiting("w", head="ghost", now=clock.now(), limit=1)

    clock.set(START + AFTER + seconds(1))
    await _repair(deps, metrics).run_once(clock.now())

    assert started
    trigger = (await deps.workflows.get("w")).trigger
    assert (trigger.execution_id, trigger.waiting) == (behind, [])
    assert (await deps.executions.get(behind)).waiting is False


async def test_a_cancel_that_died_after_its_waiting_execution_left_the_queue_is_completed(
    deps: Triggering, clock: FakeClock, publisher: RecordingPublisher, metrics: SchedulerMetrics
) -> None:
    await add_workflow(deps, {"type": "manual"}, concurrency=QUEUE)
    await _start_running(deps)
    waiting = (await trigger_manually(deps, "w")).execution.execution_id
    # The cancel's process marks the execution and takes it out of the queue, then dies before recording the cancel:
    # the execution is in no queue and no slot, and was never dispatched.
    await deps.executions.request_cancel(waiting, now=clock.now())
    await deps.workflows.release_trigger_lock("w", execution_id=waiting)
    clock.set(START + AFTER + seconds(1))

    await _repair(deps, metrics).run_once(clock.now())

    cancelled = await deps.executions.get(waiting)
    assert (cancelled.status, cancelled.waiting) == (ExecutionStatus.CANCELLED, False)
    assert waiting not in [r.execution_id for r in publisher.sent]
    assert sample(metrics.repairs, action="cancel_completed") == 1
