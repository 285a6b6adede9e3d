"""An execution: one accepted trigger of a workflow, its attempts and the record of every action."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import Field, JsonValue, computed_field
from pydantic.json_schema import SkipJsonSchema

from wfa.domain.base import Model
from wfa.domain.errors import ActionFailed, ExecutionNotRetryable
from wfa.domain.retry import backoff_delay, may_retry
from wfa.domain.workflow import Action, RetryPolicy, WhenBusy, Workflow

IDEMPOTENCY_WINDOW = timedelta(hours=24)
"""How long an Idempotency-Key names the execution it started (contract: keys are remembered for 24 h)."""


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
    WEBHOOK = "webhook"  # a signed POST /hooks/{workflowId}
    BACKFILL = "backfill"  # POST /workflows/{id}/backfill: one execution per past slot asked for


class ErrorInfo(Model):
    type: str
    """What kind of failure: http_status, timeout, connection_error, template_error, cancelled, ..."""
    message: str
    """What happened, in words (secrets redacted)."""
    retryable: bool = False
    """Whether another attempt may succeed."""
    action: str | None = None
    """On the execution's error: the action whose failure decided it (null on an action's own error)."""

    @classmethod
    def from_failure(cls, failure: ActionFailed) -> ErrorInfo:
        return cls(type=failure.kind, message=str(failure), retryable=failure.retryable)


class AttemptOutcome(StrEnum):
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # still running when another run of the action began: its runner went away


MAX_EARLIER_ATTEMPTS = 100
"""The most earlier runs an action run keeps: maxAttempts is at most 100, so only runs interrupted over and over
(a runner dying each time) could ever push the oldest ones out."""


class AttemptRecord(Model):
    """One earlier run of an action in this execution, kept when a new run of the action began."""

    attempt: int
    """Which run it was: 1 for the first."""
    outcome: AttemptOutcome
    """`failed`, or `interrupted` (its runner went away while it ran: no end was recorded)."""
    started_at: datetime | None = None
    """When it started."""
    finished_at: datetime | None = None
    """When it ended (null when interrupted)."""
    duration_ms: int | None = None
    """How long it took (null when interrupted)."""
    error: ErrorInfo | None = None
    """Why it failed (null when interrupted)."""


class ActionRun(Model):
    name: str
    """The action's name in the definition."""
    type: str
    """The action's type (`log`, `http-request`)."""
    status: ActionStatus = ActionStatus.NOT_STARTED
    """`not_started`, `running`, `succeeded`, `failed` or `skipped`."""
    attempts: int = 0
    """How many times the action ran in this execution."""
    started_at: datetime | None = None
    """When its last run started."""
    finished_at: datetime | None = None
    """When its last run ended."""
    duration_ms: int | None = None
    """How long its last run took."""
    output: dict[str, JsonValue] | None = None
    """What its last run produced: `{status, headers, body}` for an http-request, `{message}` for a log (redacted)."""
    error: ErrorInfo | None = None
    """Why its last run failed, or null."""
    previous: list[AttemptRecord] = Field(default_factory=list)
    """Its earlier runs in this execution, oldest first (at most 100): with the last run, every attempt, and the
    waits between them."""

    def begin(self, now: datetime) -> None:
        """A new run starts: the one before it, failed or interrupted, moves into `previous`."""
        outcome = {ActionStatus.FAILED: AttemptOutcome.FAILED, ActionStatus.RUNNING: AttemptOutcome.INTERRUPTED}.get(
            self.status
        )
        if outcome is not None and self.attempts > 0:
            record = AttemptRecord(
                attempt=self.attempts,
                outcome=outcome,
                started_at=self.started_at,
                finished_at=self.finished_at,
                duration_ms=self.duration_ms,
                error=self.error,
            )
            self.previous = [*self.previous, record][-MAX_EARLIER_ATTEMPTS:]
        self.status = ActionStatus.RUNNING
        self.attempts += 1
        self.started_at = now
        self.finished_at = None
        self.duration_ms = None
        self.output = None
        self.error = None


class Section(StrEnum):
    """The lists of action runs an execution records: its actions, then, when it fails for good, the failure
    handlers (contract v2, "Failure handling")."""

    ACTIONS = "actions"
    COMPENSATIONS = "compensations"
    ON_FAILURE = "onFailure"


@dataclass(frozen=True)
class Step:
    """One action run's place: which list, which index."""

    section: Section
    index: int

    @classmethod
    def of(cls, where: int | Step) -> Step:
        """A bare index is an action's (the main list)."""
        return where if isinstance(where, Step) else cls(Section.ACTIONS, where)

    @property
    def is_handler(self) -> bool:
        return self.section is not Section.ACTIONS


class ExecutionPlan(Model):
    """What an execution runs, frozen when it is created: a later update of the workflow does not change it."""

    actions: list[Action]
    retry: RetryPolicy
    on_failure: list[Action] = Field(default_factory=list)
    pause_after_failures: int | None = None
    """The workflow's `trigger.pauseAfterFailures` when the execution was created (wfa.domain.failure_streak)."""
    queues: bool = False
    """Whether the workflow queued triggers (`whenBusy: queue`) when the execution was created: its end hands the
    freed slot to the first waiting execution."""

    @classmethod
    def of(cls, workflow: Workflow) -> ExecutionPlan:
        return cls(
            actions=list(workflow.actions),
            retry=workflow.retry,
            on_failure=list(workflow.on_failure),
            pause_after_failures=workflow.trigger.pause_after_failures,
            queues=workflow.concurrency.when_busy is WhenBusy.QUEUE,
        )

    def action_at(self, execution: Execution, where: int | Step) -> Action:
        """The action the run at `where` runs: a compensation is found by name among the actions' `compensate`."""
        step = Step.of(where)
        if step.section is Section.ACTIONS:
            return self.actions[step.index]
        if step.section is Section.ON_FAILURE:
            return self.on_failure[step.index]
        name = execution.runs(step.section)[step.index].name
        return next(a.compensate for a in self.actions if a.compensate is not None and a.compensate.name == name)

    def policy_for(self, where: int | Step, execution: Execution | None = None) -> RetryPolicy:
        step = Step.of(where)
        if step.section is Section.ACTIONS:
            action = self.actions[step.index]
        else:
            if execution is None:
                raise ValueError("a handler's policy needs the execution that names it")
            action = self.action_at(execution, step)
        return action.retry or self.retry


_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id a W3C traceparent names (version-traceid-parentid-flags); None when it is absent, malformed or
    the invalid all-zero id."""
    match = _TRACEPARENT.match(traceparent or "")
    if match is None or match.group(1) == "0" * 32:
        return None
    return match.group(1)


def _ms(start: datetime, end: datetime) -> int:
    return int((end - start) / timedelta(milliseconds=1))


class Execution(Model):
    execution_id: str
    """The execution's id."""
    workflow_id: str
    """The workflow it runs."""
    workflow_version: int
    """The version of the workflow's definition it runs (frozen at creation)."""
    reason: Reason
    """What started it: `manual`, `schedule`, `retry` or `webhook` (a signed POST /hooks/{workflowId})."""
    scheduled_for: datetime | None = None
    """The slot a scheduled fire was for (null otherwise): which fire this is; createdAt - scheduledFor is how late."""
    retry_of: str | None = None
    """The failed or cancelled execution this one retries (reason `retry`; null otherwise)."""
    status: ExecutionStatus = ExecutionStatus.QUEUED
    """`queued`, `running`, `pending` (waiting for a retry), `succeeded`, `failed` or `cancelled`."""
    waiting: bool = False
    """True while a queued execution waits for a slot of its workflow's concurrency limit (`whenBusy: queue`): its
    request is sent when it reaches the head of the queue and a slot frees (the workflow's `trigger.waiting`)."""
    attempt: int = 1
    """Its dispatches: 1, then +1 per retry."""
    max_attempts: int
    """The workflow-level maxAttempts."""
    next_retry_at: datetime | None = None
    """When the next attempt is due, while pending."""
    input: dict[str, JsonValue] = Field(default_factory=dict)
    """The trigger's input (`{}` when none): `input` in templates."""
    actions: list[ActionRun]
    """The record of every action, in the definition's order."""
    compensations: list[ActionRun] | None = None
    """Null until the execution fails for good; then the compensations of the actions that had succeeded (reverse
    order), each run at most once. Never run for a cancelled execution."""
    on_failure: list[ActionRun] | None = None
    """Null until the execution fails for good; then the workflow's onFailure actions, each run at most once."""
    error: ErrorInfo | None = None
    """The failure that decided a failed execution (`action` names the action), or the last one while pending."""
    created_at: datetime
    """When it was accepted."""
    started_at: datetime | None = None
    """When its first attempt started."""
    finished_at: datetime | None = None
    """When it ended."""
    duration_ms: int | None = None
    """From start to end."""
    # Internal, never served (exclude): the W3C trace context of the request that created the execution, so that
    # later attempts, dispatched in traces of their own, can link back to it.
    traceparent: SkipJsonSchema[str | None] = Field(default=None, exclude=True)
    # Internal, never served: when a cancel was asked for. From then on no runner may claim the execution and its
    # lease is gone; should the cancel not be recorded (a crash), the scheduler's repair completes it.
    cancel_requested_at: SkipJsonSchema[datetime | None] = Field(default=None, exclude=True)

    @computed_field  # type: ignore[prop-decorator]  # mypy does not follow a decorated property
    @property
    def trace_id(self) -> str | None:
        """The trace id (32 hex digits) of the W3C traceparent the execution was created under: look it up in
        Jaeger. Null when it was created outside a trace."""
        return trace_id_of(self.traceparent)

    def wait_for_slot(self) -> None:
        """Accepted while every slot of the workflow's limit was taken (`whenBusy: queue`): it stays queued, its
        request unsent, until it starts (wfa.service_layer.queueing)."""
        self.waiting = True

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
        cls,
        original: Execution,
        *,
        execution_id: str,
        now: datetime,
        plan: ExecutionPlan,
        traceparent: str | None = None,
    ) -> Execution:
        """A new execution resuming `original`: same workflow version and input, the actions that succeeded copied
        as recorded (the runner resumes at the first other one, and later actions see their outputs), every other
        action not started. An action its compensation undid (the compensation succeeded; `plan` names who
        compensates whom) runs again: what it did no longer exists. Raises ExecutionNotRetryable unless `original`
        failed or was cancelled."""
        if not original.can_be_retried:
            raise ExecutionNotRetryable(original.execution_id, original.status.value)
        undone = {
            action.name
            for action in plan.actions
            if action.compensate is not None
            and any(
                run.name == action.compensate.name and run.status is ActionStatus.SUCCEEDED
                for run in original.compensations or []
            )
        }
        return cls(
            execution_id=execution_id,
            workflow_id=original.workflow_id,
            workflow_version=original.workflow_version,
            reason=Reason.RETRY,
            retry_of=original.execution_id,
            max_attempts=original.max_attempts,
            input=original.input,
            actions=[
                run
                if run.status is ActionStatus.SUCCEEDED and run.name not in undone
                else ActionRun(name=run.name, type=run.type)
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

    def runs(self, section: Section) -> list[ActionRun]:
        if section is Section.ACTIONS:
            return self.actions
        runs = self.compensations if section is Section.COMPENSATIONS else self.on_failure
        return runs if runs is not None else []

    def run_at(self, where: int | Step) -> ActionRun:
        step = Step.of(where)
        return self.runs(step.section)[step.index]

    @property
    def is_failing(self) -> bool:
        """Failed for good, its failure handlers running or done: it concludes `failed` whatever they do."""
        return self.compensations is not None

    def start_attempt(self, now: datetime) -> None:
        self.status = ExecutionStatus.RUNNING
        self.next_retry_at = None
        if self.started_at is None:
            self.started_at = now

    def resume(self, plan: ExecutionPlan, now: datetime) -> None:
        """Start this attempt where the record says. A runner that saved an action's final failure and died before
        deciding what follows left a decision to take: it is taken here, never by running the action again."""
        self.start_attempt(now)
        if not self.is_failing:
            decided = next(
                (
                    index
                    for index, run in enumerate(self.actions)
                    if self._failed_for_good(run, plan.policy_for(index)) and not plan.actions[index].continue_on_error
                ),
                None,
            )
            if decided is not None:
                self._start_failure_handling(plan, decided, now)

    def next_step(self, plan: ExecutionPlan) -> Step | None:
        """The next action run to perform: the first action neither done nor given up on (continueOnError); once
        failing, the first failure handler not yet run. None: nothing is left, the execution concludes."""
        sections = (Section.COMPENSATIONS, Section.ON_FAILURE) if self.is_failing else (Section.ACTIONS,)
        for section in sections:
            for index, run in enumerate(self.runs(section)):
                step = Step(section, index)
                if run.status in _DONE or self._failed_for_good(run, plan.policy_for(step, self)):
                    continue
                return step
        return None

    def begin_action(self, where: int | Step, now: datetime) -> None:
        self.run_at(where).begin(now)

    def skip_action(self, where: int | Step) -> None:
        """Its `when` is falsy: the action does not run, and the execution goes on."""
        self.run_at(where).status = ActionStatus.SKIPPED

    def complete_action(self, where: int | Step, output: dict[str, Any], now: datetime) -> None:
        run = self.run_at(where)
        run.status = ActionStatus.SUCCEEDED
        run.output = output
        run.error = None
        self._stop_clock(run, now)

    def fail_action(
        self,
        where: int | Step,
        failure: ActionFailed,
        plan: ExecutionPlan,
        now: datetime,
        *,
        output: dict[str, Any] | None = None,
    ) -> None:
        """Record a failed attempt and decide what follows (see settle_failure)."""
        self.record_failed_run(where, failure, now, output=output)
        self.settle_failure(where, failure, plan, now)

    def settle_failure(self, where: int | Step, failure: ActionFailed, plan: ExecutionPlan, now: datetime) -> None:
        """After a failed run (recorded): pending a retry when attempts remain (the plan's policy for that run);
        otherwise, for an action, the execution goes on (continueOnError) or fails for good, its failure handlers
        first; a handler's final failure is recorded and the next handler runs."""
        step = Step.of(where)
        run = self.run_at(step)
        policy = plan.policy_for(step, self)
        if may_retry(policy, run.attempts, retryable=failure.retryable):
            # The backoff counts from the failure (the run's end, as recorded), not from when this is decided.
            failed_at = run.finished_at or now
            self.status = ExecutionStatus.PENDING
            self.next_retry_at = failed_at + backoff_delay(
                policy, run.attempts, retry_after_seconds=failure.retry_after_seconds
            )
            if not self.is_failing:  # while failing, the error stays the one that decided it
                self.error = run.error
            return
        if step.is_handler or plan.actions[step.index].continue_on_error:
            return
        self._start_failure_handling(plan, step.index, now)

    def record_failed_run(
        self, where: int | Step, failure: ActionFailed, now: datetime, *, output: dict[str, Any] | None = None
    ) -> None:
        """Record the action's failed run alone; `fail_action` also decides what becomes of the execution."""
        run = self.run_at(where)
        run.status = ActionStatus.FAILED
        run.error = ErrorInfo.from_failure(failure)
        run.output = output
        self._stop_clock(run, now)

    def will_retry(self, where: int | Step, plan: ExecutionPlan, *, retryable: bool) -> bool:
        """Whether a failure of the action at `where`, in its current run, leaves the execution pending a retry."""
        return may_retry(plan.policy_for(where, self), self.run_at(where).attempts, retryable=retryable)

    def conclude(self, now: datetime) -> None:
        """Nothing is left to run: succeeded, or failed once the failure handlers ran."""
        if self.is_failing:
            self._finish(ExecutionStatus.FAILED, now)
        else:
            self.succeed(now)

    def succeed(self, now: datetime) -> None:
        # Failures of continueOnError actions stay on their records; the execution itself has none.
        self.error = None
        self._finish(ExecutionStatus.SUCCEEDED, now)

    def redispatch(self) -> None:
        """A pending execution goes back to the queue for its next attempt."""
        self.status = ExecutionStatus.QUEUED
        self.attempt += 1

    def cancel(self, now: datetime) -> None:
        for run in self.every_run():
            if run.status is ActionStatus.RUNNING:
                run.status = ActionStatus.FAILED
                run.error = ErrorInfo(type="cancelled", message="the execution was cancelled while this action ran")
                self._stop_clock(run, now)
        self.next_retry_at = None
        self.waiting = False
        self._finish(ExecutionStatus.CANCELLED, now)

    def template_context(self, where: int | Step) -> dict[str, JsonValue]:
        """What a template of the action run at `where` sees (contract v2, "Data between actions"): the actions
        that ran before it (a failure handler sees them all), and `error` in a failure handler."""
        step = Step.of(where)
        earlier = self.actions if step.is_handler else self.actions[: step.index]
        context: dict[str, JsonValue] = {
            "input": self.input,
            "actions": {run.name: {"output": run.output, "status": run.status.value} for run in earlier},
            "execution": {
                "id": self.execution_id,
                "attempt": self.attempt,
                "reason": self.reason.value,
                "scheduledFor": self.scheduled_for.isoformat() if self.scheduled_for else None,
            },
            "workflow": {"id": self.workflow_id, "version": self.workflow_version},
        }
        if step.is_handler:
            error = self.error
            context["error"] = (
                {"type": error.type, "message": error.message, "action": error.action} if error is not None else None
            )
        return context

    def _start_failure_handling(self, plan: ExecutionPlan, index: int, now: datetime) -> None:
        """The action at `index` failed for good: the compensations of the actions that had succeeded (last first)
        and the onFailure actions are laid out to run, each once; with none to run, the execution fails now."""
        failed = self.actions[index]
        self.error = failed.error.model_copy(update={"action": failed.name}) if failed.error is not None else None
        for run in self.actions:
            if run.status is ActionStatus.NOT_STARTED:
                run.status = ActionStatus.SKIPPED
        self.compensations = [
            ActionRun(name=action.compensate.name or "", type=action.compensate.type)
            for action, run in reversed(list(zip(plan.actions, self.actions, strict=True)))
            if action.compensate is not None and run.status is ActionStatus.SUCCEEDED
        ]
        self.on_failure = [ActionRun(name=handler.name or "", type=handler.type) for handler in plan.on_failure]
        if not self.compensations and not self.on_failure:
            self._finish(ExecutionStatus.FAILED, now)

    @staticmethod
    def _failed_for_good(run: ActionRun, policy: RetryPolicy) -> bool:
        if run.status is not ActionStatus.FAILED or run.error is None:
            return False
        return not may_retry(policy, run.attempts, retryable=run.error.retryable)

    def every_run(self) -> list[ActionRun]:
        """The runs of its actions and of its failure handlers."""
        return [*self.actions, *(self.compensations or []), *(self.on_failure or [])]

    def _finish(self, status: ExecutionStatus, now: datetime) -> None:
        self.status = status
        self.next_retry_at = None
        self.finished_at = now
        for run in self.every_run():
            if run.status is ActionStatus.NOT_STARTED:
                run.status = ActionStatus.SKIPPED
        if self.started_at is not None:
            self.duration_ms = _ms(self.started_at, now)

    @staticmethod
    def _stop_clock(run: ActionRun, now: datetime) -> None:
        run.finished_at = now
        if run.started_at is not None:
            run.duration_ms = _ms(run.started_at, now)


_DONE = frozenset({ActionStatus.SUCCEEDED, ActionStatus.SKIPPED})


def oldest_unfinished(executions: Iterable[Execution]) -> Execution | None:
    """The execution accepted first among those not final (ties: the smaller id), or None: the one a trigger on a
    full `whenBusy: cancelRunning` lock cancels."""
    live = [execution for execution in executions if not execution.status.is_final]
    return min(live, key=lambda execution: (execution.created_at, execution.execution_id), default=None)
