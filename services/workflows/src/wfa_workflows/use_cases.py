"""What the API does, free of HTTP: each method is one use case over the repositories and the clock.

Starting an execution goes through `wfa.service_layer.triggering`, the one path shared with the scheduler.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from wfa.domain.errors import (
    Conflict,
    ExecutionAlreadyFinished,
    ExecutionNotFound,
    InvalidSignature,
    LockHeldByLiveExecution,
    UnreadableSecret,
    ValidationFailed,
    VersionMismatch,
    VersionNotFound,
    WebhookNotFound,
    WorkflowNotFound,
)
from wfa.domain.execution import Execution, ExecutionStatus
from wfa.domain.labels import Selector
from wfa.domain.schedule import MAX_BACKFILL, first_fire, next_fire_after, next_fires, slots_between
from wfa.domain.statistics import ExecutionStatistics
from wfa.domain.versions import DefinitionDiff, WorkflowVersion, changed_paths, diff_definitions
from wfa.domain.webhooks import verify_signature
from wfa.domain.workflow import BacklogSlot, Workflow, WorkflowDefinition
from wfa.events import LifecycleEvent, LifecycleEventType, WorkflowEvent, WorkflowEventType
from wfa.ports.publisher import LifecycleEventPublisher
from wfa.ports.repositories import (
    ExecutionFilter,
    ExecutionPage,
    ExecutionRepository,
    WorkflowPage,
    WorkflowRepository,
    WorkflowVersionRepository,
)
from wfa.ports.secrets import SecretSource
from wfa.service_layer.finishing import cancel, release
from wfa.service_layer.triggering import (
    Triggering,
    TriggerResult,
    retry_execution,
    start_waiting,
    trigger_by_webhook,
    trigger_manually,
)
from wfa_workflows.metrics import ApiMetrics

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class VersionEntry:
    version: WorkflowVersion
    changes: list[str]
    """The paths that changed against the version before; [] for version 1 (nothing came before it)."""


@dataclass(frozen=True)
class VersionListing:
    items: list[VersionEntry]
    next_cursor: str | None


@dataclass(frozen=True)
class VersionDiff:
    from_version: int | None  # None: the diff of version 1 from nothing
    to_version: int
    diff: DefinitionDiff


@dataclass(frozen=True)
class WorkflowUseCases:
    triggering: Triggering
    versions: WorkflowVersionRepository
    # execution.cancelled goes to the lifecycle events topic (the runner publishes the others); none in tests.
    events: LifecycleEventPublisher | None = None
    metrics: ApiMetrics = field(default_factory=ApiMetrics.private)
    # Webhook secrets (WFA_SECRET_<NAME>, WFA_SECRETS_DIR); None: none resolves, every webhook request is a 401.
    secrets: SecretSource | None = None

    @property
    def workflows(self) -> WorkflowRepository:
        return self.triggering.workflows

    @property
    def executions(self) -> ExecutionRepository:
        return self.triggering.executions

    # -- workflows ----------------------------------------------------------------------------------------

    async def create_workflow(self, definition: WorkflowDefinition, *, changed_by: str | None = None) -> Workflow:
        """Raises WorkflowAlreadyExists. The schedule's grid starts at the creation time. `changed_by`: the API
        key's name."""
        now = self.triggering.clock.now()
        workflow = Workflow.create(definition, now=now, next_run_at=first_fire(definition.trigger, now))
        workflow.changed_by = changed_by
        await self.workflows.add(workflow)
        # Lost if the process dies right here: then recorded by the next update, delete or read of the versions.
        await self.versions.record(WorkflowVersion.of(workflow))
        log.info("workflow.created", workflow_id=workflow.workflow_id, trigger=workflow.trigger.type.value)
        return workflow

    async def get_workflow(self, workflow_id: str) -> Workflow:
        return await self.workflows.get(workflow_id)

    async def list_workflows(self, *, limit: int, cursor: str | None, labels: Sequence[Selector] = ()) -> WorkflowPage:
        return await self.workflows.list(limit=limit, cursor=cursor, labels=labels)

    async def update_workflow(
        self,
        workflow_id: str,
        definition: WorkflowDefinition,
        *,
        if_match: int | None,
        changed_by: str | None = None,
    ) -> Workflow:
        """Replace the definition: version + 1. Raises WorkflowNotFound; VersionMismatch when `if_match` is not
        the stored version (also when another update wins the race after the check); Conflict when, without
        `if_match`, concurrent updates win twice in a row."""
        # Without If-Match the client asked for "last write wins": losing a race once is retried from a fresh
        # read; losing it twice means heavy contention, reported rather than looped on.
        attempts = 1 if if_match is not None else 2
        for attempt in range(1, attempts + 1):
            stored = await self.workflows.get(workflow_id)
            if if_match is not None and stored.version != if_match:
                raise VersionMismatch(workflow_id, if_match, stored.version)
            # The version about to be replaced is recorded before the conditional update, not after it: it is
            # committed, so recording it is idempotent (the same record, whoever writes it, however often), and
            # neither a crash nor a lost race between the two writes can lose it or record a version that never
            # was. The new version is recorded after the update, which is then the only way it can be missing
            # (a crash in between): the next update or delete records it first, and a read repairs it.
            await self.versions.record(WorkflowVersion.of(stored))
            revised = self._revised(stored, definition)
            revised.changed_by = changed_by
            try:
                updated = await self.workflows.replace_definition(
                    revised,
                    expected_version=stored.version,
                    reschedule=not definition.trigger.same_schedule_as(stored.trigger),
                )
            except VersionMismatch:
                if attempt < attempts:
                    continue
                if if_match is not None:
                    raise
                raise Conflict(f"workflow {workflow_id!r} was updated concurrently; try again") from None
            await self.versions.record(WorkflowVersion.of(updated))
            log.info("workflow.updated", workflow_id=workflow_id, version=updated.version)
            return updated
        raise AssertionError("unreachable")

    def _revised(self, stored: Workflow, definition: WorkflowDefinition) -> Workflow:
        now = self.triggering.clock.now()
        if definition.trigger.same_schedule_as(stored.trigger):
            # Same trigger: the grid is kept (the repository keeps the stored slot, which a fire may move meanwhile).
            next_run_at = stored.trigger.next_run_at
        else:
            next_run_at = first_fire(definition.trigger, now)  # a new trigger: a new grid from now
        revised = Workflow.create(definition, now=now, next_run_at=next_run_at)
        # The lock and `enabled` are the repository's to keep; copied here only so the object is whole.
        revised.trigger.status = stored.trigger.status
        revised.trigger.execution_id = stored.trigger.execution_id
        revised.trigger.locked_at = stored.trigger.locked_at
        revised.trigger.skipped_fires = stored.trigger.skipped_fires
        revised.trigger.consecutive_failures = stored.trigger.consecutive_failures
        revised.trigger.missed_fires = stored.trigger.missed_fires
        revised.trigger.fired_fires = stored.trigger.fired_fires
        revised.trigger.recent_fires = stored.trigger.recent_fires
        revised.trigger.backlog = stored.trigger.backlog
        revised.trigger.backlog_next = stored.trigger.backlog_next
        revised.enabled = stored.enabled
        revised.paused_reason = stored.paused_reason
        revised.created_at = stored.created_at
        revised.version = stored.version + 1
        return revised

    async def delete_workflow(self, workflow_id: str) -> None:
        """The workflow is never scheduled again; an execution in flight finishes, one waiting for a slot is
        cancelled; executions and versions stay readable."""
        # Its last version is recorded first (idempotent), in case the write after its update was lost.
        await self.versions.record(WorkflowVersion.of(await self.workflows.get(workflow_id)))
        waiting = (await self.workflows.get(workflow_id)).trigger.waiting
        await self.workflows.delete(workflow_id, now=self.triggering.clock.now())
        log.info("workflow.deleted", workflow_id=workflow_id)
        # Executions still waiting for a slot (whenBusy: queue) would never start: cancelled. One that joins the
        # queue as the workflow goes is cancelled by its own trigger (wfa.service_layer.triggering).
        for execution_id in waiting:
            with contextlib.suppress(ExecutionNotFound, ExecutionAlreadyFinished):
                await self.cancel_execution(execution_id)

    async def pause_workflow(self, workflow_id: str) -> Workflow:
        """Stop scheduling (and manual triggers). The stored slot is kept, so resuming stays on the grid."""
        stored = await self.workflows.get(workflow_id)
        if not stored.enabled:
            return stored
        paused = await self.workflows.set_enabled(
            workflow_id, enabled=False, next_run_at=stored.trigger.next_run_at, now=self.triggering.clock.now()
        )
        log.info("workflow.paused", workflow_id=workflow_id)
        return paused

    async def resume_workflow(self, workflow_id: str) -> Workflow:
        """Schedule again from the next grid slot after now: fires missed while paused are not caught up."""
        stored = await self.workflows.get(workflow_id)
        if stored.enabled:
            return stored
        now = self.triggering.clock.now()
        slot = stored.trigger.next_run_at
        next_run_at = (
            next_fire_after(stored.trigger, slot, now) if slot is not None else first_fire(stored.trigger, now)
        )
        resumed = await self.workflows.set_enabled(workflow_id, enabled=True, next_run_at=next_run_at, now=now)
        log.info("workflow.resumed", workflow_id=workflow_id)
        if resumed.trigger.waiting:
            # Executions that waited through the pause start as slots allow.
            await start_waiting(self.triggering, workflow_id)
            resumed = await self.workflows.get(workflow_id)
        return resumed

    async def unlock_workflow(self, workflow_id: str, *, force: bool, unlocked_by: str | None = None) -> Workflow:
        """Release a lock whose holder is final or missing; with `force`, cancel a live holder first (the cancel
        releases it, in the one order of wfa.service_layer.finishing). An idle lock is left as it is. With a
        concurrency limit above 1, every slot's holder is looked at so: the stale ones are released, and live ones
        are cancelled with `force`. Each release is published as `workflow.unlocked` naming `unlocked_by` (the API
        key's name). Raises WorkflowNotFound, or LockHeldByLiveExecution when no holder was released and one is
        live (without `force`)."""
        stored = await self.workflows.get(workflow_id)
        holder_ids = [h for h in (stored.trigger.execution_id, *stored.trigger.holders) if h is not None]
        live: LockHeldByLiveExecution | None = None
        released_any = False
        for holder_id in holder_ids:
            try:
                released_any |= await self._unlock_holder(workflow_id, holder_id, force=force, unlocked_by=unlocked_by)
            except LockHeldByLiveExecution as held:
                live = live or held
        if live is not None and not released_any:
            raise live
        if released_any:
            await start_waiting(self.triggering, workflow_id)
        return await self.workflows.get(workflow_id)

    async def _unlock_holder(self, workflow_id: str, holder_id: str, *, force: bool, unlocked_by: str | None) -> bool:
        try:
            holder: Execution | None = await self.executions.get(holder_id)
        except ExecutionNotFound:
            holder = None
        now = self.triggering.clock.now()
        if holder is not None and not holder.status.is_final:
            if not force:
                raise LockHeldByLiveExecution(workflow_id, execution_id=holder_id, execution_status=holder.status.value)
            try:
                await self.cancel_execution(holder_id)
                released, reason = True, "forced"
            except ExecutionAlreadyFinished:
                # It finished meanwhile, and released its lock as it did, unless its process died in between.
                released = await release(self.workflows, workflow_id=workflow_id, execution_id=holder_id)
                reason = "holder_finished"
        else:
            released = await release(self.workflows, workflow_id=workflow_id, execution_id=holder_id)
            reason = "holder_missing" if holder is None else "holder_finished"
        if released:
            log.warning("workflow.unlocked", workflow_id=workflow_id, execution_id=holder_id, reason=reason)
            self.metrics.unlocks.labels(reason=reason).inc()
            if self.events is not None:
                await self.events.publish_event(
                    WorkflowEvent(
                        type=WorkflowEventType.WORKFLOW_UNLOCKED,
                        workflow_id=workflow_id,
                        occurred_at=now,
                        reason=reason,
                        execution_id=holder_id,
                        unlocked_by=unlocked_by,
                        holder_status=holder.status.value if holder is not None else None,
                    )
                )
        return released

    # -- schedule -------------------------------------------------------------------------------------------

    def next_fires(self, workflow: Workflow, *, count: int) -> list[datetime]:
        """The next `count` fires from the stored nextRunAt; none while paused (resuming moves to the next slot
        after the resume) or for a manual workflow."""
        if not workflow.enabled:
            return []
        return next_fires(workflow.trigger, workflow.trigger.next_run_at, count)

    async def backfill(self, workflow_id: str, *, start: datetime, end: datetime, dry_run: bool) -> list[datetime]:
        """The slots of [start, end) of the workflow's schedule that are past (the later ones are the schedule's
        own), at most MAX_BACKFILL; unless `dry_run`, added to the workflow's backlog, which the scheduler fires one
        after another as the lock frees (reason `backfill`). Raises WorkflowNotFound or ValidationFailed."""
        workflow = await self.workflows.get(workflow_id)
        trigger = workflow.trigger
        if not trigger.is_scheduled:
            raise ValidationFailed("a manual workflow has no schedule to backfill", loc=("body",))
        if start >= end:
            raise ValidationFailed("from must be before to", loc=("body", "from"))
        # Any slot of the grid names it: the stored nextRunAt is kept while paused and moves along the grid.
        grid = trigger.next_run_at or first_fire(trigger, workflow.created_at) or workflow.created_at
        until = min(end, self.triggering.clock.now())
        slots = slots_between(trigger, start, until, grid=grid, limit=MAX_BACKFILL)
        if len(slots) > MAX_BACKFILL:
            raise ValidationFailed(
                f"[from, to) holds more than {MAX_BACKFILL} slots: backfill a shorter range at a time",
                loc=("body", "to"),
            )
        if not dry_run and slots:
            await self.workflows.add_to_backlog(workflow_id, [BacklogSlot(slot=slot, backfill=True) for slot in slots])
            log.info("workflow.backfilled", workflow_id=workflow_id, slots=len(slots))
        return slots

    async def trigger_workflow(
        self, workflow_id: str, *, input: dict[str, Any] | None, idempotency_key: str | None
    ) -> TriggerResult:
        """Raises WorkflowNotFound, or TriggerLocked when busy, pending or paused."""
        return await trigger_manually(self.triggering, workflow_id, input=input, idempotency_key=idempotency_key)

    # -- webhooks -----------------------------------------------------------------------------------------

    async def verify_webhook(
        self, workflow_id: str, *, timestamp: str | None, signature: str | None, body: bytes
    ) -> None:
        """Returns when `body` is signed with the workflow's webhook secret at a timestamp within the window.

        Raises WebhookNotFound when the workflow does not exist or takes no webhooks (one answer for both), and
        InvalidSignature otherwise, also when this service does not have the secret: the sender cannot be told
        apart from an impostor then, and the log names the missing secret for the operator."""
        try:
            workflow = await self.workflows.get(workflow_id)
        except WorkflowNotFound:
            raise WebhookNotFound(workflow_id) from None
        name = workflow.webhook_secret_name()
        if name is None:
            raise WebhookNotFound(workflow_id)
        secret = self._webhook_secret(workflow_id, name)
        try:
            if secret is None:
                raise InvalidSignature("the signature does not match the body and timestamp")
            verify_signature(
                secret, timestamp=timestamp, signature=signature, body=body, now=self.triggering.clock.now()
            )
        except InvalidSignature as refused:
            log.info("webhook.refused", workflow_id=workflow_id, reason=str(refused))
            raise

    def _webhook_secret(self, workflow_id: str, name: str) -> str | None:
        try:
            secret = self.secrets.get(name) if self.secrets is not None else None
        except UnreadableSecret as exc:
            log.warning("webhook.secret_unreadable", workflow_id=workflow_id, secret=name, error=str(exc))
            return None
        if secret is None:
            log.warning(
                "webhook.secret_missing",
                workflow_id=workflow_id,
                secret=name,
                detail="give the workflows service WFA_SECRET_<NAME> or a file <NAME> in WFA_SECRETS_DIR",
            )
        return secret

    async def trigger_by_webhook(
        self, workflow_id: str, *, input: dict[str, Any], idempotency_key: str | None
    ) -> TriggerResult:
        """After `verify_webhook`. Raises WebhookNotFound, or TriggerLocked when busy, pending or paused."""
        result = await trigger_by_webhook(self.triggering, workflow_id, input=input, idempotency_key=idempotency_key)
        if result.created:
            log.info("webhook.accepted", workflow_id=workflow_id, execution_id=result.execution.execution_id)
        return result

    # -- versions -----------------------------------------------------------------------------------------

    async def list_versions(self, workflow_id: str, *, limit: int, cursor: str | None) -> VersionListing:
        """Newest first, each with the paths changed against the version before. Raises WorkflowNotFound."""
        latest = await self._history_of(workflow_id)
        page = await self.versions.list(
            workflow_id, created_at=latest.created_at, newest=latest.version, limit=limit, cursor=cursor
        )
        items = page.items
        last = items[-1] if items else None
        # The last item's predecessor is on the next page: one more read by key, whatever the history's length.
        before = (
            await self.versions.get(workflow_id, created_at=last.created_at, version=last.version - 1)
            if last is not None and last.version > 1
            else None
        )
        predecessors = [*items[1:], before]
        entries = [
            VersionEntry(
                item,
                changed_paths(previous.document(), item.document())
                if previous is not None and previous.version == item.version - 1
                else [],
            )
            for item, previous in zip(items, predecessors, strict=True)
        ]
        return VersionListing(entries, page.next_cursor)

    async def get_version(self, workflow_id: str, version: int) -> WorkflowVersion:
        """Raises WorkflowNotFound or VersionNotFound."""
        latest = await self._history_of(workflow_id)
        found = await self.versions.get(workflow_id, created_at=latest.created_at, version=version)
        if found is None:
            raise VersionNotFound(workflow_id, version)
        return found

    async def diff_versions(self, workflow_id: str, version: int, *, against: int | None) -> VersionDiff:
        """From `against` (default: the version before; none for version 1) to `version`. Raises WorkflowNotFound or
        VersionNotFound."""
        target = await self.get_version(workflow_id, version)
        base_number = against if against is not None else (version - 1 if version > 1 else None)
        base = await self.get_version(workflow_id, base_number) if base_number is not None else None
        diff = diff_definitions(
            base.document() if base is not None else None,
            target.document(),
            from_name=f"{workflow_id}@{base_number}" if base_number is not None else "/dev/null",
            to_name=f"{workflow_id}@{version}",
        )
        return VersionDiff(base_number, version, diff)

    async def _history_of(self, workflow_id: str) -> Workflow:
        """The workflow whose history is read: the live one, else the last state of the latest deleted one. Raises
        WorkflowNotFound when the id never existed."""
        latest = await self.workflows.find_latest(workflow_id)
        if latest is None:
            raise WorkflowNotFound(workflow_id)
        # Repair: the record of the current version is missing only if the process that wrote it died in between
        # (a deleted workflow's last version was recorded before the delete).
        if await self.versions.get(workflow_id, created_at=latest.created_at, version=latest.version) is None:
            await self.versions.record(WorkflowVersion.of(latest))
        return latest

    # -- executions ---------------------------------------------------------------------------------------

    async def get_execution(self, execution_id: str) -> Execution:
        return await self.executions.get(execution_id)

    async def list_workflow_executions(
        self, workflow_id: str, *, status: ExecutionStatus | None, limit: int, cursor: str | None
    ) -> ExecutionPage:
        """Newest first. Raises WorkflowNotFound for an id that never existed (a deleted one's history stays)."""
        if not await self.workflows.ever_existed(workflow_id):
            raise WorkflowNotFound(workflow_id)
        return await self.executions.newest_first(
            ExecutionFilter(workflow_id=workflow_id, status=status), limit=limit, cursor=cursor
        )

    async def list_executions(self, where: ExecutionFilter, *, limit: int, cursor: str | None) -> ExecutionPage:
        """Across workflows, newest first. A workflowId that matches nothing is an empty page, not a 404: it is a
        filter like the others. Raises ValidationFailed when `since` is after `until`."""
        if where.since is not None and where.until is not None and where.since > where.until:
            raise ValidationFailed("since must not be after until", loc=("query", "since"))
        return await self.executions.newest_first(where, limit=limit, cursor=cursor)

    async def retry_execution(self, execution_id: str, *, idempotency_key: str | None) -> TriggerResult:
        """A new execution resuming a failed or cancelled one, on its frozen plan. Raises ExecutionNotFound,
        ExecutionNotRetryable, TriggerLocked as a trigger does, or WorkflowDeleted."""
        result = await retry_execution(self.triggering, execution_id, idempotency_key=idempotency_key)
        if result.created:
            log.info("execution.retried", execution_id=result.execution.execution_id, retry_of=execution_id)
        return result

    async def cancel_execution(self, execution_id: str) -> Execution:
        """Raises ExecutionNotFound, or ExecutionAlreadyFinished. The workflow's lock is released when this
        execution holds it; a runner working on it notices at its next save or lease renewal and stops.

        Finished as every execution is (wfa.service_layer.finishing): the lock is released first, then the cancel
        recorded, so a client that reads `cancelled` can trigger again at once."""
        cancelled = await cancel(self.workflows, self.executions, execution_id, now=self.triggering.clock.now())
        # Its slot (or place in the queue) is free: the next waiting execution may start (one read otherwise).
        await start_waiting(self.triggering, cancelled.workflow_id)
        self.metrics.final_executions.observe(cancelled)
        log.info("execution.cancelled", execution_id=execution_id, workflow_id=cancelled.workflow_id)
        if self.events is not None:
            # Best effort (the port never raises), and after the writes: the cancel stands whatever Kafka does.
            await self.events.publish_event(
                LifecycleEvent(
                    type=LifecycleEventType.EXECUTION_CANCELLED,
                    execution_id=cancelled.execution_id,
                    workflow_id=cancelled.workflow_id,
                    attempt=cancelled.attempt,
                    status=cancelled.status.value,
                    occurred_at=cancelled.finished_at or self.triggering.clock.now(),
                )
            )
        return cancelled

    # -- statistics ---------------------------------------------------------------------------------------

    async def statistics(self, workflow_id: str | None, *, window: timedelta) -> ExecutionStatistics:
        """Of the executions created within `window` before now, of one workflow (also a deleted one, whose
        executions stay readable) or of all. Raises WorkflowNotFound for an id that never existed."""
        if workflow_id is not None and not await self.workflows.ever_existed(workflow_id):
            raise WorkflowNotFound(workflow_id)
        now = self.triggering.clock.now()
        return await self.executions.statistics(workflow_id=workflow_id, since=now - window, until=now)
