"""Starting executions: the one path by which a manual trigger, a webhook, a retry of a failed or cancelled
execution and a scheduled fire become an execution.

Order of writes, and why: the lock is taken first (the atomic step that decides who wins), then the execution
record is stored (with `dispatchedAt`, so it doubles as its own outbox entry), then the request is published.
A crash after the lock leaves a lock whose execution is missing: the scheduler's repair sweep releases it.
A crash or a broker outage after the record is stored leaves a queued execution that no runner saw: the
sweep publishes it again. The runner's claim makes a second delivery harmless.

`Triggering.checkpoint` is called at the two points between those writes (`TriggerStep`). It does nothing in
production; the e2e tests make a process SIGKILL itself there (WFA_TEST_CRASH_AT, see
wfa.entrypoints.fault_injection) to prove that the repair sweep covers both windows.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import structlog

from wfa.domain.clock import Clock
from wfa.domain.errors import (
    DependencyUnavailable,
    ExecutionAlreadyFinished,
    ExecutionNotFound,
    ExecutionNotRetryable,
    TriggerLocked,
    WebhookNotFound,
    WorkflowDeleted,
    WorkflowNotFound,
)
from wfa.domain.execution import IDEMPOTENCY_WINDOW, Execution, ExecutionPlan, Reason
from wfa.domain.schedule import backlog_execution_id, plan_fire
from wfa.domain.workflow import BacklogSlot, WhenBusy, Workflow
from wfa.events import ExecutionRequest
from wfa.ports.publisher import ExecutionRequestPublisher
from wfa.ports.repositories import ExecutionRepository, SlotOutcome, WorkflowRepository
from wfa.service_layer import finishing
from wfa.service_layer.cancel_running import cancel_oldest_holder, when_busy

# How long a trigger that lost the lock to a holder not stored yet waits for it: the holder's insert follows its
# lock at once, unless its process died in between (then the repair sweep frees the lock, and this one is a 409).
KEYED_WAIT = timedelta(seconds=2)

log = structlog.get_logger(__name__)


def new_execution_id() -> str:
    return uuid.uuid4().hex


def no_trace_context() -> str | None:
    return None


class TriggerStep(StrEnum):
    """The points between the writes of a trigger where a crash leaves something for the repair sweep."""

    AFTER_LOCK = "after_lock"  # the lock is held; the execution is not stored yet
    AFTER_STORE = "after_store"  # the execution is stored (queued); its request is not published yet


def no_checkpoint(step: TriggerStep) -> None:
    """The production checkpoint: nothing happens between the writes."""


@dataclass(frozen=True)
class Triggering:
    """The dependencies every way of starting an execution needs."""

    workflows: WorkflowRepository
    executions: ExecutionRepository
    publisher: ExecutionRequestPublisher
    clock: Clock
    new_id: Callable[[], str] = new_execution_id
    # The caller's trace context as a W3C traceparent, kept on the executions it creates; the composition roots
    # pass wfa.observability.tracing.current_traceparent (this layer knows no tracing library).
    trace_context: Callable[[], str | None] = no_trace_context
    checkpoint: Callable[[TriggerStep], None] = no_checkpoint


@dataclass(frozen=True)
class TriggerResult:
    execution: Execution
    created: bool  # False when an Idempotency-Key matched an earlier trigger


Prepare = Callable[[Workflow, str, datetime], tuple[Execution, ExecutionPlan]]
"""What a start on request stores: the new execution and its plan, from the workflow as locked, the execution's id
and now."""


async def trigger_manually(
    deps: Triggering,
    workflow_id: str,
    *,
    input: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> TriggerResult:
    """Raises WorkflowNotFound, or TriggerLocked when busy, pending or paused."""
    return await _start_with_input(
        deps, workflow_id, reason=Reason.MANUAL, input=input, idempotency_key=idempotency_key
    )


async def trigger_by_webhook(
    deps: Triggering,
    workflow_id: str,
    *,
    input: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> TriggerResult:
    """A trigger by a webhook request whose signature the caller verified (wfa.domain.webhooks): as a manual
    trigger, with reason `webhook`. Raises WebhookNotFound when the workflow no longer takes webhooks (an update
    between the verification and the lock), or TriggerLocked when busy, pending or paused."""

    def still_takes_webhooks(workflow: Workflow) -> None:
        if workflow.webhook_secret_name() is None:
            raise WebhookNotFound(workflow_id)

    try:
        return await _start_with_input(
            deps,
            workflow_id,
            reason=Reason.WEBHOOK,
            input=input,
            idempotency_key=idempotency_key,
            check=still_takes_webhooks,
        )
    except WorkflowNotFound:
        raise WebhookNotFound(workflow_id) from None


def _accept_any(workflow: Workflow) -> None:
    """A manual trigger may start any workflow."""


async def _start_with_input(
    deps: Triggering,
    workflow_id: str,
    *,
    reason: Reason,
    input: dict[str, Any] | None,
    idempotency_key: str | None,
    check: Callable[[Workflow], None] = _accept_any,
) -> TriggerResult:
    """A new execution of the workflow's current definition, given `input`; `check` may refuse the workflow as
    locked (raising releases the lock)."""

    def prepare(workflow: Workflow, execution_id: str, now: datetime) -> tuple[Execution, ExecutionPlan]:
        check(workflow)
        execution = Execution.queued(
            execution_id=execution_id,
            workflow=workflow,
            reason=reason,
            input=input,
            now=now,
            traceparent=deps.trace_context(),
        )
        return execution, ExecutionPlan.of(workflow)

    return await _start_on_request(deps, workflow_id, idempotency_key=idempotency_key, prepare=prepare)


async def retry_execution(deps: Triggering, execution_id: str, *, idempotency_key: str | None = None) -> TriggerResult:
    """Start a new execution resuming a failed or cancelled one (`Execution.retrying`), on the original's frozen
    plan: its recorded outputs only make sense with the same actions. Started as a trigger is (lock, key, 409s).

    Raises ExecutionNotFound, ExecutionNotRetryable, TriggerLocked when busy, pending or paused, or WorkflowDeleted
    when the original's workflow is gone (also when its id now names a workflow created since)."""
    original = await deps.executions.get(execution_id)
    if not original.can_be_retried:
        raise ExecutionNotRetryable(execution_id, original.status.value)
    plan = await deps.executions.get_plan(execution_id)

    def prepare(workflow: Workflow, new_id: str, now: datetime) -> tuple[Execution, ExecutionPlan]:
        if workflow.created_at > original.created_at:
            # The id was deleted and reused: another workflow, which must not run the old one's plan.
            raise WorkflowDeleted(original.workflow_id, execution_id)
        retry = Execution.retrying(original, execution_id=new_id, now=now, traceparent=deps.trace_context(), plan=plan)
        return retry, plan

    try:
        return await _start_on_request(deps, original.workflow_id, idempotency_key=idempotency_key, prepare=prepare)
    except WorkflowNotFound:
        raise WorkflowDeleted(original.workflow_id, execution_id) from None


async def _start_on_request(
    deps: Triggering, workflow_id: str, *, idempotency_key: str | None, prepare: Prepare
) -> TriggerResult:
    """A start asked for by a client (a trigger, a retry): the Idempotency-Key, then the lock, then the writes."""
    now = deps.clock.now()
    if idempotency_key is not None:
        earlier = await deps.executions.find_by_idempotency_key(
            workflow_id, idempotency_key, since=now - IDEMPOTENCY_WINDOW
        )
        if earlier is not None:
            return TriggerResult(earlier, created=False)
    execution_id = deps.new_id()
    try:
        workflow = await deps.workflows.try_acquire_trigger_lock(workflow_id, execution_id=execution_id, now=now)
    except TriggerLocked as locked:
        if idempotency_key is not None:
            earlier = await _keyed_execution_of_holder(
                deps, workflow_id, idempotency_key, holder=locked.execution_id, since=now - IDEMPOTENCY_WINDOW
            )
            if earlier is not None:
                return TriggerResult(earlier, created=False)
        busy = await when_busy(deps.workflows, workflow_id) if locked.reason != "paused" else None
        if busy is WhenBusy.QUEUE:
            return await _wait_for_slot(
                deps, workflow_id, execution_id, now, idempotency_key=idempotency_key, prepare=prepare
            )
        if busy is not WhenBusy.CANCEL_RUNNING:
            raise
        await cancel_oldest_holder(deps.workflows, deps.executions, workflow_id, now=now)
        # The freed slot is an ordinary free slot: a trigger racing this one may take it first, and this one is
        # then refused as `skip` refuses (the TriggerLocked of this second take).
        workflow = await deps.workflows.try_acquire_trigger_lock(workflow_id, execution_id=execution_id, now=now)
    try:
        execution, plan = prepare(workflow, execution_id, now)
    except Exception:
        await _withdraw(deps, workflow_id, execution_id)
        raise
    await _store_and_start(deps, execution, plan, idempotency_key=idempotency_key)
    return TriggerResult(execution, created=True)


async def _wait_for_slot(
    deps: Triggering,
    workflow_id: str,
    execution_id: str,
    now: datetime,
    *,
    idempotency_key: str | None,
    prepare: Prepare,
) -> TriggerResult:
    """`whenBusy: queue` on a full lock: the execution joins the queue (the atomic step that decides, as the lock's
    take does for a start), is stored waiting, then whatever can start starts. The order mirrors a start's: a
    crash after the join leaves a queue entry whose execution is missing (when it reaches a slot, the repair sweep
    frees that slot as any missing holder's); a crash after the store leaves a queue the sweep sets moving."""
    workflow = await deps.workflows.join_queue(workflow_id, execution_id=execution_id, now=now)
    if idempotency_key is not None:
        # After the join, so that a request refused (queue full, paused) claims nothing.
        earlier = await _claim_key(deps, workflow_id, idempotency_key, execution_id=execution_id, now=now)
        if earlier is not None:
            await _withdraw(deps, workflow_id, execution_id)
            return TriggerResult(earlier, created=False)
    try:
        execution, plan = prepare(workflow, execution_id, now)
    except Exception:
        await _withdraw(deps, workflow_id, execution_id)
        raise
    execution.wait_for_slot()
    log.info("execution.waiting", execution_id=execution_id, workflow_id=workflow_id, queued=workflow.trigger.queued)
    return TriggerResult(await _store_and_start(deps, execution, plan, idempotency_key=idempotency_key), created=True)


async def _withdraw(deps: Triggering, workflow_id: str, execution_id: str) -> None:
    """Take back a slot or a queue entry whose execution will not be stored: out of the slot (which it may have
    reached from the queue meanwhile) or out of the queue; a freed slot may let the next waiting one start."""
    if await deps.workflows.release_trigger_lock(workflow_id, execution_id=execution_id):
        await start_waiting(deps, workflow_id)


async def _claim_key(
    deps: Triggering, workflow_id: str, key: str, *, execution_id: str, now: datetime
) -> Execution | None:
    """A queue has room for every request of one Idempotency-Key, so the key itself is claimed once (the lock
    decides this for a start): None when this request claimed it, else the execution of the request that did
    (waited for up to KEYED_WAIT, as it may not be stored yet). A claimant whose execution never appears died
    before storing it: its claim is taken over."""
    claimant = await deps.executions.claim_idempotency_key(workflow_id, key, execution_id=execution_id, now=now)
    if claimant == execution_id:
        return None
    since = now - IDEMPOTENCY_WINDOW
    earlier = await _keyed_execution_of_holder(deps, workflow_id, key, holder=claimant, since=since)
    if earlier is not None:
        return earlier
    if await deps.executions.reclaim_idempotency_key(
        workflow_id, key, execution_id=execution_id, claimed_by=claimant, now=now
    ):
        return None
    return await deps.executions.find_by_idempotency_key(workflow_id, key, since=since)


async def _started_or_waiting(deps: Triggering, execution: Execution) -> Execution:
    """After a waiting execution is stored: start what can start. A process that moved this one into a slot before
    its record existed could not end its wait (wfa.domain.run_claims.end_wait needs the record), so this one
    ends it when it holds a slot; either way, one of the two ends it (both may: the second finds it done)."""
    for started in await start_waiting(deps, execution.workflow_id):
        if started.execution_id == execution.execution_id:
            return started
    try:
        workflow = await deps.workflows.get(execution.workflow_id)
    except WorkflowNotFound:
        # Deleted while this one joined its queue: it would never start (the delete cancels those it saw).
        with contextlib.suppress(ExecutionAlreadyFinished, ExecutionNotFound):
            return await finishing.cancel(deps.workflows, deps.executions, execution.execution_id, now=deps.clock.now())
        return execution
    if execution.execution_id in workflow.trigger.holder_ids():
        return await end_wait(deps, execution.execution_id) or execution
    return execution


async def start_waiting(deps: Triggering, workflow_id: str) -> list[Execution]:
    """Start the executions waiting in the workflow's queue (`whenBusy: queue`), oldest first, while slots are
    free: each takes a slot as it leaves the queue (one conditional write), then its wait ends and its request is
    published (`end_wait`). Called wherever a slot may have freed or a wait begun: an execution's end or cancel, a
    trigger that joined the queue, a resume, the repair sweep. Returns the executions whose wait this call ended."""
    started: list[Execution] = []
    misses = 0
    while misses < _START_MISSES:
        try:
            workflow = await deps.workflows.get(workflow_id)
        except WorkflowNotFound:
            break
        trigger, limit = workflow.trigger, workflow.concurrency.limit
        if not workflow.enabled or not trigger.waiting or trigger.running >= limit:
            break
        head = trigger.waiting[0]
        if not await deps.workflows.start_waiting(workflow_id, head=head, now=deps.clock.now(), limit=limit):
            misses += 1  # another process moved the queue or took the slot meanwhile: look again
            continue
        execution = await end_wait(deps, head)
        if execution is not None:
            started.append(execution)
    return started


# How many times in a row `start_waiting` finds the queue or the slots changed under its write before it leaves the
# rest to whoever changed them (each change is itself followed by a start_waiting) and to the repair sweep.
_START_MISSES = 3


async def end_wait(deps: Triggering, execution_id: str) -> Execution | None:
    """Send the request of an execution that left the queue for a slot: its wait ended (and its dispatch noted, so
    that the stall sweep covers a request lost from here on), then published. None when its record is not stored
    yet (the trigger that queued it ends the wait once it is), when another process ended it, or when it is being
    cancelled."""
    execution = await deps.executions.end_wait(execution_id, now=deps.clock.now())
    if execution is None:
        return None
    await dispatch(deps, execution)
    log.info("execution.wait_ended", execution_id=execution_id, workflow_id=execution.workflow_id)
    return execution


async def _keyed_execution_of_holder(
    deps: Triggering, workflow_id: str, key: str, *, holder: str | None, since: datetime
) -> Execution | None:
    """Two requests with one key raced and this one lost the lock: answer with the winner's execution. The winner
    may hold the lock without having stored its execution yet (the insert follows the lock): wait for the holder's
    record, up to KEYED_WAIT, then tell whether it is the key's."""
    give_up = time.monotonic() + KEYED_WAIT.total_seconds()
    pause = 0.005
    while True:
        holder_stored = holder is not None and await _exists(deps, holder)
        earlier = await deps.executions.find_by_idempotency_key(workflow_id, key, since=since)
        if earlier is not None or holder is None or holder_stored or time.monotonic() >= give_up:
            return earlier
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.1)


async def _exists(deps: Triggering, execution_id: str) -> bool:
    try:
        await deps.executions.get(execution_id)
    except ExecutionNotFound:
        return False
    return True


async def fire_schedule(deps: Triggering, workflow: Workflow) -> SlotOutcome:
    """Fire the due slot of a scheduled workflow, at most once however many schedulers call this."""
    slot = workflow.trigger.next_run_at
    if slot is None:
        return SlotOutcome.LOST
    now = deps.clock.now()
    plan = plan_fire(workflow.trigger, slot, now)
    if plan.backlog:
        # Before the claim, so that a crash in between loses no slot; a lost claim (another scheduler) added the
        # same slots, and each becomes one execution whoever adds it (backlog_execution_id).
        await deps.workflows.add_to_backlog(
            workflow.workflow_id, [BacklogSlot(slot=later, backfill=False) for later in plan.backlog]
        )
    if workflow.concurrency.when_busy is WhenBusy.CANCEL_RUNNING:
        await _make_room_for_fire(deps, workflow.workflow_id, slot=slot, now=now)
    execution_id = deps.new_id()
    claim = await deps.workflows.claim_schedule_slot(
        workflow.workflow_id,
        slot=slot,
        next_run_at=plan.next_run_at,
        execution_id=execution_id,
        now=now,
        plan=plan,
        limit=workflow.concurrency.limit,
        queue_max=workflow.concurrency.queue_max if workflow.concurrency.when_busy is WhenBusy.QUEUE else None,
    )
    bound = log.bind(workflow_id=workflow.workflow_id, slot=slot.isoformat(), missed=plan.missed.count)
    if claim.outcome in (SlotOutcome.FIRED, SlotOutcome.QUEUED):
        assert claim.workflow is not None and plan.fires is not None
        execution = Execution.queued(
            execution_id=execution_id,
            workflow=claim.workflow,
            reason=Reason.SCHEDULE,
            input=None,
            now=now,
            scheduled_for=plan.fires,
            traceparent=deps.trace_context(),
        )
        if claim.outcome is SlotOutcome.QUEUED:
            execution.wait_for_slot()
        await _store_and_start(deps, execution, ExecutionPlan.of(claim.workflow), idempotency_key=None)
        bound.info(
            "schedule.fired",
            execution_id=execution_id,
            lateness_ms=_ms(now - plan.fires),
            waiting=claim.outcome is SlotOutcome.QUEUED,
        )
    elif claim.outcome is SlotOutcome.SKIPPED:
        assert claim.workflow is not None
        bound.info(
            "schedule.skipped",
            trigger_status=claim.workflow.trigger.status.value,
            held_by=claim.workflow.trigger.execution_id,
            skipped_fires=claim.workflow.trigger.skipped_fires,
        )
    elif claim.outcome is SlotOutcome.PASSED:
        bound.info("schedule.passed", backlog=len(plan.backlog))
    return claim.outcome


async def _make_room_for_fire(deps: Triggering, workflow_id: str, *, slot: datetime, now: datetime) -> None:
    """`cancelRunning` for a scheduled fire: cancel the oldest holder before the claim when every slot is taken and
    the slot is still due. The claim stays the one write that decides the fire; should another scheduler fire the
    slot meanwhile, or a trigger take the freed lock slot, the fire is lost or skipped as under `skip`."""
    current = await deps.workflows.get(workflow_id)
    if current.enabled and current.trigger.next_run_at == slot and current.trigger.running >= current.concurrency.limit:
        await cancel_oldest_holder(deps.workflows, deps.executions, workflow_id, now=now)


async def fire_backlog(deps: Triggering, workflow: Workflow) -> Execution | None:
    """Fire the first slot of the workflow's backlog if the lock is free: its execution (reason `backfill`, or
    `schedule` for a catch-up) has an id derived from the slot, so a slot fires once however many schedulers try
    and whatever crashes. None when the lock was taken (the slot waits for the next pass)."""
    if not workflow.trigger.backlog:
        return None
    head = workflow.trigger.backlog[0]
    execution_id = backlog_execution_id(workflow.workflow_id, workflow.created_at, head.slot)
    if await _exists(deps, execution_id):
        # Stored by an earlier pass that died before removing the slot.
        await deps.workflows.drop_backlog_slot(workflow.workflow_id, slot=head.slot)
        return None
    now = deps.clock.now()
    if not await deps.workflows.take_lock_for_backlog_slot(
        workflow.workflow_id, slot=head.slot, execution_id=execution_id, now=now, limit=workflow.concurrency.limit
    ):
        return None
    execution = Execution.queued(
        execution_id=execution_id,
        workflow=workflow,
        reason=Reason.BACKFILL if head.backfill else Reason.SCHEDULE,
        input=None,
        now=now,
        scheduled_for=head.slot,
        traceparent=deps.trace_context(),
    )
    deps.checkpoint(TriggerStep.AFTER_LOCK)
    # Only the lock holder stores it, and the lock is taken for this id only while it is not stored: never twice.
    await deps.executions.add(execution, ExecutionPlan.of(workflow), idempotency_key=None)
    await deps.workflows.drop_backlog_slot(workflow.workflow_id, slot=head.slot)
    deps.checkpoint(TriggerStep.AFTER_STORE)
    await dispatch(deps, execution)
    log.info("backlog.fired", workflow_id=workflow.workflow_id, slot=head.slot.isoformat(), execution_id=execution_id)
    return execution


async def dispatch(deps: Triggering, execution: Execution) -> bool:
    """Publish the request for the execution's current attempt. False when the broker is unreachable: the
    execution stays queued and the stall sweep publishes it again."""
    try:
        await deps.publisher.publish(ExecutionRequest.for_execution(execution, deps.clock.now()))
    except DependencyUnavailable as exc:
        log.warning(
            "execution.dispatch_deferred",
            execution_id=execution.execution_id,
            workflow_id=execution.workflow_id,
            attempt=execution.attempt,
            error=str(exc),
        )
        return False
    return True


async def _store_and_start(
    deps: Triggering, execution: Execution, plan: ExecutionPlan, *, idempotency_key: str | None
) -> Execution:
    """The writes after the lock (or the queue): the execution stored (its own outbox entry), then its request
    published, or, for one that waits for a slot, whatever can start started. The execution as it then stands."""
    deps.checkpoint(TriggerStep.AFTER_LOCK)
    try:
        await deps.executions.add(execution, plan, idempotency_key=idempotency_key)
    except DependencyUnavailable:
        # The insert may have landed although its answer was lost: releasing the lock now would let a second
        # execution start beside this one, which the stall sweep would then publish. Held, the lock is released
        # by the repair sweep if the execution turns out to be missing, or by whoever finishes it. (A queue entry
        # is left in the queue likewise.)
        raise
    except Exception:
        await _withdraw(deps, execution.workflow_id, execution.execution_id)
        raise
    deps.checkpoint(TriggerStep.AFTER_STORE)
    if execution.waiting:
        return await _started_or_waiting(deps, execution)
    await dispatch(deps, execution)
    return execution


def _ms(delta: timedelta) -> int:
    return int(delta / timedelta(milliseconds=1))
