"""An action's earlier runs in an execution (`ActionRun.previous`): every attempt, and the waits between them."""

from datetime import UTC, datetime, timedelta

from wfa.domain.errors import ActionFailed
from wfa.domain.execution import (
    MAX_EARLIER_ATTEMPTS,
    ActionStatus,
    AttemptOutcome,
    AttemptRecord,
    ErrorInfo,
    Execution,
    ExecutionPlan,
    ExecutionStatus,
    Reason,
)
from wfa.domain.workflow import Workflow, WorkflowDefinition

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FAILURE = ActionFailed("503 from example.com", kind="http_status", retryable=True)


def ms(n: int) -> timedelta:
    return timedelta(milliseconds=n)


def _execution(max_attempts: int = 3) -> tuple[Workflow, Execution]:
    definition = WorkflowDefinition.model_validate(
        {
            "workflowId": "w",
            "trigger": {"type": "manual"},
            "actions": [{"type": "http-request", "url": "https://example.com"}],
            "retry": {"maxAttempts": max_attempts, "initialInterval": "1s", "backoffRate": 2},
        }
    )
    workflow = Workflow.create(definition, now=NOW, next_run_at=None)
    execution = Execution.queued(execution_id="e1", workflow=workflow, reason=Reason.MANUAL, input=None, now=NOW)
    execution.start_attempt(NOW)
    return workflow, execution


def _fail(workflow: Workflow, execution: Execution, at: datetime) -> None:
    execution.begin_action(0, at)
    execution.fail_action(0, FAILURE, ExecutionPlan.of(workflow), at + ms(20))


def test_a_first_run_has_no_earlier_runs() -> None:
    _, execution = _execution()

    execution.begin_action(0, NOW)

    assert execution.actions[0].previous == []


def test_a_new_run_after_a_failure_keeps_the_failed_run() -> None:
    workflow, execution = _execution()
    _fail(workflow, execution, NOW)

    execution.begin_action(0, NOW + ms(1020))

    run = execution.actions[0]
    assert run.previous == [
        AttemptRecord(
            attempt=1,
            outcome=AttemptOutcome.FAILED,
            started_at=NOW,
            finished_at=NOW + ms(20),
            duration_ms=20,
            error=ErrorInfo(type="http_status", message="503 from example.com", retryable=True),
        )
    ]
    assert (run.attempts, run.status, run.started_at, run.error) == (2, ActionStatus.RUNNING, NOW + ms(1020), None)


def test_a_run_still_running_when_the_action_begins_again_was_interrupted() -> None:
    _, execution = _execution()
    execution.begin_action(0, NOW)  # its runner dies here; another resumes the execution

    execution.begin_action(0, NOW + ms(30_000))

    assert execution.actions[0].previous == [
        AttemptRecord(attempt=1, outcome=AttemptOutcome.INTERRUPTED, started_at=NOW)
    ]


def test_every_failed_attempt_is_kept_oldest_first() -> None:
    workflow, execution = _execution(max_attempts=3)
    for attempt in range(3):
        _fail(workflow, execution, NOW + timedelta(seconds=10 * attempt))

    run = execution.actions[0]
    assert execution.status is ExecutionStatus.FAILED
    assert [(p.attempt, p.started_at) for p in run.previous] == [(1, NOW), (2, NOW + timedelta(seconds=10))]
    assert (run.attempts, run.started_at) == (3, NOW + timedelta(seconds=20))


def test_the_history_is_bounded() -> None:
    _, execution = _execution()
    for n in range(MAX_EARLIER_ATTEMPTS + 5):
        execution.begin_action(0, NOW + timedelta(seconds=n))

    previous = execution.actions[0].previous
    assert len(previous) == MAX_EARLIER_ATTEMPTS
    assert (previous[0].attempt, previous[-1].attempt) == (5, MAX_EARLIER_ATTEMPTS + 4)


def test_a_retrying_execution_starts_the_failed_action_without_its_history() -> None:
    workflow, execution = _execution(max_attempts=2)
    _fail(workflow, execution, NOW)
    _fail(workflow, execution, NOW + timedelta(seconds=5))

    retry = Execution.retrying(
        execution, execution_id="e2", now=NOW + timedelta(minutes=1), plan=ExecutionPlan.of(workflow)
    )

    assert (retry.actions[0].attempts, retry.actions[0].previous) == (0, [])
