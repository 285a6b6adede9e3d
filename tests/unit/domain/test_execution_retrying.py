"""Execution.retrying: a failed or cancelled execution becomes a new one that resumes where it stopped."""

from datetime import UTC, datetime, timedelta

import pytest

from wfa.domain.errors import ActionFailed, ExecutionNotRetryable
from wfa.domain.execution import (
    ActionRun,
    ActionStatus,
    Execution,
    ExecutionPlan,
    ExecutionStatus,
    Reason,
    Section,
    Step,
)
from wfa.domain.workflow import Workflow, WorkflowDefinition

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)


def _workflow() -> Workflow:
    definition = WorkflowDefinition.model_validate(
        {
            "workflowId": "w",
            "trigger": {"type": "manual"},
            "actions": [
                {"type": "log", "message": "one"},
                {"type": "http-request", "url": "https://example.com"},
                {"type": "log", "message": "three"},
            ],
            "retry": {"maxAttempts": 2},
        }
    )
    return Workflow.create(definition, now=NOW, next_run_at=None)


PLAN = ExecutionPlan.of(_workflow())


def _failed_at_second_action() -> Execution:
    execution = Execution.queued(
        execution_id="e1", workflow=_workflow(), reason=Reason.SCHEDULE, input={"k": 1}, now=NOW, scheduled_for=NOW
    )
    execution.start_attempt(NOW)
    execution.begin_action(0, NOW)
    execution.complete_action(0, {"message": "one"}, NOW + timedelta(milliseconds=5))
    execution.redispatch()  # a second attempt, so the copy's attempt counter visibly starts over
    execution.begin_action(1, NOW + timedelta(milliseconds=10))
    failure = ActionFailed("boom", kind="http_status", retryable=False)
    execution.fail_action(1, failure, PLAN, NOW + timedelta(milliseconds=20))
    assert execution.status is ExecutionStatus.FAILED
    return execution


def test_a_retry_is_a_new_queued_execution_of_the_same_workflow_version() -> None:
    original = _failed_at_second_action()

    retry = Execution.retrying(original, execution_id="e2", now=LATER, traceparent="00-ab-cd-01", plan=PLAN)

    assert (retry.execution_id, retry.workflow_id, retry.workflow_version) == ("e2", "w", original.workflow_version)
    assert (retry.reason, retry.retry_of, retry.scheduled_for) == (Reason.RETRY, "e1", None)
    assert (retry.status, retry.attempt, retry.max_attempts) == (ExecutionStatus.QUEUED, 1, original.max_attempts)
    assert retry.input == {"k": 1}
    assert retry.created_at == LATER
    assert retry.traceparent == "00-ab-cd-01"
    assert (retry.error, retry.started_at, retry.finished_at, retry.duration_ms, retry.next_retry_at) == (
        None,
        None,
        None,
        None,
        None,
    )


def test_a_retry_copies_the_succeeded_actions_as_recorded_and_resets_the_others() -> None:
    original = _failed_at_second_action()

    retry = Execution.retrying(original, execution_id="e2", now=LATER, plan=PLAN)

    assert retry.actions[0] == original.actions[0]
    assert retry.actions[1:] == [
        ActionRun(name="action-2", type="http-request"),
        ActionRun(name="action-3", type="log"),
    ]
    assert retry.next_step(PLAN) == Step(Section.ACTIONS, 1)


def test_a_retry_does_not_share_state_with_the_original() -> None:
    original = _failed_at_second_action()

    retry = Execution.retrying(original, execution_id="e2", now=LATER, plan=PLAN)
    assert retry.actions[0].output is not None
    retry.actions[0].output["message"] = "changed"

    assert original.actions[0].output == {"message": "one"}


def test_a_retry_of_a_retry_points_at_its_immediate_original() -> None:
    first_retry = Execution.retrying(_failed_at_second_action(), execution_id="e2", now=LATER, plan=PLAN)
    first_retry.cancel(LATER)

    second_retry = Execution.retrying(first_retry, execution_id="e3", now=LATER, plan=PLAN)

    assert second_retry.retry_of == "e2"
    assert second_retry.actions[0].status is ActionStatus.SUCCEEDED


def test_executions_not_retried_have_no_retry_of() -> None:
    execution = Execution.queued(execution_id="e1", workflow=_workflow(), reason=Reason.MANUAL, input=None, now=NOW)

    assert execution.retry_of is None
    assert execution.model_dump(by_alias=True)["retryOf"] is None


def test_only_a_failed_or_cancelled_execution_can_be_retried() -> None:
    execution = Execution.queued(execution_id="e1", workflow=_workflow(), reason=Reason.MANUAL, input=None, now=NOW)

    with pytest.raises(ExecutionNotRetryable) as caught:
        Execution.retrying(execution, execution_id="e2", now=LATER, plan=PLAN)

    assert caught.value.status == "queued"
    execution.succeed(NOW)
    assert not execution.can_be_retried


def test_an_action_whose_compensation_undid_it_runs_again_in_the_retry() -> None:
    undo = {"type": "log", "name": "undo-one", "message": "undo one"}
    definition = WorkflowDefinition.model_validate(
        {
            "workflowId": "w",
            "trigger": {"type": "manual"},
            "actions": [
                {"type": "log", "name": "one", "message": "one", "compensate": undo},
                {"type": "log", "name": "two", "message": "two"},
                {"type": "http-request", "name": "three", "url": "https://example.com"},
            ],
            "retry": {"maxAttempts": 1},
        }
    )
    plan = ExecutionPlan.of(Workflow.create(definition, now=NOW, next_run_at=None))
    original = Execution.queued(
        execution_id="e1",
        workflow=Workflow.create(definition, now=NOW, next_run_at=None),
        reason=Reason.MANUAL,
        input={},
        now=NOW,
    )
    original.start_attempt(NOW)
    for index in (0, 1):
        original.begin_action(index, NOW)
        original.complete_action(index, {"n": index}, NOW)
    original.begin_action(2, NOW)
    original.fail_action(2, ActionFailed("no", kind="x", retryable=False), plan, NOW)
    undone = Step(Section.COMPENSATIONS, 0)
    original.begin_action(undone, NOW)
    original.complete_action(undone, {}, NOW)
    original.conclude(NOW)

    retry = Execution.retrying(original, execution_id="e2", now=LATER, plan=plan)

    # "one" was undone by its compensation: reusing its output would build on something that no longer exists.
    assert [(run.name, run.status) for run in retry.actions] == [
        ("one", ActionStatus.NOT_STARTED),
        ("two", ActionStatus.SUCCEEDED),
        ("three", ActionStatus.NOT_STARTED),
    ]
    assert (retry.compensations, retry.on_failure) == (None, None)
