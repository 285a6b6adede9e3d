"""The execution runner's contract, on the in-memory repositories with scripted actions."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from tests.unit.runner.conftest import LEASE, OWNER, Harness
from tests.unit.runner.fakes import START, ScriptedActions, eventually, http_action, log_action, workflow

from wfa.domain.errors import ActionFailed, DependencyUnavailable
from wfa.domain.execution import ActionStatus, ExecutionStatus
from wfa.domain.workflow import TriggerStatus
from wfa_runner.actions.base import ActionFailedWithOutput, Output
from wfa_runner.execution_runner import RunOutcome

RETRY = {"maxAttempts": 3, "initialInterval": "2s", "backoffRate": 3, "maxInterval": "1m"}


def retryable(message: str = "503 from upstream") -> ActionFailed:
    return ActionFailed(message, kind="http_status", retryable=True)


def permanent(message: str = "404 from upstream") -> ActionFailed:
    return ActionFailed(message, kind="http_status", retryable=False)


async def test_success_records_every_action_and_releases_the_lock(harness: Harness) -> None:
    request = await harness.trigger(workflow([log_action("a"), http_action("b"), log_action("c")]))
    actions = ScriptedActions(b=[{"status": 200}])

    outcome = await harness.runner(actions).run(request)

    assert outcome is RunOutcome.SUCCEEDED
    execution = await harness.execution(request.execution_id)
    assert execution.status is ExecutionStatus.SUCCEEDED
    assert execution.started_at == START and execution.finished_at == START and execution.duration_ms == 0
    assert [(run.name, run.status, run.attempts) for run in execution.actions] == [
        ("a", ActionStatus.SUCCEEDED, 1),
        ("b", ActionStatus.SUCCEEDED, 1),
        ("c", ActionStatus.SUCCEEDED, 1),
    ]
    assert [run.output for run in execution.actions] == [{"ok": "a"}, {"status": 200}, {"ok": "c"}]
    assert all(run.started_at == START and run.finished_at == START for run in execution.actions)
    assert execution.error is None
    lock = (await harness.workflows.get("w")).trigger
    assert (lock.status, lock.execution_id) == (TriggerStatus.IDLE, None)


async def test_action_times_come_from_the_clock(harness: Harness) -> None:
    request = await harness.trigger(workflow([log_action("a")]))

    async def takes_250ms() -> Output:
        harness.clock.advance(timedelta(milliseconds=250))
        return {}

    await harness.runner(ScriptedActions(a=[takes_250ms])).run(request)

    run = (await harness.execution(request.execution_id)).actions[0]
    assert (run.started_at, run.finished_at, run.duration_ms) == (START, START + timedelta(milliseconds=250), 250)


async def test_one_log_action_takes_a_claim_a_save_a_lock_release_and_the_final_save(harness: Harness) -> None:
    request = await harness.trigger(workflow([log_action("a")]))

    await harness.runner(ScriptedActions()).run(request)

    assert harness.calls == [
        "executions.claim_for_run",
        "executions.save_progress",  # the action's result, durable before the lock moves
        "workflows.conclude_trigger_lock",
        "executions.save_progress",
    ]


async def test_an_http_action_is_saved_as_running_before_it_starts(harness: Harness) -> None:
    request = await harness.trigger(workflow([http_action("a")]))
    seen: list[ActionStatus] = []

    async def look_at_the_record() -> Output:
        seen.append((await harness.execution(request.execution_id)).actions[0].status)
        return {}

    await harness.runner(ScriptedActions(a=[look_at_the_record])).run(request)

    assert seen == [ActionStatus.RUNNING]


async def test_each_completed_action_is_saved_before_the_next_one_runs(harness: Harness) -> None:
    request = await harness.trigger(workflow([log_action("a"), log_action("b")]))
    seen: list[ActionStatus] = []

    async def look_at_a() -> Output:
        seen.append((await harness.execution(request.execution_id)).actions[0].status)
        return {}

    await harness.runner(ScriptedActions(b=[look_at_a])).run(request)

    assert seen == [ActionStatus.SUCCEEDED]


async def test_the_lock_is_released_before_the_final_status_is_stored(harness: Harness) -> None:
    request = await harness.trigger(workflow([log_action("a"), log_action("b")]))

    await harness.runner(ScriptedActions()).run(request)

    assert harness.calls[-2:] == ["workflows.conclude_trigger_lock", "executions.save_progress"]


async def test_retryable_failure_with_attempts_left_makes_the_execution_pending(harness: Harness) -> None:
    request = await harness.trigger(workflow([log_action("a"), http_action("b")], retry=RETRY))

    outcome = await harness.runner(ScriptedActions(b=[retryable()])).run(request)

    assert outcome is RunOutcome.PENDING
    execution = await harness.execution(request.execution_id)
    assert execution.status is ExecutionStatus.PENDING
    assert execution.next_retry_at == START + timedelta(seconds=2)  # initialInterval × 3^(1-1)
    assert execution.finished_at is None
    assert execution.error is not None and execution.error.retryable
    assert execution.actions[1].status is ActionStatus.FAILED
    assert execution.actions[1].error is not None and execution.actions[1].error.type == "http_status"
    lock = (await harness.workflows.get("w")).trigger
    assert (lock.status, lock.execution_id) == (TriggerStatus.PENDING, request.execution_id)
    assert harness.calls[-2:] == ["executions.save_progress", "workflows.mark_trigger_pending"]


async def test_the_backoff_grows_with_the_failing_actions_attempts(harness: Harness) -> None:
    request = await harness.trigger(workflow([http_action("a")], retry=RETRY))
    actions = ScriptedActions(a=[retryable(), retryable()])
    await harness.runner(actions).run(request)

    second = await harness.retry_due(request.execution_id)
    failed_at = harness.clock.now()
    await harness.runner(actions).run(second)

    execution = await harness.execution(request.execution_id)
    assert execution.status is ExecutionStatus.PENDING
    assert execution.next_retry_at == failed_at + timedelta(seconds=6)  # 2s × 3^(2-1)


async def test_retry_after_from_the_action_sets_the_next_retry(harness: Harness) -> None:
    request = await harness.trigger(workflow([http_action("a")], retry=RETRY))
    throttled = ActionFailed("429", kind="http_status", retryable=True, retry_after_seconds=17)

    await harness.runner(ScriptedActions(a=[throttled])).run(request)

    assert (await harness.execution(request.execution_id)).next_retry_at == START + timedelta(seconds=17)


async def test_last_attempt_failing_fails_the_execution_for_good(harness: Harness) -> None:
    request = await harness.trigger(workflow([http_action("a")], retry={"maxAttempts": 1}))

    outcome = await harness.runner(ScriptedActions(a=[retryable()])).run(request)

    assert outcome is RunOutcome.FAILED
    execution = await harness.execution(request.execution_id)
    assert (execution.status, execution.next_retry_at) == (ExecutionStatus.FAILED, None)
    assert (await harness.workflows.get("w")).trigger.status is TriggerStatus.IDLE


async def test_non_retryable_failure_fails_for_good_and_skips_later_actions(harness: Harness) -> None:
    request = await harness.trigger(workflow([log_action("a"), http_action("b"), log_action("c")], retry=RETRY))
    actions = ScriptedActions(b=[permanent()])

    outcome = await harness.runner(actions).run(request)

    assert outcome is RunOutcome.FAILED
    assert actions.count("c") == 0
    execution = await harness.execution(request.execution_id)
    assert execution.status is ExecutionStatus.FAILED
    assert execution.finished_at == START
    assert [run.status for run in execution.actions] == [
        ActionStatus.SUCCEEDED,
        ActionStatus.FAILED,
        ActionStatus.SKIPPED,
    ]
    assert execution.error is not None and execution.error.message == "404 from upstream"
    lock = (await harness.workflows.get("w")).trigger
    assert (lock.status, lock.execution_id) == (TriggerStatus.IDLE, None)
    assert harness.calls[-2:] == ["workflows.conclude_trigger_lock", "executions.save_progress"]


async def test_a_failure_keeps_the_output_the_action_produced(harness: Harness) -> None:
    request = await harness.trigger(workflow([http_action("a")], retry={"maxAttempts": 1}))
    failure = ActionFailedWithOutput("418", kind="http_status", retryable=False, output={"status": 418})

    await harness.runner(ScriptedActions(a=[failure])).run(request)

    assert (await harness.execution(request.execution_id)).actions[0].output == {"status": 418}


async def test_a_retry_resumes_at_the_failed_action(harness: Harness) -> None:
    request = await harness.trigger(
        workflow([log_action("a"), http_action("b"), log_action("c"), log_action("d")], retry=RETRY)
    )
    actions = ScriptedActions(b=[retryable()])
    await harness.runner(actions).run(request)

    outcome = await harness.runner(actions).run(await harness.retry_due(request.execution_id))

    assert outcome is RunOutcome.SUCCEEDED
    assert [actions.count(name) for name in "abcd"] == [1, 2, 1, 1]
    execution = await harness.execution(request.execution_id)
    assert execution.attempt == 2
    assert [run.attempts for run in execution.actions] == [1, 2, 1, 1]
    assert execution.started_at == START  # the execution's start is its first attempt's


async def test_a_request_for_a_finished_execution_is_a_no_op(harness: Harness) -> None:
    request = await harness.trigger(workflow([log_action("a")]))
    actions = ScriptedActions()
    await harness.runner(actions).run(request)
    before = await harness.execution(request.execution_id)
    harness.calls.clear()

    outcome = await harness.runner(actions).run(request)

    assert outcome is RunOutcome.NOT_CLAIMED
    assert actions.count("a") == 1
    assert await harness.execution(request.execution_id) == before
    assert harness.calls == ["executions.claim_for_run"]


async def test_a_request_for_an_execution_running_elsewhere_is_a_no_op(harness: Harness) -> None:
    request = await harness.trigger(workflow([log_action("a")]))
    now = harness.clock.now()
    await harness.executions.claim_for_run(
        request.execution_id, attempt=1, owner="someone-else", lease_until=now + timedelta(seconds=30), now=now
    )
    actions = ScriptedActions()

    outcome = await harness.runner(actions).run(request)

    assert outcome is RunOutcome.NOT_CLAIMED
    assert actions.calls == []


async def test_a_request_for_an_earlier_attempt_is_a_no_op(harness: Harness) -> None:
    request = await harness.trigger(workflow([http_action("a")], retry=RETRY))
    actions = ScriptedActions(a=[retryable()])
    await harness.runner(actions).run(request)
    await harness.retry_due(request.execution_id)

    outcome = await harness.runner(actions).run(request)  # attempt 1 again, redelivered

    assert outcome is RunOutcome.NOT_CLAIMED
    assert actions.count("a") == 1


async def test_an_execution_whose_runner_died_is_taken_over_after_its_lease(harness: Harness) -> None:
    request = await harness.trigger(workflow([log_action("a"), log_action("b")]))
    now = harness.clock.now()
    claimed = await harness.executions.claim_for_run(
        request.execution_id, attempt=1, owner="dead-runner", lease_until=now + timedelta(seconds=30), now=now
    )
    assert claimed is not None
    claimed.execution.start_attempt(now)
    claimed.execution.begin_action(0, now)
    claimed.execution.complete_action(0, {"done": "before the crash"}, now)
    await harness.executions.save_progress(
        claimed.execution, owner="dead-runner", lease_until=now + timedelta(seconds=30)
    )
    harness.clock.advance(timedelta(seconds=31))
    actions = ScriptedActions()

    outcome = await harness.runner(actions).run(request)

    assert outcome is RunOutcome.SUCCEEDED
    assert actions.calls == ["b"]
    assert (await harness.execution(request.execution_id)).actions[0].output == {"done": "before the crash"}


async def test_cancelling_during_an_action_stops_before_the_next_one(harness: Harness) -> None:
    request = await harness.trigger(workflow([log_action("a"), log_action("b")]))

    async def cancelled_meanwhile() -> Output:
        await harness.executions.cancel(request.execution_id, now=harness.clock.now())
        return {}

    actions = ScriptedActions(a=[cancelled_meanwhile])

    outcome = await harness.runner(actions).run(request)

    assert outcome is RunOutcome.STOPPED
    assert actions.calls == ["a"]
    execution = await harness.execution(request.execution_id)
    assert execution.status is ExecutionStatus.CANCELLED
    assert [run.status for run in execution.actions] == [ActionStatus.SKIPPED, ActionStatus.SKIPPED]


async def test_cancelling_before_an_http_action_starts_stops_the_run(harness: Harness) -> None:
    request = await harness.trigger(workflow([log_action("a"), http_action("b")]))

    async def cancelled_meanwhile() -> Output:
        await harness.executions.cancel(request.execution_id, now=harness.clock.now())
        return {}

    actions = ScriptedActions(a=[cancelled_meanwhile])

    assert await harness.runner(actions).run(request) is RunOutcome.STOPPED
    assert actions.calls == ["a"]


async def test_a_long_action_renews_the_lease(harness: Harness) -> None:
    request = await harness.trigger(workflow([http_action("a")]))
    lease = timedelta(seconds=0.3)  # renewed every 0.1 s of real time

    async def long_action() -> Output:
        harness.clock.advance(timedelta(seconds=5))
        await eventually(
            lambda: any(name == "renew_lease" for name, _ in harness.execution_log.calls), "a lease renewal"
        )
        return {}

    outcome = await harness.runner(ScriptedActions(a=[long_action]), lease=lease).run(request)

    assert outcome is RunOutcome.SUCCEEDED
    renewals = [kwargs for name, kwargs in harness.execution_log.calls if name == "renew_lease"]
    assert renewals[0]["lease_until"] == START + timedelta(seconds=5) + lease
    assert renewals[0]["owner"].startswith(f"{OWNER}/")  # this claim's token


async def test_a_short_action_does_not_renew_the_lease(harness: Harness) -> None:
    request = await harness.trigger(workflow([http_action("a"), log_action("b")]))

    await harness.runner(ScriptedActions()).run(request)

    assert "executions.renew_lease" not in harness.calls


async def test_losing_the_lease_during_an_action_stops_the_action(harness: Harness) -> None:
    request = await harness.trigger(workflow([http_action("a"), log_action("b")]))
    started = asyncio.Event()
    stopped: list[bool] = []

    async def hangs() -> Output:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            stopped.append(True)
            raise
        return {}

    actions = ScriptedActions(a=[hangs])
    run = asyncio.create_task(harness.runner(actions, lease=timedelta(seconds=0.3)).run(request))
    await started.wait()
    await harness.executions.cancel(request.execution_id, now=harness.clock.now())

    outcome = await asyncio.wait_for(run, 5.0)

    assert outcome is RunOutcome.STOPPED
    assert stopped == [True]
    assert actions.calls == ["a"]


async def test_a_write_that_meets_a_database_outage_is_retried_while_the_lease_holds(harness: Harness) -> None:
    request = await harness.trigger(workflow([log_action("a"), log_action("b")]))
    harness.execution_log.fail("save_progress", times=2)
    actions = ScriptedActions()

    outcome = await harness.runner(actions).run(request)

    assert outcome is RunOutcome.SUCCEEDED
    assert actions.calls == ["a", "b"]
    assert (await harness.execution(request.execution_id)).status is ExecutionStatus.SUCCEEDED


async def test_a_write_that_meets_a_database_outage_after_the_lease_lapsed_is_given_up(harness: Harness) -> None:
    request = await harness.trigger(workflow([log_action("a"), log_action("b")]))
    harness.execution_log.fail("save_progress", times=1_000)

    async def outlives_the_lease() -> Output:
        harness.clock.advance(LEASE + timedelta(seconds=1))
        return {}

    actions = ScriptedActions(a=[outlives_the_lease])

    with pytest.raises(DependencyUnavailable):
        await harness.runner(actions).run(request)

    # One attempt: past the lease another runner may already own the execution.
    assert harness.calls.count("executions.save_progress") == 1
    assert actions.calls == ["a"]


async def test_a_write_is_retried_until_the_lease_lapses_then_given_up(harness: Harness) -> None:
    request = await harness.trigger(workflow([log_action("a")]))
    attempts = 0

    def lapses_on_the_third_attempt(name: str, _kwargs: object) -> None:
        nonlocal attempts
        if name == "save_progress":
            attempts += 1
            if attempts == 3:
                harness.clock.advance(LEASE)

    harness.execution_log.fail("save_progress", times=1_000)
    harness.execution_log.on_call = lapses_on_the_third_attempt

    with pytest.raises(DependencyUnavailable):
        await harness.runner(ScriptedActions()).run(request)

    assert attempts == 3


async def test_a_claim_that_meets_a_database_outage_raises_for_the_caller_to_retry(harness: Harness) -> None:
    request = await harness.trigger(workflow([log_action("a")]))
    harness.execution_log.fail("claim_for_run", times=1)
    actions = ScriptedActions()
    runner = harness.runner(actions)

    with pytest.raises(DependencyUnavailable):
        await runner.run(request)

    assert actions.calls == []
    assert await runner.run(request) is RunOutcome.SUCCEEDED


async def test_an_action_runner_that_crashes_fails_the_action_without_retry(harness: Harness) -> None:
    request = await harness.trigger(workflow([http_action("a")], retry=RETRY))

    async def crashes() -> Output:
        raise KeyError("bug")

    outcome = await harness.runner(ScriptedActions(a=[crashes])).run(request)

    assert outcome is RunOutcome.FAILED
    error = (await harness.execution(request.execution_id)).actions[0].error
    assert error is not None and (error.type, error.retryable) == ("internal", False)


async def test_lifecycle_events_of_a_successful_execution_in_order(harness: Harness) -> None:
    request = await harness.trigger(workflow([log_action("a"), log_action("b")]))

    await harness.runner(ScriptedActions()).run(request)

    assert await harness.published_events() == [
        "execution.started",
        "action.succeeded",
        "action.succeeded",
        "execution.succeeded",
    ]
    assert [event.action for event in harness.events.events] == [None, "a", "b", None]
    assert {(event.execution_id, event.workflow_id, event.attempt) for event in harness.events.events} == {
        (request.execution_id, "w", 1)
    }


async def test_lifecycle_events_of_a_failed_attempt_carry_the_error(harness: Harness) -> None:
    request = await harness.trigger(workflow([http_action("a")], retry=RETRY))

    await harness.runner(ScriptedActions(a=[retryable("upstream said 503")])).run(request)

    assert await harness.published_events() == ["execution.started", "action.failed", "execution.pending"]
    failed, pending = harness.events.events[1:]
    assert failed.error is not None and failed.error["message"] == "upstream said 503"
    assert pending.status == "pending" and pending.error is not None


async def test_a_no_op_publishes_no_event(harness: Harness) -> None:
    request = await harness.trigger(workflow([log_action("a")]))
    await harness.runner(ScriptedActions()).run(request)
    await harness.published_events()
    harness.events.events.clear()

    await harness.runner(ScriptedActions()).run(request)

    assert await harness.published_events() == []
