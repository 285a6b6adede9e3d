"""Conditions, continueOnError, compensations and onFailure handlers (contract v2, "Failure handling"), run by the
execution runner on the in-memory repositories with scripted actions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.unit.runner.conftest import Harness
from tests.unit.runner.fakes import ScriptedActions, http_action, log_action, workflow

from wfa.domain.errors import ActionFailed
from wfa.domain.execution import ActionStatus, ExecutionStatus, Section, Step
from wfa.domain.workflow import TriggerStatus
from wfa_runner.execution_runner import RunOutcome

ONCE = {"maxAttempts": 1}


def permanent(message: str = "404 from upstream") -> ActionFailed:
    return ActionFailed(message, kind="http_status", retryable=False)


def retryable(message: str = "503 from upstream") -> ActionFailed:
    return ActionFailed(message, kind="http_status", retryable=True)


def compensated(name: str, **extra: Any) -> dict[str, Any]:
    return {
        **log_action(name),
        "compensate": {"type": "log", "name": f"undo-{name}", "message": f"undo {name}"},
        **extra,
    }


def statuses(runs: list[Any] | None) -> list[tuple[str, ActionStatus]]:
    return [(run.name, run.status) for run in runs or []]


async def test_a_falsy_when_skips_the_action_and_the_execution_goes_on(harness: Harness) -> None:
    request = await harness.trigger(
        workflow([log_action("a"), {**log_action("b"), "when": "input.deploy"}, log_action("c")])
    )
    actions = ScriptedActions()

    outcome = await harness.runner(actions).run(request)

    assert outcome is RunOutcome.SUCCEEDED
    assert actions.calls == ["a", "c"]
    execution = await harness.execution(request.execution_id)
    assert statuses(execution.actions) == [
        ("a", ActionStatus.SUCCEEDED),
        ("b", ActionStatus.SKIPPED),
        ("c", ActionStatus.SUCCEEDED),
    ]
    assert execution.actions[1].attempts == 0
    assert "action.skipped" in await harness.published_events()


async def test_a_when_sees_the_outputs_of_earlier_actions(harness: Harness) -> None:
    request = await harness.trigger(
        workflow([http_action("probe"), {**log_action("b"), "when": "actions.probe.output.status == `200`"}])
    )
    actions = ScriptedActions(probe=[{"status": 200}])

    await harness.runner(actions).run(request)

    assert actions.calls == ["probe", "b"]


async def test_a_when_that_cannot_be_evaluated_fails_the_action_for_good_without_running_it(harness: Harness) -> None:
    # abs() of a string: a type error only the data reveals, at run time.
    request = await harness.trigger(workflow([{**log_action("a"), "when": "abs(workflow.id)"}]))
    actions = ScriptedActions()

    outcome = await harness.runner(actions).run(request)

    assert outcome is RunOutcome.FAILED
    assert actions.calls == []
    execution = await harness.execution(request.execution_id)
    assert execution.actions[0].status is ActionStatus.FAILED
    assert execution.error is not None and execution.error.type == "template_error"
    assert execution.error.action == "a"


async def test_continue_on_error_records_the_failure_and_the_execution_succeeds(harness: Harness) -> None:
    request = await harness.trigger(
        workflow([{**http_action("a"), "continueOnError": True}, log_action("b")], retry=ONCE)
    )
    actions = ScriptedActions(a=[permanent()])

    outcome = await harness.runner(actions).run(request)

    assert outcome is RunOutcome.SUCCEEDED
    execution = await harness.execution(request.execution_id)
    assert execution.status is ExecutionStatus.SUCCEEDED and execution.error is None
    assert statuses(execution.actions) == [("a", ActionStatus.FAILED), ("b", ActionStatus.SUCCEEDED)]
    assert execution.actions[0].error is not None and execution.actions[0].error.message == "404 from upstream"
    assert execution.compensations is None and execution.on_failure is None


async def test_continue_on_error_still_retries_while_attempts_remain(harness: Harness) -> None:
    request = await harness.trigger(workflow([{**http_action("a"), "continueOnError": True}, log_action("b")]))

    outcome = await harness.runner(ScriptedActions(a=[retryable()])).run(request)

    assert outcome is RunOutcome.PENDING


async def test_a_final_failure_runs_the_compensations_in_reverse_then_on_failure_and_ends_failed(
    harness: Harness,
) -> None:
    definition = workflow(
        [compensated("a"), log_action("b"), compensated("c"), http_action("d"), compensated("e")], retry=ONCE
    )
    definition.on_failure = [workflow([log_action("notify")]).actions[0]]
    request = await harness.trigger(definition)
    actions = ScriptedActions(d=[permanent()])

    outcome = await harness.runner(actions).run(request)

    assert outcome is RunOutcome.FAILED
    assert actions.calls == ["a", "b", "c", "d", "undo-c", "undo-a", "notify"]
    execution = await harness.execution(request.execution_id)
    assert execution.status is ExecutionStatus.FAILED
    assert execution.error is not None and (execution.error.type, execution.error.action) == ("http_status", "d")
    assert statuses(execution.actions)[-1] == ("e", ActionStatus.SKIPPED)
    assert statuses(execution.compensations) == [
        ("undo-c", ActionStatus.SUCCEEDED),
        ("undo-a", ActionStatus.SUCCEEDED),
    ]
    assert statuses(execution.on_failure) == [("notify", ActionStatus.SUCCEEDED)]
    events = await harness.published_events()
    assert events.count("compensation.succeeded") == 2 and events.count("onFailure.succeeded") == 1
    assert events[-1] == "execution.failed"
    lock = (await harness.workflows.get("w")).trigger
    assert lock.status is TriggerStatus.IDLE


async def test_handlers_see_the_error_and_every_actions_output(harness: Harness) -> None:
    definition = workflow([compensated("a"), http_action("b")], retry=ONCE)
    request = await harness.trigger(definition)
    actions = ScriptedActions(a=[{"id": 7}], b=[permanent("gone")])

    await harness.runner(actions).run(request)

    context = actions.contexts[-1]
    assert context["error"] == {"type": "http_status", "message": "gone", "action": "b"}
    assert context["actions"] == {
        "a": {"output": {"id": 7}, "status": "succeeded"},
        "b": {"output": None, "status": "failed"},
    }


async def test_a_failing_handler_is_recorded_and_the_next_handlers_still_run(harness: Harness) -> None:
    definition = workflow([compensated("a"), compensated("b"), http_action("c")], retry=ONCE)
    request = await harness.trigger(definition)
    actions = ScriptedActions(c=[permanent()], **{"undo-b": [permanent("cannot undo")]})

    outcome = await harness.runner(actions).run(request)

    assert outcome is RunOutcome.FAILED
    assert actions.calls[-2:] == ["undo-b", "undo-a"]
    execution = await harness.execution(request.execution_id)
    assert statuses(execution.compensations) == [("undo-b", ActionStatus.FAILED), ("undo-a", ActionStatus.SUCCEEDED)]
    assert execution.error is not None and execution.error.action == "c"  # a handler never changes the outcome


async def test_a_handler_retries_through_pending_and_the_execution_still_ends_failed(harness: Harness) -> None:
    undo = {"type": "http-request", "name": "undo-a", "url": "https://example.com/undo", "retry": {"maxAttempts": 2}}
    definition = workflow([{**log_action("a"), "compensate": undo}, http_action("b")], retry=ONCE)
    request = await harness.trigger(definition)
    actions = ScriptedActions(b=[permanent("original")], **{"undo-a": [retryable()]})

    assert await harness.runner(actions).run(request) is RunOutcome.PENDING
    pending = await harness.execution(request.execution_id)
    assert pending.error is not None and pending.error.message == "original"  # still the failure that decided it

    outcome = await harness.runner(actions).run(await harness.retry_due(request.execution_id))

    assert outcome is RunOutcome.FAILED
    assert actions.calls == ["a", "b", "undo-a", "undo-a"]
    execution = await harness.execution(request.execution_id)
    assert statuses(execution.compensations) == [("undo-a", ActionStatus.SUCCEEDED)]
    assert execution.compensations is not None and execution.compensations[0].attempts == 2
    assert execution.error is not None and execution.error.message == "original"


async def test_a_runner_taking_over_runs_each_handler_at_most_once(harness: Harness) -> None:
    definition = workflow([compensated("a"), compensated("b"), http_action("c")], retry=ONCE)
    definition.on_failure = [workflow([log_action("notify")]).actions[0]]
    request = await harness.trigger(definition)
    now = harness.clock.now()
    claimed = await harness.executions.claim_for_run(
        request.execution_id, attempt=1, owner="dead-runner", lease_until=now + timedelta(seconds=30), now=now
    )
    assert claimed is not None
    dead = claimed.execution
    dead.resume(claimed.plan, now)
    for index in (0, 1):
        dead.begin_action(index, now)
        dead.complete_action(index, {"done": index}, now)
    dead.begin_action(2, now)
    dead.fail_action(2, permanent(), claimed.plan, now)
    first = Step(Section.COMPENSATIONS, 0)
    dead.begin_action(first, now)
    dead.complete_action(first, {"undone": "b"}, now)
    await harness.executions.save_progress(dead, owner="dead-runner", lease_until=now + timedelta(seconds=30))
    harness.clock.advance(timedelta(seconds=31))
    actions = ScriptedActions()

    outcome = await harness.runner(actions).run(request)

    assert outcome is RunOutcome.FAILED
    assert actions.calls == ["undo-a", "notify"]
    execution = await harness.execution(request.execution_id)
    assert execution.compensations is not None and execution.compensations[0].output == {"undone": "b"}


async def test_a_failure_saved_by_a_dead_runner_starts_the_handlers_without_running_the_action_again(
    harness: Harness,
) -> None:
    definition = workflow([compensated("a"), http_action("b")], retry=ONCE)
    request = await harness.trigger(definition)
    now = harness.clock.now()
    claimed = await harness.executions.claim_for_run(
        request.execution_id, attempt=1, owner="dead-runner", lease_until=now + timedelta(seconds=30), now=now
    )
    assert claimed is not None
    dead = claimed.execution
    dead.start_attempt(now)
    dead.begin_action(0, now)
    dead.complete_action(0, {}, now)
    dead.begin_action(1, now)
    dead.record_failed_run(1, permanent(), now)  # saved, then the runner died before deciding what follows
    await harness.executions.save_progress(dead, owner="dead-runner", lease_until=now + timedelta(seconds=30))
    harness.clock.advance(timedelta(seconds=31))
    actions = ScriptedActions()

    outcome = await harness.runner(actions).run(request)

    assert outcome is RunOutcome.FAILED
    assert actions.calls == ["undo-a"]


async def test_a_cancelled_execution_runs_no_handler(harness: Harness) -> None:
    definition = workflow([compensated("a"), http_action("b")], retry=ONCE)
    definition.on_failure = [workflow([log_action("notify")]).actions[0]]
    request = await harness.trigger(definition)

    async def cancelled_meanwhile() -> dict[str, Any]:
        await harness.executions.cancel(request.execution_id, now=harness.clock.now())
        raise permanent()

    actions = ScriptedActions(b=[cancelled_meanwhile])

    outcome = await harness.runner(actions).run(request)

    assert outcome is RunOutcome.STOPPED
    assert actions.calls == ["a", "b"]
    execution = await harness.execution(request.execution_id)
    assert execution.status is ExecutionStatus.CANCELLED


async def test_a_failure_without_handlers_records_empty_handler_lists(harness: Harness) -> None:
    request = await harness.trigger(workflow([http_action("a")], retry=ONCE))

    await harness.runner(ScriptedActions(a=[permanent()])).run(request)

    execution = await harness.execution(request.execution_id)
    assert execution.status is ExecutionStatus.FAILED
    assert (execution.compensations, execution.on_failure) == ([], [])
