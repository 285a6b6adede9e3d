"""Running one attempt of an execution: claim it, run its actions in order, record every step.

The order of writes, and why:
- `claim_for_run` takes the execution under a lease with a token of this claim's own, in one conditional write,
  so a redelivered or duplicated request is a no-op, a dead runner's execution can be taken over once its lease
  expires, and a second claim (even in this process) makes the first one's writes fail.
- The record is saved after each action completes, the last one included, before anything depends on it: that
  is what makes "an action that succeeded is never run again" hold across crashes (a retry, a redelivery or a
  takeover resumes at the first action not succeeded, or concludes a failure already decided). The save before an
  http-request action shows it running; a `log` action is instantaneous and gets none.
- A save that returns False means the execution was cancelled or taken over: the runner stops at once. An action
  whose lease cannot be renewed is stopped before the lease ends (wfa_runner.lease).
- Then the execution is finished in the one order of wfa.service_layer.finishing: the lock is released before
  the final status is stored, so a client that reads a finished status can trigger again at once (contract,
  "Settled details"); a pending record is saved before the lock goes pending.

This module knows neither Kafka nor MongoDB: it works on the ports, and the worker calls `run` per request.

Observability: every line logged during an attempt carries workflow_id, execution_id and attempt (structlog
context) and the active span's ids. An attempt is a span (`execution attempt`, linked to the first attempt's
trace when it runs in another one: a retry, a redelivery), each action run a span beneath it (`action <type>`,
an HTTP call's client span beneath that), and the outcomes feed the runner's Prometheus metrics.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

import structlog
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode, Tracer

from wfa.domain.clock import Clock
from wfa.domain.errors import ActionFailed, DependencyUnavailable
from wfa.domain.execution import Execution, ExecutionPlan, ExecutionStatus, Section, Step
from wfa.domain.failure_streak import Concluded
from wfa.domain.templates import TemplateError, evaluate, truthy
from wfa.events import ExecutionRequest, LifecycleEvent, LifecycleEventType, WorkflowEvent, WorkflowEventType
from wfa.observability.tracing import Attributes, default_tracer, link_to_trace_of
from wfa.ports.repositories import ExecutionRepository, WorkflowRepository
from wfa.service_layer.finishing import finish
from wfa.until_done import until_done
from wfa_runner.actions.base import ActionRunner, ActionSpec, Output, output_of
from wfa_runner.lease import LeaseLost, run_under_lease
from wfa_runner.lifecycle_events import LifecycleEvents
from wfa_runner.metrics import RunnerMetrics

T = TypeVar("T")

log = structlog.get_logger(__name__)

# A lease is renewed once an action has run for this fraction of it: two renewals can fail before it lapses.
RENEW_FRACTION = 1 / 3
# Nominal waits between attempts of a write that failed because MongoDB is unreachable (the last one repeats;
# each is jittered, see wfa.until_done).
WRITE_RETRY_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0)


class RunOutcome(StrEnum):
    NOT_CLAIMED = "not_claimed"  # not ours to run: a redelivery, or already running, finished, cancelled
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # failed for good
    PENDING = "pending"  # this attempt failed; the scheduler re-dispatches the next one at nextRetryAt
    STOPPED = "stopped"  # cancelled or taken over while running


_OUTCOMES = {
    ExecutionStatus.SUCCEEDED: (RunOutcome.SUCCEEDED, LifecycleEventType.EXECUTION_SUCCEEDED),
    ExecutionStatus.FAILED: (RunOutcome.FAILED, LifecycleEventType.EXECUTION_FAILED),
    ExecutionStatus.PENDING: (RunOutcome.PENDING, LifecycleEventType.EXECUTION_PENDING),
}


_FAILED_OUTCOMES = frozenset({RunOutcome.FAILED, RunOutcome.PENDING})


class _ActionResult(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the span's outcome; _run_action returns the failure itself
    STOPPED = "stopped"


_SUCCEEDED_EVENT = {
    Section.ACTIONS: LifecycleEventType.ACTION_SUCCEEDED,
    Section.COMPENSATIONS: LifecycleEventType.COMPENSATION_SUCCEEDED,
    Section.ON_FAILURE: LifecycleEventType.ON_FAILURE_SUCCEEDED,
}
_FAILED_EVENT = {
    Section.ACTIONS: LifecycleEventType.ACTION_FAILED,
    Section.COMPENSATIONS: LifecycleEventType.COMPENSATION_FAILED,
    Section.ON_FAILURE: LifecycleEventType.ON_FAILURE_FAILED,
}
_SPAN_PREFIX = {Section.ACTIONS: "action", Section.COMPENSATIONS: "compensation", Section.ON_FAILURE: "onFailure"}
_LOG_PREFIX = {Section.ACTIONS: "action", Section.COMPENSATIONS: "compensation", Section.ON_FAILURE: "on_failure"}

_FAILURE_EVENTS = frozenset(
    {*_FAILED_EVENT.values(), LifecycleEventType.EXECUTION_FAILED, LifecycleEventType.EXECUTION_PENDING}
)


@dataclass
class _Run:
    execution: Execution
    plan: ExecutionPlan
    lease_until: datetime
    token: str  # this claim's lease owner


def new_claim_token(process: str) -> str:
    """The lease owner of one claim: the process (for people reading the record) and a part unique to the claim."""
    return f"{process}/{uuid.uuid4().hex[:16]}"


class ExecutionRunner:
    def __init__(
        self,
        *,
        workflows: WorkflowRepository,
        executions: ExecutionRepository,
        actions: Mapping[str, ActionRunner],
        events: LifecycleEvents,
        clock: Clock,
        owner: str,
        lease: timedelta,
        renew_every: float | None = None,
        write_retry_delays: Sequence[float] = WRITE_RETRY_DELAYS,
        metrics: RunnerMetrics | None = None,
        tracer: Tracer | None = None,
        start_waiting: Callable[[str], Awaitable[object]] | None = None,
    ) -> None:
        """`start_waiting`: starts the executions waiting for a slot of a workflow (whenBusy: queue;
        wfa.service_layer.triggering.start_waiting); without it they start at the repair sweep's next look."""
        self._workflows = workflows
        self._executions = executions
        self._actions = actions
        self._events = events
        self._clock = clock
        self.owner = owner
        self._lease = lease
        self._renew_every = renew_every if renew_every is not None else lease.total_seconds() * RENEW_FRACTION
        self._write_retry_delays = tuple(write_retry_delays) or (1.0,)
        self._metrics = metrics or RunnerMetrics.private()
        self._tracer = tracer or default_tracer()
        self._start_waiting = start_waiting

    async def run(self, request: ExecutionRequest) -> RunOutcome:
        """Run the attempt `request` names, if it is ours to run.

        Raises DependencyUnavailable when the claim cannot reach the database, or when a later write still
        cannot once the lease has lapsed: the caller retries the request later (the claim then resumes the
        execution where its record says). Nothing else escapes: an action's failure is recorded, not raised.
        """
        with (
            structlog.contextvars.bound_contextvars(
                workflow_id=request.workflow_id, execution_id=request.execution_id, attempt=request.attempt
            ),
            self._tracer.start_as_current_span(
                "execution attempt",
                attributes={
                    Attributes.WORKFLOW_ID: request.workflow_id,
                    Attributes.EXECUTION_ID: request.execution_id,
                    Attributes.ATTEMPT: request.attempt,
                    Attributes.REASON: request.reason.value,
                },
            ) as span,
        ):
            outcome = await self._run(request)
            span.set_attribute(Attributes.OUTCOME, outcome.value)
            if outcome in _FAILED_OUTCOMES:
                span.set_status(Status(StatusCode.ERROR, f"the attempt ended {outcome.value}"))
            if outcome is not RunOutcome.NOT_CLAIMED:
                self._metrics.attempts.labels(outcome=outcome.value).inc()
            return outcome

    async def _run(self, request: ExecutionRequest) -> RunOutcome:
        now = self._clock.now()
        # A token per claim, not per process: a second claim of the same execution in this process (a republished
        # request after this run's lease lapsed) must make the first run's writes fail like anyone else's.
        token = new_claim_token(self.owner)
        claimed = await self._executions.claim_for_run(
            request.execution_id, attempt=request.attempt, owner=token, lease_until=now + self._lease, now=now
        )
        if claimed is None:
            log.info("execution.not_claimed", why="redelivered, finished, cancelled or running elsewhere")
            return RunOutcome.NOT_CLAIMED
        run = _Run(claimed.execution, claimed.plan, lease_until=now + self._lease, token=token)
        execution = run.execution
        link_to_trace_of(trace.get_current_span(), execution.traceparent)
        # A failure a dead runner saved but did not settle is settled here: never by running the action again.
        execution.resume(run.plan, now)
        self._emit(execution, LifecycleEventType.EXECUTION_STARTED)
        if execution.status.is_final:
            return await self._conclude(run)

        step, refused = self._advance(run)
        log.info("execution.started", resume_at=_describe(step))
        begun = step is not None and refused is None and self._begin_visibly(run, step)
        if begun and not await self._save(run):
            return RunOutcome.STOPPED
        while step is not None:
            if not begun:
                execution.begin_action(step, self._clock.now())
            result = await self._run_action(run, step, refused)
            if result is _ActionResult.STOPPED:
                return RunOutcome.STOPPED
            if isinstance(result, ActionFailed):
                ended = await self._after_failure(run, step, result)
                if ended is not None:
                    return ended
            step, refused = self._advance(run)
            begun = step is not None and refused is None and self._begin_visibly(run, step)
            # Every completion is saved before anything depends on it: the next action, or the lock's release
            # (contract, "Settled details"). One save records it and, for an action worth showing, the next one
            # running.
            if not await self._save(run):
                return RunOutcome.STOPPED
        execution.conclude(self._clock.now())
        return await self._conclude(run)

    def _advance(self, run: _Run) -> tuple[Step | None, ActionFailed | None]:
        """The next action run to perform, past the actions whose `when` is falsy (recorded as skipped), and the
        failure of its `when` when that expression cannot be evaluated (the action then fails without running)."""
        execution = run.execution
        while (step := execution.next_step(run.plan)) is not None:
            action = run.plan.action_at(execution, step)
            if action.when is None:
                return step, None
            try:
                if truthy(evaluate(action.when, execution.template_context(step))):
                    return step, None
            except TemplateError as failure:
                return step, failure
            execution.skip_action(step)
            self._metrics.observe_action(action.type, "skipped", None)
            self._emit(execution, LifecycleEventType.ACTION_SKIPPED, step)
            log.info("action.skipped", action=action.name, why="its when is falsy", when=action.when)
        return None, None

    async def _after_failure(self, run: _Run, step: Step, failure: ActionFailed) -> RunOutcome | None:
        """Settle a failed run: pending a retry or failed for good end this attempt (the outcome); None when the
        execution goes on (continueOnError, the failure handlers, the next handler)."""
        execution = run.execution
        if not execution.will_retry(step, run.plan, retryable=failure.retryable) and not await self._save(run):
            # A final failure is durable before anything depends on it: the handlers, the lock's release.
            return RunOutcome.STOPPED
        execution.settle_failure(step, failure, run.plan, self._clock.now())
        self._emit(execution, _FAILED_EVENT[step.section], step)
        if execution.status is ExecutionStatus.RUNNING:
            return None
        return await self._conclude(run)

    async def _run_action(self, run: _Run, step: Step, refused: ActionFailed | None) -> _ActionResult | ActionFailed:
        """Perform one (already begun) action and record its completion or its failed run on the execution;
        a failure is returned for the caller to settle. `refused`: the action fails with it, without running."""
        execution = run.execution
        action = run.plan.action_at(execution, step)
        with self._tracer.start_as_current_span(
            f"{_SPAN_PREFIX[step.section]} {action.type}",
            attributes={
                Attributes.ACTION_NAME: action.name or "",
                Attributes.ACTION_TYPE: action.type,
                Attributes.ACTION_INDEX: step.index,
                Attributes.ACTION_SECTION: step.section.value,
                Attributes.ACTION_ATTEMPT: execution.run_at(step).attempts,
            },
        ) as span:
            try:
                if refused is not None:
                    raise refused
                output = await self._perform(run, step, action)
            except LeaseLost:
                span.set_attribute(Attributes.OUTCOME, _ActionResult.STOPPED.value)
                log.info("execution.stopped", why="cancelled or taken over while an action ran", action=action.name)
                return _ActionResult.STOPPED
            except ActionFailed as failure:
                execution.record_failed_run(step, failure, self._clock.now(), output=output_of(failure))
                span.set_attribute(Attributes.OUTCOME, _ActionResult.FAILED.value)
                span.set_attribute(Attributes.ERROR_TYPE, failure.kind)
                span.set_status(Status(StatusCode.ERROR, str(failure)))
                self._observe(step, action, _ActionResult.FAILED, execution.run_at(step).duration_ms)
                log.info(
                    f"{_LOG_PREFIX[step.section]}.failed",
                    action=action.name,
                    kind=failure.kind,
                    retryable=failure.retryable,
                    error=str(failure),
                )
                return failure
            execution.complete_action(step, output, self._clock.now())
            span.set_attribute(Attributes.OUTCOME, _ActionResult.SUCCEEDED.value)
            duration_ms = execution.run_at(step).duration_ms
            self._observe(step, action, _ActionResult.SUCCEEDED, duration_ms)
            self._emit(execution, _SUCCEEDED_EVENT[step.section], step)
            log.debug(f"{_LOG_PREFIX[step.section]}.succeeded", action=action.name, duration_ms=duration_ms)
            return _ActionResult.SUCCEEDED

    def _observe(self, step: Step, action: ActionSpec, result: _ActionResult, duration_ms: int | None) -> None:
        if step.is_handler:
            self._metrics.failure_handlers.labels(kind=step.section.value, outcome=result.value).inc()
        else:
            self._metrics.observe_action(action.type, result.value, duration_ms)

    def _begin_visibly(self, run: _Run, step: Step) -> bool:
        """Begin the action now if users should see it running (it is about to be saved); False for a log."""
        if run.plan.action_at(run.execution, step).type == "log":
            return False
        run.execution.begin_action(step, self._clock.now())
        return True

    async def _perform(self, run: _Run, step: Step, action: ActionSpec) -> Output:
        runner = self._actions.get(action.type)
        if runner is None:
            raise ActionFailed(f"no runner for actions of type {action.type!r}", kind="unsupported", retryable=False)

        async def renew() -> bool:
            lease_until = self._clock.now() + self._lease
            held = await self._executions.renew_lease(
                run.execution.execution_id, owner=run.token, lease_until=lease_until
            )
            if held:
                run.lease_until = lease_until
            return held

        def time_left() -> float:
            # Stop half a renewal period before the lease ends, so that the action is over before anyone could
            # take the execution over, clocks a little apart included.
            safe_until = run.lease_until - timedelta(seconds=self._renew_every / 2)
            return (safe_until - self._clock.now()).total_seconds()

        context = run.execution.template_context(step)
        try:
            return await run_under_lease(
                runner.run(action, context), renew=renew, every=self._renew_every, time_left=time_left
            )
        except (ActionFailed, LeaseLost):
            raise
        except Exception as exc:
            # A bug in an action runner: recorded on the execution like any failure, and not retried, since
            # the same input would fail the same way.
            log.exception("action.crashed", action=action.name)
            raise ActionFailed(f"the action runner failed: {exc!r}", kind="internal", retryable=False) from exc

    async def _conclude(self, run: _Run) -> RunOutcome:
        execution = run.execution
        outcome, event_type = _OUTCOMES[execution.status]
        released = Concluded(released=False)

        def concluded(what: Concluded) -> None:
            nonlocal released
            released = what

        recorded = await finish(
            self._workflows,
            workflow_id=execution.workflow_id,
            execution_id=execution.execution_id,
            status=execution.status,
            record=lambda: self._save(run),
            writing=lambda what, write: self._durably(run, what, write),
            pause_after_failures=run.plan.pause_after_failures,
            concluded=concluded,
        )
        if not recorded:
            return RunOutcome.STOPPED
        if execution.status.is_final:
            self._metrics.final_executions.observe(execution)
        self._emit(execution, event_type)
        if released.paused:
            self._paused_by_failures(execution, released)
        if released.released and run.plan.queues:
            await self._start_next(execution.workflow_id)
        log.info(
            f"execution.{outcome.value}",
            duration_ms=execution.duration_ms,
            next_retry_at=execution.next_retry_at.isoformat() if execution.next_retry_at else None,
        )
        return outcome

    async def _start_next(self, workflow_id: str) -> None:
        """The slot this execution freed goes to the first waiting execution. Best effort: the execution's own
        outcome is recorded already, and the repair sweep starts a queue that did not move (docs/concurrency.md)."""
        if self._start_waiting is None:
            return
        try:
            await self._start_waiting(workflow_id)
        except Exception as exc:
            log.warning("queue.start_deferred", error=str(exc))

    async def _save(self, run: _Run) -> bool:
        async def save() -> bool:
            lease_until = self._clock.now() + self._lease
            saved = await self._executions.save_progress(run.execution, owner=run.token, lease_until=lease_until)
            if saved:
                run.lease_until = lease_until
            return saved

        saved = await self._durably(run, "save_progress", save)
        if not saved:
            log.info("execution.stopped", why="cancelled or taken over")
        return saved

    async def _durably(self, run: _Run, what: str, write: Callable[[], Awaitable[T]]) -> T:
        """Retry `write` while MongoDB is unreachable and the lease still holds (no one else can take the
        execution meanwhile); once it lapsed, give up with DependencyUnavailable. Every write here is
        idempotent, so one that landed although its answer was lost does no harm when repeated."""

        def retrying(error: Exception, wait: float) -> None:
            log.warning("execution.write_retry", write=what, retry_in_s=round(wait, 3), error=str(error))

        try:
            return await until_done(
                write,
                retry_on=DependencyUnavailable,
                delays=self._write_retry_delays,
                give_up=lambda: self._clock.now() >= run.lease_until,
                on_retry=retrying,
            )
        except DependencyUnavailable as exc:
            log.warning("execution.write_abandoned", write=what, error=str(exc))
            raise

    def _paused_by_failures(self, execution: Execution, released: Concluded) -> None:
        """The release that ended `execution` paused its workflow: told after the execution's own event, on the same
        chain (best effort, as every event: a crash right here loses it, the pause stands)."""
        self._metrics.workflows_paused.inc()
        log.warning("workflow.paused", reason="failures", consecutive_failures=released.consecutive_failures)
        self._events.emit(
            WorkflowEvent(
                type=WorkflowEventType.WORKFLOW_PAUSED,
                workflow_id=execution.workflow_id,
                occurred_at=self._clock.now(),
                reason="failures",
                execution_id=execution.execution_id,
                consecutive_failures=released.consecutive_failures,
            )
        )

    def _emit(self, execution: Execution, event_type: LifecycleEventType, step: Step | None = None) -> None:
        action = execution.run_at(step) if step is not None else None
        error = None
        if event_type in _FAILURE_EVENTS:
            error = action.error if action is not None else execution.error
        self._events.emit(
            LifecycleEvent(
                type=event_type,
                execution_id=execution.execution_id,
                workflow_id=execution.workflow_id,
                attempt=execution.attempt,
                status=execution.status.value,
                occurred_at=self._clock.now(),
                action=action.name if action is not None else None,
                error=error.model_dump(mode="json", by_alias=True) if error is not None else None,
            )
        )


def _describe(step: Step | None) -> str | None:
    if step is None:
        return None
    return str(step.index) if step.section is Section.ACTIONS else f"{step.section.value}[{step.index}]"
