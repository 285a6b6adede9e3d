from datetime import UTC, datetime, timedelta

import pytest

from wfa.domain.errors import ActionFailed
from wfa.domain.execution import (
    ActionStatus,
    Execution,
    ExecutionPlan,
    ExecutionStatus,
    Reason,
    Section,
    Step,
    trace_id_of,
)
from wfa.domain.workflow import Workflow, WorkflowDefinition

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _workflow(max_attempts: int = 3) -> Workflow:
    definition = WorkflowDefinition.model_validate(
        {
            "workflowId": "w",
            "trigger": {"type": "manual"},
            "actions": [
                {"type": "log", "message": "one"},
                {"type": "http-request", "url": "https://example.com", "retry": {"maxAttempts": 2}},
                {"type": "log", "message": "three"},
            ],
            "retry": {"maxAttempts": max_attempts, "initialInterval": "1s", "backoffRate": 2},
        }
    )
    return Workflow.create(definition, now=NOW, next_run_at=None)


def _execution(workflow: Workflow | None = None) -> Execution:
    return Execution.queued(
        execution_id="e1", workflow=workflow or _workflow(), reason=Reason.MANUAL, input=None, now=NOW
    )


def test_new_execution_is_queued_with_every_action_not_started() -> None:
    execution = _execution()
    assert execution.status is ExecutionStatus.QUEUED
    assert execution.attempt == 1
    assert execution.max_attempts == 3
    assert [(a.name, a.status) for a in execution.actions] == [
        ("action-1", ActionStatus.NOT_STARTED),
        ("action-2", ActionStatus.NOT_STARTED),
        ("action-3", ActionStatus.NOT_STARTED),
    ]


def test_successful_run_records_times_and_durations() -> None:
    execution = _execution()
    execution.start_attempt(NOW)
    for index in range(3):
        execution.begin_action(index, NOW)
        execution.complete_action(index, {"ok": index}, NOW + timedelta(milliseconds=25))
    execution.succeed(NOW + timedelta(milliseconds=40))
    assert execution.status is ExecutionStatus.SUCCEEDED
    assert execution.duration_ms == 40
    assert all(a.status is ActionStatus.SUCCEEDED and a.attempts == 1 for a in execution.actions)
    assert execution.actions[0].duration_ms == 25
    assert execution.next_step(ExecutionPlan.of(_workflow())) is None


def test_retryable_failure_with_attempts_left_goes_pending_with_backoff() -> None:
    execution = _execution()
    plan = ExecutionPlan.of(_workflow())
    execution.start_attempt(NOW)
    execution.begin_action(0, NOW)
    execution.fail_action(0, ActionFailed("boom", kind="http_status", retryable=True), plan, NOW)
    assert execution.status is ExecutionStatus.PENDING
    assert execution.next_retry_at == NOW + timedelta(seconds=1)
    assert execution.actions[1].status is ActionStatus.NOT_STARTED


def test_backoff_exponent_is_the_failing_actions_attempt_number() -> None:
    execution = _execution()
    plan = ExecutionPlan.of(_workflow(max_attempts=5))
    failure = ActionFailed("boom", kind="timeout", retryable=True)
    for _ in range(2):
        execution.start_attempt(NOW)
        execution.begin_action(0, NOW)
        execution.fail_action(0, failure, plan, NOW)
        execution.redispatch()
    execution.start_attempt(NOW)
    execution.begin_action(0, NOW)
    execution.fail_action(0, failure, plan, NOW)
    assert execution.actions[0].attempts == 3
    assert execution.attempt == 3
    assert execution.next_retry_at == NOW + timedelta(seconds=4)


def test_action_retry_override_limits_its_own_attempts() -> None:
    execution = _execution()
    plan = ExecutionPlan.of(_workflow(max_attempts=10))
    failure = ActionFailed("503", kind="http_status", retryable=True)
    execution.start_attempt(NOW)
    execution.begin_action(0, NOW)
    execution.complete_action(0, {}, NOW)
    for _ in range(2):
        execution.begin_action(1, NOW)
        execution.fail_action(1, failure, plan, NOW)
    assert execution.status is ExecutionStatus.FAILED
    assert execution.actions[1].attempts == 2


def test_final_failure_skips_the_actions_that_never_ran() -> None:
    execution = _execution()
    plan = ExecutionPlan.of(_workflow())
    execution.start_attempt(NOW)
    execution.begin_action(0, NOW)
    execution.fail_action(0, ActionFailed("404", kind="http_status", retryable=False), plan, NOW)
    assert execution.status is ExecutionStatus.FAILED
    assert execution.error is not None and execution.error.type == "http_status"
    assert [a.status for a in execution.actions] == [ActionStatus.FAILED, ActionStatus.SKIPPED, ActionStatus.SKIPPED]
    assert execution.finished_at == NOW


def test_retry_resumes_at_the_failed_action() -> None:
    execution = _execution()
    plan = ExecutionPlan.of(_workflow())
    execution.start_attempt(NOW)
    execution.begin_action(0, NOW)
    execution.complete_action(0, {}, NOW)
    execution.begin_action(1, NOW)
    execution.fail_action(1, ActionFailed("500", kind="http_status", retryable=True), plan, NOW)
    execution.redispatch()
    assert execution.status is ExecutionStatus.QUEUED
    assert execution.attempt == 2
    assert execution.next_step(plan) == Step(Section.ACTIONS, 1)


@pytest.mark.parametrize("started", [False, True])
def test_cancel_skips_what_never_ran_and_fails_what_was_running(started: bool) -> None:
    execution = _execution()
    if started:
        execution.start_attempt(NOW)
        execution.begin_action(0, NOW)
    execution.cancel(NOW)
    assert execution.status is ExecutionStatus.CANCELLED
    expected_first = ActionStatus.FAILED if started else ActionStatus.SKIPPED
    assert execution.actions[0].status is expected_first
    assert execution.actions[2].status is ActionStatus.SKIPPED
    assert execution.status.is_final


@pytest.mark.parametrize("seconds", [1e14, 1e300, float("inf"), float("nan"), -1.0, -1e300, float("-inf")], ids=repr)
def test_any_retry_after_makes_a_pending_execution_within_max_interval(seconds: float) -> None:
    # Whatever an action reports (a hostile server's Retry-After), the retry is decided, never an internal error.
    execution = _execution()
    plan = ExecutionPlan.of(_workflow())
    execution.start_attempt(NOW)
    execution.begin_action(0, NOW)
    failure = ActionFailed("503", kind="http_status", retryable=True, retry_after_seconds=seconds)

    execution.fail_action(0, failure, plan, NOW)

    assert execution.status is ExecutionStatus.PENDING
    assert execution.next_retry_at is not None
    assert NOW <= execution.next_retry_at <= NOW + plan.policy_for(0).max_interval


def test_the_backoff_counts_from_the_failed_runs_end_not_from_when_it_is_settled() -> None:
    execution = _execution()
    plan = ExecutionPlan.of(_workflow())
    execution.start_attempt(NOW)
    execution.begin_action(0, NOW)
    failure = ActionFailed("503", kind="http_status", retryable=True)
    execution.record_failed_run(0, failure, NOW + timedelta(seconds=1))

    execution.settle_failure(0, failure, plan, NOW + timedelta(seconds=1, milliseconds=7))

    assert execution.status is ExecutionStatus.PENDING
    assert execution.next_retry_at == NOW + timedelta(seconds=2)  # the run's end + the workflow's initialInterval (1s)


def test_the_trace_id_is_read_from_the_traceparent_the_execution_was_created_under() -> None:
    execution = _execution().model_copy(
        update={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    )

    assert execution.trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert execution.model_dump(by_alias=True)["traceId"] == "0af7651916cd43dd8448eb211c80319c"
    assert "traceparent" not in execution.model_dump(by_alias=True)


@pytest.mark.parametrize(
    "traceparent",
    [None, "", "garbage", "00-00000000000000000000000000000000-b7ad6b7169203331-01", "00-0AF7-b7ad6b7169203331-01"],
)
def test_without_a_valid_traceparent_there_is_no_trace_id(traceparent: str | None) -> None:
    assert trace_id_of(traceparent) is None
