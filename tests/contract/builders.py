"""Workflows and executions for the contract tests, built through the domain as the services build them."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from wfa.domain.errors import ActionFailed
from wfa.domain.execution import (
    ActionRun,
    ActionStatus,
    AttemptOutcome,
    AttemptRecord,
    ErrorInfo,
    Execution,
    ExecutionPlan,
    ExecutionStatus,
    Reason,
)
from wfa.domain.workflow import Trigger, TriggerStatus, Workflow, WorkflowDefinition
from wfa.ports.repositories import ExecutionRepository, WorkflowRepository

T0 = datetime(2026, 5, 1, 8, 0, 0, 123_000, tzinfo=UTC)
"""A fixed start with milliseconds: MongoDB keeps them, and every timestamp the domain hands out has them."""

LOG_ACTION: dict[str, Any] = {"type": "log", "message": "hello"}


def ms(n: int) -> timedelta:
    return timedelta(milliseconds=n)


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


def forged(data: object) -> str:
    """A cursor in the repositories' encoding that none of them handed out."""
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def workflow(
    workflow_id: str = "wf",
    *,
    trigger: dict[str, Any] | None = None,
    actions: list[dict[str, Any]] | None = None,
    now: datetime = T0,
    next_run_at: datetime | None = None,
    concurrency: dict[str, Any] | None = None,
) -> Workflow:
    """A workflow as the API creates it; periodic every 10s unless told otherwise."""
    definition = WorkflowDefinition.model_validate(
        {
            "workflowId": workflow_id,
            "trigger": trigger or {"type": "periodic", "interval": "10s"},
            "actions": actions or [LOG_ACTION],
            **({"concurrency": concurrency} if concurrency is not None else {}),
        }
    )
    if next_run_at is None and definition.trigger.is_scheduled:
        next_run_at = now + seconds(10)
    return Workflow.create(definition, now=now, next_run_at=next_run_at)


def every_field_workflow() -> Workflow:
    """A workflow with every optional field set, its lock held, and timestamps at millisecond precision."""
    definition = WorkflowDefinition.model_validate(
        {
            "workflowId": "every.field-1",
            "name": "Every field",
            "description": "Nothing left at its default",
            "trigger": {"type": "cron", "cron": "*/5 * * * *", "timezone": "Europe/Paris"},
            "actions": [
                {
                    "type": "log",
                    "name": "say",
                    "message": "hello $name",
                    "level": "warning",
                    "retry": {"maxAttempts": 5, "initialInterval": "3s", "backoffRate": 1.5, "maxInterval": "2h"},
                },
                {
                    "type": "http-request",
                    "name": "call",
                    "url": "https://example.com/hook?x=1",
                    "method": "POST",
                    "headers": {"X-Trace.Id": "abc", "$weird": "ok", "Content-Type": "application/json"},
                    "body": {
                        "$set": {"a.b": [1, 2.5, "three", None, True]},
                        "nested": {"deep": {"list": [{"k": "v"}]}},
                        "big": 2**70,
                        "unicode": "héllo ✓",
                    },
                    "timeout": "45s",
                    "expectStatus": [200, 202],
                },
            ],
            "retry": {"maxAttempts": 7, "initialInterval": "1m", "backoffRate": 3.0, "maxInterval": "1d"},
            "labels": {"app.kubernetes.io/name": "every", "team": "a=b", "empty": ""},
        }
    )
    stored = Workflow.create(definition, now=T0, next_run_at=T0 + timedelta(minutes=5, milliseconds=1))
    paris = timezone(timedelta(hours=2))
    return stored.model_copy(
        update={
            "version": 4,
            "changed_by": "ci-key",
            "enabled": False,
            "updated_at": (T0 + ms(987)).astimezone(paris),
            "trigger": Trigger.model_validate(
                stored.trigger.model_dump()
                | {
                    "status": TriggerStatus.PENDING,
                    "execution_id": "ex-holder",
                    "locked_at": T0 + ms(456),
                    "skipped_fires": 3,
                }
            ),
        }
    )


def manual_workflow(workflow_id: str = "wf", *, now: datetime = T0) -> Workflow:
    return workflow(workflow_id, trigger={"type": "manual"}, now=now)


async def added(workflows: WorkflowRepository, *items: Workflow) -> None:
    for item in items:
        await workflows.add(item)


def queued(
    of: Workflow,
    execution_id: str = "ex",
    *,
    now: datetime = T0,
    input: dict[str, Any] | None = None,
    reason: Reason = Reason.MANUAL,
) -> Execution:
    return Execution.queued(execution_id=execution_id, workflow=of, reason=reason, input=input, now=now)


async def stored(
    executions: ExecutionRepository,
    of: Workflow,
    execution_id: str = "ex",
    *,
    now: datetime = T0,
    idempotency_key: str | None = None,
) -> Execution:
    """A queued execution of `of`, stored as the trigger path stores it."""
    execution = queued(of, execution_id, now=now)
    await executions.add(execution, ExecutionPlan.of(of), idempotency_key=idempotency_key)
    return execution


def every_field_execution() -> Execution:
    """An execution with every optional field set, free-form JSON with awkward keys, ms-precision timestamps."""
    return Execution(
        execution_id="ex.every-field",
        workflow_id="every.field-1",
        workflow_version=4,
        reason=Reason.SCHEDULE,
        scheduled_for=T0 - ms(7),
        retry_of="ex.the-original",
        status=ExecutionStatus.PENDING,
        attempt=2,
        max_attempts=7,
        next_retry_at=T0 + seconds(9) + ms(1),
        input={"$gt": "", "a.b": {"c": [1, 2.5, None, True, "x"]}, "big": -(2**70)},
        actions=[
            ActionRun(
                name="say",
                type="log",
                status=ActionStatus.SUCCEEDED,
                attempts=1,
                started_at=T0 + ms(1),
                finished_at=T0 + ms(3),
                duration_ms=2,
                output={"message": "hello"},
            ),
            ActionRun(
                name="call",
                type="http-request",
                status=ActionStatus.FAILED,
                attempts=3,
                started_at=(T0 + ms(10)).astimezone(timezone(timedelta(hours=-5))),
                finished_at=T0 + ms(510),
                duration_ms=500,
                output={"status": 503, "headers": {"Retry.After": "1"}, "body": {"$where": "x"}},
                error=ErrorInfo(type="http_status", message="503 from example.com", retryable=True),
                previous=[
                    AttemptRecord(attempt=1, outcome=AttemptOutcome.INTERRUPTED, started_at=T0 + ms(4)),
                    AttemptRecord(
                        attempt=2,
                        outcome=AttemptOutcome.FAILED,
                        started_at=(T0 + ms(5)).astimezone(timezone(timedelta(hours=3))),
                        finished_at=T0 + ms(8),
                        duration_ms=3,
                        error=ErrorInfo(type="timeout", message="no answer within 45s", retryable=True),
                    ),
                ],
            ),
        ],
        compensations=[
            ActionRun(
                name="undo-say",
                type="http-request",
                status=ActionStatus.SUCCEEDED,
                attempts=1,
                started_at=T0 + ms(520),
                finished_at=T0 + ms(530),
                duration_ms=10,
                output={"status": 200, "body": {"$set": {"a.b": 1}}},
            )
        ],
        on_failure=[ActionRun(name="notify", type="log", status=ActionStatus.NOT_STARTED)],
        error=ErrorInfo(type="http_status", message="503 from example.com", retryable=True, action="call"),
        created_at=T0,
        started_at=T0 + ms(1),
        finished_at=None,
        duration_ms=None,
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )


async def running(
    executions: ExecutionRepository, of: Workflow, execution_id: str = "ex", *, owner: str = "runner-1", now: datetime
) -> Execution:
    """A stored execution claimed by `owner` (lease until now + 30s) and started, as the runner does."""
    await stored(executions, of, execution_id, now=now)
    claimed = await executions.claim_for_run(
        execution_id, attempt=1, owner=owner, lease_until=now + seconds(30), now=now
    )
    assert claimed is not None
    execution = claimed.execution
    execution.start_attempt(now)
    assert await executions.save_progress(execution, owner=owner, lease_until=now + seconds(30))
    return execution


async def pending(
    executions: ExecutionRepository, of: Workflow, execution_id: str = "ex", *, now: datetime, owner: str = "runner-1"
) -> Execution:
    """A stored execution whose first attempt failed with a retryable error: pending, its retry due later."""
    execution = await running(executions, of, execution_id, owner=owner, now=now)
    execution.begin_action(0, now)
    failure = ActionFailed("boom", kind="http_status", retryable=True)
    execution.fail_action(0, failure, ExecutionPlan.of(of), now + ms(5))
    assert await executions.save_progress(execution, owner=owner, lease_until=now + seconds(30))
    return execution
