import asyncio
from datetime import timedelta

import pytest
from tests.unit.fakes import START, RecordingPublisher, add_workflow
from tests.unit.scheduler.fakes import CountingWorkflows, histogram_sum, sample, seconds

from wfa.domain.clock import FakeClock
from wfa.domain.errors import DependencyUnavailable
from wfa.domain.execution import ExecutionStatus, Reason
from wfa.domain.workflow import TriggerStatus
from wfa.events import ExecutionRequest
from wfa.ports.repositories import ExecutionFilter, SlotOutcome
from wfa.service_layer.triggering import Triggering, trigger_manually
from wfa_scheduler.firing import Firing
from wfa_scheduler.metrics import SchedulerMetrics

TEN_S = {"type": "periodic", "interval": "10s"}


def _firing(deps: Triggering, metrics: SchedulerMetrics, *, batch: int = 100, concurrency: int = 16) -> Firing:
    return Firing(deps, metrics=metrics, batch=batch, concurrency=concurrency)


async def _finish(deps: Triggering, workflow_id: str = "w") -> None:
    """What the runner does when an execution ends: free the lock."""
    workflow = await deps.workflows.get(workflow_id)
    assert workflow.trigger.execution_id is not None
    assert await deps.workflows.release_trigger_lock(workflow_id, execution_id=workflow.trigger.execution_id)


async def _executions(deps: Triggering, workflow_id: str = "w") -> list[tuple[str, object]]:
    page = await deps.executions.newest_first(ExecutionFilter(workflow_id=workflow_id), limit=500, cursor=None)
    return [(e.execution_id, e.created_at) for e in reversed(page.items)]


async def test_periodic_workflow_fires_at_each_interval_after_creation(
    deps: Triggering, clock: FakeClock, publisher: RecordingPublisher, metrics: SchedulerMetrics
) -> None:
    await add_workflow(deps, TEN_S)
    firing = _firing(deps, metrics)

    for k in (1, 2, 3):
        clock.set(START + seconds(10 * k))
        done = await firing.run_once(clock.now())
        assert done.count(SlotOutcome.FIRED) == 1
        await _finish(deps)

    assert await _executions(deps) == [
        ("e1", START + seconds(10)),
        ("e2", START + seconds(20)),
        ("e3", START + seconds(30)),
    ]
    assert [(r.execution_id, r.reason, r.attempt) for r in publisher.sent] == [
        ("e1", Reason.SCHEDULE, 1),
        ("e2", Reason.SCHEDULE, 1),
        ("e3", Reason.SCHEDULE, 1),
    ]
    assert (await deps.workflows.get("w")).trigger.next_run_at == START + seconds(40)


async def test_nothing_fires_before_the_first_slot(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    await add_workflow(deps, TEN_S)
    clock.set(START + timedelta(seconds=9, milliseconds=999))

    done = await _firing(deps, metrics).run_once(clock.now())

    assert done.due == 0
    assert await _executions(deps) == []


async def test_due_slot_of_a_busy_workflow_is_skipped_and_the_grid_kept(
    deps: Triggering, clock: FakeClock, publisher: RecordingPublisher, metrics: SchedulerMetrics
) -> None:
    await add_workflow(deps, TEN_S)
    clock.set(START + seconds(5))
    manual = await trigger_manually(deps, "w")
    clock.set(START + timedelta(seconds=10, milliseconds=250))

    done = await _firing(deps, metrics).run_once(clock.now())

    assert done.count(SlotOutcome.SKIPPED) == 1
    workflow = await deps.workflows.get("w")
    assert workflow.trigger.skipped_fires == 1
    assert (workflow.trigger.status, workflow.trigger.execution_id) == (
        TriggerStatus.BUSY,
        manual.execution.execution_id,
    )
    assert workflow.trigger.next_run_at == START + seconds(20)
    assert [e for e, _ in await _executions(deps)] == [manual.execution.execution_id]
    assert [r.reason for r in publisher.sent] == [Reason.MANUAL]
    assert sample(metrics.fires, outcome="skipped") == 1


async def test_pending_workflow_skips_its_slot_too(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    await add_workflow(deps, TEN_S)
    manual = await trigger_manually(deps, "w")
    assert await deps.workflows.mark_trigger_pending("w", execution_id=manual.execution.execution_id)
    clock.set(START + seconds(10))

    done = await _firing(deps, metrics).run_once(clock.now())

    assert done.count(SlotOutcome.SKIPPED) == 1
    assert (await deps.workflows.get("w")).trigger.status is TriggerStatus.PENDING


async def test_after_downtime_missed_slots_collapse_into_one_fire(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    await add_workflow(deps, TEN_S)
    firing = _firing(deps, metrics)
    clock.set(START + timedelta(seconds=10 * 11, milliseconds=700))  # slots 1..11 all passed unseen

    first = await firing.run_once(clock.now())
    again = await firing.run_once(clock.now())

    assert (first.count(SlotOutcome.FIRED), again.due) == (1, 0)
    assert len(await _executions(deps)) == 1
    assert (await deps.workflows.get("w")).trigger.next_run_at == START + seconds(120)


async def test_paused_workflow_never_fires(deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics) -> None:
    await add_workflow(deps, TEN_S)
    await deps.workflows.set_enabled("w", enabled=False, next_run_at=None, now=START)
    clock.set(START + timedelta(hours=1))

    done = await _firing(deps, metrics).run_once(clock.now())

    assert done.due == 0
    assert await _executions(deps) == []


async def test_paused_workflow_whose_slot_stayed_stored_never_fires(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    await add_workflow(deps, TEN_S)
    await deps.workflows.set_enabled("w", enabled=False, next_run_at=START + seconds(10), now=START)
    clock.set(START + timedelta(hours=1))

    await _firing(deps, metrics).run_once(clock.now())

    assert await _executions(deps) == []


async def test_manual_workflow_never_fires(deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics) -> None:
    await add_workflow(deps, {"type": "manual"})
    clock.set(START + timedelta(days=400))

    done = await _firing(deps, metrics).run_once(clock.now())

    assert done.due == 0
    assert await _executions(deps) == []


async def test_cron_workflow_fires_on_its_expression(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    await add_workflow(deps, {"type": "cron", "cron": "*/15 * * * *"})
    firing = _firing(deps, metrics)
    clock.set(START + timedelta(minutes=15, milliseconds=40))

    done = await firing.run_once(clock.now())

    assert done.count(SlotOutcome.FIRED) == 1
    assert (await deps.workflows.get("w")).trigger.next_run_at == START + timedelta(minutes=30)


async def test_two_schedulers_fire_each_slot_exactly_once(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    for n in range(20):
        await add_workflow(deps, TEN_S, workflow_id=f"w{n}")
    # Both instances share one store; every call yields, so their passes truly interleave.
    shared = Triggering(
        workflows=deps.workflows,
        executions=deps.executions,
        publisher=deps.publisher,
        clock=deps.clock,
        new_id=deps.new_id,
    )
    a, b = _firing(shared, metrics), _firing(shared, metrics)

    outcomes: list[SlotOutcome] = []
    for k in (1, 2, 3):
        clock.set(START + seconds(10 * k))
        passes = await asyncio.gather(a.run_once(clock.now()), b.run_once(clock.now()))
        outcomes += [o for p in passes for o, n in p.outcomes.items() for _ in range(n)]
        for n in range(20):
            await _finish(deps, f"w{n}")

    assert outcomes.count(SlotOutcome.FIRED) == 60
    assert outcomes.count(SlotOutcome.LOST) == 60  # each instance saw every slot due: the race was real
    for n in range(20):
        assert len(await _executions(deps, f"w{n}")) == 3


async def test_due_workflows_fire_side_by_side_within_the_bound(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    class SlowPublisher:
        def __init__(self) -> None:
            self.in_flight = 0
            self.most = 0

        async def publish(self, request: ExecutionRequest) -> None:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            await asyncio.sleep(0.01)
            self.in_flight -= 1

    slow = SlowPublisher()
    for n in range(40):
        await add_workflow(deps, TEN_S, workflow_id=f"w{n:02}")
    firing = _firing(Triggering(deps.workflows, deps.executions, slow, deps.clock, deps.new_id), metrics, concurrency=8)
    clock.set(START + seconds(10))

    done = await firing.run_once(clock.now())

    assert done.count(SlotOutcome.FIRED) == 40
    assert slow.most == 8


async def test_a_pass_takes_at_most_one_batch_earliest_first(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    for n, interval in enumerate(("30s", "10s", "20s")):
        await add_workflow(deps, {"type": "periodic", "interval": interval}, workflow_id=f"w{n}")
    clock.set(START + seconds(30))

    done = await _firing(deps, metrics, batch=2).run_once(clock.now())

    assert done.due == 2
    assert [w for w in ("w0", "w1", "w2") if await _executions(deps, w)] == ["w1", "w2"]


async def test_an_outage_mid_pass_is_raised_after_every_due_workflow_was_tried(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    class FlakyClaims:
        def __init__(self, inner: object) -> None:
            self._inner = inner

        def __getattr__(self, name: str) -> object:
            return getattr(self._inner, name)

        async def claim_schedule_slot(self, workflow_id: str, **kwargs: object) -> object:
            if workflow_id == "w0":
                raise DependencyUnavailable("mongodb", "connection reset")
            return await self._inner.claim_schedule_slot(workflow_id, **kwargs)  # type: ignore[attr-defined]

    for n in range(3):
        await add_workflow(deps, TEN_S, workflow_id=f"w{n}")
    flaky = Triggering(FlakyClaims(deps.workflows), deps.executions, deps.publisher, deps.clock, deps.new_id)  # type: ignore[arg-type]
    clock.set(START + seconds(10))

    with pytest.raises(DependencyUnavailable):
        await _firing(flaky, metrics).run_once(clock.now())

    assert [bool(await _executions(deps, f"w{n}")) for n in range(3)] == [False, True, True]


async def test_fires_are_counted_by_outcome_with_their_lateness(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    await add_workflow(deps, TEN_S)
    clock.set(START + timedelta(seconds=10, milliseconds=30))

    await _firing(deps, metrics).run_once(clock.now())

    assert sample(metrics.fires, outcome="fired") == 1
    assert sample(metrics.fire_lateness) == 1
    assert histogram_sum(metrics.fire_lateness) == pytest.approx(0.03)


async def test_step_arms_the_next_slot_then_fires_it_when_it_comes(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    await add_workflow(deps, TEN_S)
    firing = _firing(deps, metrics)
    clock.set(START + timedelta(seconds=9, milliseconds=500))

    assert await firing.step() == pytest.approx(0.501)  # found by the look ahead: sleep until its slot
    clock.set(START + seconds(10))
    assert await firing.step() == pytest.approx(0.501)  # fired; the next look is due before the horizon (10.6 s)
    await firing.drain()

    assert [e for e, _ in await _executions(deps)] == ["e1"]


async def test_step_beyond_the_lookahead_looks_again_a_second_later(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    await add_workflow(deps, TEN_S)
    clock.set(START + seconds(5))

    assert await _firing(deps, metrics).step() == pytest.approx(1.001)


async def test_step_looks_again_when_woken_before_the_planned_moment(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    await add_workflow(deps, {"type": "periodic", "interval": "1h"})
    firing = _firing(deps, metrics)
    assert await firing.step() == pytest.approx(1.001)

    clock.set(START + timedelta(milliseconds=200))
    await add_workflow(deps, {"type": "periodic", "interval": "1s"}, workflow_id="fast")

    assert await firing.step() == pytest.approx(1.001)  # its first slot, at 1.2 s


async def test_one_look_serves_every_slot_within_the_lookahead(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    for n in range(3):
        clock.set(START + timedelta(milliseconds=100 * n))
        await add_workflow(deps, TEN_S, workflow_id=f"w{n}")
    counted = CountingWorkflows(deps.workflows)
    firing = _firing(Triggering(counted, deps.executions, deps.publisher, clock, deps.new_id), metrics)  # type: ignore[arg-type]
    clock.set(START + timedelta(seconds=9, milliseconds=950))

    for n in range(3):
        await firing.step()
        clock.set(START + timedelta(seconds=10, milliseconds=100 * n))
    await firing.step()
    await firing.drain()

    assert counted.looks == 1
    assert [bool(await _executions(deps, f"w{n}")) for n in range(3)] == [True, True, True]


async def test_a_slot_fires_while_an_earlier_fire_still_waits_on_the_broker(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    class StuckPublisher:
        def __init__(self) -> None:
            self.release = asyncio.Event()
            self.sent: list[str] = []

        async def publish(self, request: ExecutionRequest) -> None:
            self.sent.append(request.workflow_id)
            if request.workflow_id == "slow":
                await self.release.wait()

    stuck = StuckPublisher()
    await add_workflow(deps, TEN_S, workflow_id="slow")
    clock.set(START + timedelta(milliseconds=50))
    await add_workflow(deps, TEN_S, workflow_id="next")
    firing = _firing(Triggering(deps.workflows, deps.executions, stuck, clock, deps.new_id), metrics)
    clock.set(START + seconds(10))
    await firing.step()
    await asyncio.sleep(0)  # the first fire is under way, and stays stuck

    clock.set(START + timedelta(seconds=10, milliseconds=50))
    await firing.step()
    for _ in range(10):
        await asyncio.sleep(0)

    assert stuck.sent == ["slow", "next"]
    stuck.release.set()
    await firing.drain()


async def test_a_slot_in_flight_is_not_fired_again_by_the_next_look(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    # Every call yields, so the claim is still pending when the look repeats.
    slow = CountingWorkflows(deps.workflows)
    firing = _firing(Triggering(slow, deps.executions, deps.publisher, clock, deps.new_id), metrics)  # type: ignore[arg-type]
    await add_workflow(deps, TEN_S)
    clock.set(START + seconds(10))

    await firing.step()
    await firing.step()  # before the planned moment (as when woken by a change): looks again
    await firing.drain()

    assert slow.looks == 2
    assert len(await _executions(deps)) == 1


async def test_a_look_that_read_before_a_claim_does_not_fire_that_slot_again(
    deps: Triggering, clock: FakeClock, publisher: RecordingPublisher, metrics: SchedulerMetrics
) -> None:
    class SlowStore:
        """Claims wait until `claims` is set; a look answers with what the store held when it was asked, but
        only once `looks` is set."""

        def __init__(self, inner: object) -> None:
            self._inner = inner
            self.claims, self.looks = asyncio.Event(), asyncio.Event()

        def __getattr__(self, name: str) -> object:
            return getattr(self._inner, name)

        async def claim_schedule_slot(self, workflow_id: str, **kwargs: object) -> object:
            await self.claims.wait()
            return await self._inner.claim_schedule_slot(workflow_id, **kwargs)  # type: ignore[attr-defined]

        async def due_for_schedule(self, **kwargs: object) -> object:
            snapshot = await self._inner.due_for_schedule(**kwargs)  # type: ignore[attr-defined]
            await self.looks.wait()
            return snapshot

    store = SlowStore(deps.workflows)
    firing = _firing(Triggering(store, deps.executions, publisher, clock, deps.new_id), metrics)  # type: ignore[arg-type]
    await add_workflow(deps, TEN_S)
    clock.set(START + seconds(10))
    store.looks.set()
    await firing.step()  # arms the slot and launches its fire, which waits to claim
    store.looks.clear()
    second = asyncio.create_task(firing.step())  # woken early, looks again: reads the slot before its claim
    await asyncio.sleep(0)

    store.claims.set()
    await firing.drain()  # the claim lands and the fire completes while the second look is on its way
    store.looks.set()
    await second
    await firing.drain()

    assert len(await _executions(deps)) == 1
    assert (sample(metrics.fires, outcome="fired"), sample(metrics.fires, outcome="lost")) == (1, 0)


async def test_a_workflow_paused_after_the_look_does_not_fire_at_its_slot(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    workflow = await add_workflow(deps, TEN_S)
    firing = _firing(deps, metrics)
    clock.set(START + timedelta(seconds=9, milliseconds=500))
    await firing.step()
    await deps.workflows.set_enabled("w", enabled=False, next_run_at=workflow.trigger.next_run_at, now=clock.now())

    clock.set(START + seconds(10))
    await firing.step()
    await firing.drain()

    assert await _executions(deps) == []
    assert sample(metrics.fires, outcome="lost") == 1


async def test_a_fire_failing_in_the_background_is_counted_and_tried_again_at_the_next_look(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    class DownOnce:
        def __init__(self, inner: object) -> None:
            self._inner = inner
            self.failed = False

        def __getattr__(self, name: str) -> object:
            return getattr(self._inner, name)

        async def claim_schedule_slot(self, workflow_id: str, **kwargs: object) -> object:
            if not self.failed:
                self.failed = True
                raise DependencyUnavailable("mongodb", "connection reset")
            return await self._inner.claim_schedule_slot(workflow_id, **kwargs)  # type: ignore[attr-defined]

    await add_workflow(deps, TEN_S)
    flaky = Triggering(DownOnce(deps.workflows), deps.executions, deps.publisher, clock, deps.new_id)  # type: ignore[arg-type]
    firing = _firing(flaky, metrics)
    clock.set(START + seconds(10))
    await firing.step()
    await firing.drain()
    assert await _executions(deps) == []

    clock.set(START + timedelta(seconds=10, milliseconds=500))
    await firing.step()  # woken before the planned look: looks again, the slot is still due
    await firing.drain()

    assert len(await _executions(deps)) == 1
    assert sample(metrics.loop_failures, loop="firing") == 1


async def test_fired_execution_is_queued_and_holds_the_lock(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    await add_workflow(deps, TEN_S)
    clock.set(START + seconds(10))

    await _firing(deps, metrics).run_once(clock.now())

    execution = await deps.executions.get("e1")
    workflow = await deps.workflows.get("w")
    assert (execution.status, execution.reason) == (ExecutionStatus.QUEUED, Reason.SCHEDULE)
    assert (workflow.trigger.status, workflow.trigger.execution_id) == (TriggerStatus.BUSY, "e1")


async def test_fired_execution_records_the_slot_it_was_for(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    await add_workflow(deps, TEN_S)
    clock.set(START + timedelta(seconds=10, milliseconds=40))

    await _firing(deps, metrics).run_once(clock.now())

    execution = await deps.executions.get("e1")
    assert (execution.scheduled_for, execution.created_at) == (START + seconds(10), clock.now())


async def test_after_downtime_the_one_fire_records_the_first_missed_slot(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics
) -> None:
    await add_workflow(deps, TEN_S)
    clock.set(START + timedelta(seconds=35))  # slots 10 s, 20 s and 30 s passed unseen

    await _firing(deps, metrics).run_once(clock.now())

    assert (await deps.executions.get("e1")).scheduled_for == START + seconds(10)


async def test_manual_execution_has_no_slot(deps: Triggering) -> None:
    await add_workflow(deps, TEN_S)

    triggered = await trigger_manually(deps, "w")

    assert triggered.execution.scheduled_for is None
