"""An execution: one accepted trigger of a workflow, its attempts and the record of every action."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import Field, JsonValue

from wfa.domain.base import Model
from wfa.domain.errors import ActionFailed, ExecutionNotRetryable
from wfa.domain.retry import backoff_delay, may_retry
from wfa.domain.workflow import Action, RetryPolicy, Workflow


class ExecutionStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in _FINAL


_FINAL = {ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED}


class ActionStatus(StrEnum):
    NOT_STARTED = "not_started"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


class Reason(StrEnum):
    MANUAL = "manual"
    SCHEDULE = "schedule"
    RETRY = "retry"  # POST /executions/{id}/retry: a new execution resuming a failed or cancelled one


class ErrorInfo(Model):
    type: str
    message: str
    retryable: bool = False

    @classmethod
    def from_failure(cls, failure: ActionFailed) -> ErrorInfo:
        return cls(type=failure.kind, message=str(failure), retryable=failure.retryable)


class ActionRun(Model):
    name: str
    type: str
    status: ActionStatus = ActionStatus.NOT_STARTED
    attempts: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: int | None = None
    output: dict[str, JsonValue] | None = None
    error: ErrorInfo | None = None


class ExecutionPlan(Model):
    """What an execution runs, frozen when it is created: a later update of the workflow does not change it."""

    actions: list[Action]
    retry: RetryPolicy

    @classmethod
    def of(cls, workflow: Workflow) -> ExecutionPlan:
        return cls(actions=list(workflow.actions), retry=workflow.retry)

    def policy_for(self, index: int) -> RetryPolicy:
        return self.actions[index].retry or self.retry


def _ms(start: datetime, end: datetime) -> int:
    return int((end - start) / timedelta(milliseconds=1))


class Execution(Model):
    execution_id: str
    workflow_id: str
    workflow_version: int
    reason: Reason
    # The slot a scheduled fire was for (null for a manual trigger): which fire this is, and how late it came.
    scheduled_for: datetime | None = None
    # The failed or cancelled execution this one retries (reason `retry`; null otherwise): its immediate original.
    retry_of: str | None = None
    status: ExecutionStatus = ExecutionStatus.QUEUED
    attempt: int = 1
    max_attempts: int
    next_retry_at: datetime | None = None
    input: dict[str, JsonValue] = Field(default_factory=dict)
    actions: list[ActionRun]
    error: ErrorInfo | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: int | None = None
    # Internal, never served (exclude): the W3C trace context of the request that created the execution, so that
    # later attempts, dispatched in traces of their own, can link back to it.
    traceparent: str | None = Field(default=None, exclude=True)
    # Internal, never served: when a cancel was asked for. From then on no runner may claim the execution and its
    # lease is gone; should the cancel not be recorded (a crash), the scheduler's repair completes it.
    cancel_requested_at: datetime | None = Field(default=None, exclude=True)

    @classmethod
    def queued(
        cls,
        *,
        execution_id: str,
        workflow: Workflow,
        reason: Reason,
        input: dict[str, Any] | None,
        now: datetime,
        scheduled_for: datetime | None = None,
        traceparent: str | None = None,
    ) -> Execution:
        return cls(
            execution_id=execution_id,
            workflow_id=workflow.workflow_id,
            workflow_version=workflow.version,
            reason=reason,
            scheduled_for=scheduled_for,
            max_attempts=workflow.retry.max_attempts,
            input=input or {},
            actions=[ActionRun(name=action.name or "", type=action.type) for action in workflow.actions],
            created_at=now,
            traceparent=traceparent,
        )

    @classmethod
    def retrying(
        cls, original: Execution, *, execution_id: str, now: datetime, traceparent: str | None = None
    ) -> Execution:
        """A new execution resuming `original`: same workflow version and input, the actions that succeeded copied
        as recorded (the runner resumes at the first other one, and later actions see their outputs), every other
        action not started. Raises ExecutionNotRetryable unless `original` failed or was cancelled."""
        if not original.can_be_retried:
            raise ExecutionNotRetryable(original.execution_id, original.status.value)
        return cls(
            execution_id=execution_id,
            workflow_id=original.workflow_id,
            workflow_version=original.workflow_version,
            reason=Reason.RETRY,
            retry_of=original.execution_id,
            max_attempts=original.max_attempts,
            input=original.input,
            actions=[
                run if run.status is ActionStatus.SUCCEEDED else ActionRun(name=run.name, type=run.type)
                for run in original.actions
            ],
            created_at=now,
            traceparent=traceparent,
        ).model_copy(deep=True)

    @property
    def can_be_retried(self) -> bool:
        """Failed or cancelled: `retrying` may start a new execution from it (a succeeded one has nothing to redo,
        one not final is still going)."""
        return self.status in (ExecutionStatus.FAILED, ExecutionStatus.CANCELLED)

    # -- the runner's transitions -------------------------------------------------------------------------

    def start_attempt(self, now: datetime) -> None:
        self.status = ExecutionStatus.RUNNING
        self.next_retry_at = None
        if self.started_at is None:
            self.started_at = now

    def next_action_index(self) -> int | None:
        """The first action not yet succeeded: a retry resumes there, a redelivery too."""
        for index, run in enumerate(self.actions):
            if run.status is not ActionStatus.SUCCEEDED:
                return index
        return None

    def begin_action(self, index: int, now: datetime) -> None:
        run = self.actions[index]
        run.status = ActionStatus.RUNNING
        run.attempts += 1
        run.started_at = now
        run.finished_at = None
        run.duration_ms = None
        run.output = None
        run.error = None

    def complete_action(self, index: int, output: dict[str, Any], now: datetime) -> None:
        run = self.actions[index]
        run.status = ActionStatus.SUCCEEDED
        run.output = output
        run.error = None
        self._stop_clock(run, now)

    def fail_action(
        self,
        index: int,
        failure: ActionFailed,
        policy: RetryPolicy,
        now: datetime,
        *,
        output: dict[str, Any] | None = None,
    ) -> None:
        """Record a failed attempt and decide: pending a retry, or failed for good."""
        self.record_failed_run(index, failure, now, output=output)
        self.settle_failure(index, failure, policy, now)

    def settle_failure(self, index: int, failure: ActionFailed, policy: RetryPolicy, now: datetime) -> None:
        """After the action's failed run (recorded): pending a retry, or failed for good."""
        run = self.actions[index]
        if may_retry(policy, run.attempts, retryable=failure.retryable):
            # The backoff counts from the failure (the run's end, as recorded), not from when this is decided.
            failed_at = run.finished_at or now
            self.status = ExecutionStatus.PENDING
            self.next_retry_at = failed_at + backoff_delay(
                policy, run.attempts, retry_after_seconds=failure.retry_after_seconds
            )
            self.error = run.error
        else:
            self.error = run.error
            self._finish(ExecutionStatus.FAILED, now)

    def record_failed_run(
        self, index: int, failure: ActionFailed, now: datetime, *, output: dict[str, Any] | None = None
    ) -> None:
        """Record the action's failed run alone; `fail_action` also decides what becomes of the execution."""
        run = self.actions[index]
        run.status = ActionStatus.FAILED
        run.error = ErrorInfo.from_failure(failure)
        run.output = output
        self._stop_clock(run, now)

    def will_retry(self, index: int, policy: RetryPolicy, *, retryable: bool) -> bool:
        """Whether a failure of the action at `index`, in its current run, leaves the execution pending a retry."""
        return may_retry(policy, self.actions[index].attempts, retryable=retryable)

    def failed_for_good_at(self, index: int, policy: RetryPolicy) -> bool:
        """The action's recorded run failed and no retry follows: a runner that crashed after saving that failure
        but before concluding left it so. A runner taking over concludes the execution instead of running it."""
        run = self.actions[index]
        if run.status is not ActionStatus.FAILED or run.error is None:
            return False
        return not may_retry(policy, run.attempts, retryable=run.error.retryable)

    def fail(self, now: datetime) -> None:
        """Failed for good, with the error of the action whose failure decided it."""
        self.error = next((run.error for run in reversed(self.actions) if run.status is ActionStatus.FAILED), None)
        self._finish(ExecutionStatus.FAILED, now)

    def succeed(self, now: datetime) -> None:
        self.error = None
        self._finish(ExecutionStatus.SUCCEEDED, now)

    def redispatch(self) -> None:
        """A pending execution goes back to the queue for its next attempt."""
        self.status = ExecutionStatus.QUEUED
        self.attempt += 1

    def cancel(self, now: datetime) -> None:
        for run in self.actions:
            if run.status is ActionStatus.RUNNING:
                run.status = ActionStatus.FAILED
                run.error = ErrorInfo(type="cancelled", message="the execution was cancelled while this action ran")
                self._stop_clock(run, now)
        self.next_retry_at = None
        self._finish(ExecutionStatus.CANCELLED, now)

    def _finish(self, status: ExecutionStatus, now: datetime) -> None:
        self.status = status
        self.next_retry_at = None
        self.finished_at = now
        for run in self.actions:
            if run.status is ActionStatus.NOT_STARTED:
                run.status = ActionStatus.SKIPPED
        if self.started_at is not None:
            self.duration_ms = _ms(self.started_at, now)

    @staticmethod
    def _stop_clock(run: ActionRun, now: datetime) -> None:
        run.finished_at = now
        if run.started_at is not None:
            run.duration_ms = _ms(run.started_at, now)
