"""Events on Kafka. Their JSON is part of the public contract; schemaVersion changes only by adding."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import ConfigDict, Field

from wfa.domain.base import Model
from wfa.domain.execution import Execution, Reason


class ExecutionRequest(Model):
    """Asks the runner group to run (or resume) one attempt of an execution."""

    # Newer producers may add fields; a consumer of schemaVersion 1 ignores them rather than dead-letter them.
    model_config = ConfigDict(extra="ignore")

    schema_version: Literal[1] = 1
    execution_id: str = Field(min_length=1, max_length=128)
    workflow_id: str = Field(min_length=1, max_length=128)
    workflow_version: int = Field(ge=1)
    attempt: int = Field(ge=1)
    reason: Reason
    requested_at: datetime

    @classmethod
    def for_execution(cls, execution: Execution, requested_at: datetime) -> ExecutionRequest:
        return cls(
            execution_id=execution.execution_id,
            workflow_id=execution.workflow_id,
            workflow_version=execution.workflow_version,
            attempt=execution.attempt,
            reason=execution.reason,
            requested_at=requested_at,
        )

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> ExecutionRequest:
        return cls.model_validate_json(raw)


class LifecycleEventType(StrEnum):
    EXECUTION_STARTED = "execution.started"
    EXECUTION_SUCCEEDED = "execution.succeeded"
    EXECUTION_FAILED = "execution.failed"
    EXECUTION_PENDING = "execution.pending"
    EXECUTION_CANCELLED = "execution.cancelled"
    ACTION_SUCCEEDED = "action.succeeded"
    ACTION_FAILED = "action.failed"
    ACTION_SKIPPED = "action.skipped"
    COMPENSATION_SUCCEEDED = "compensation.succeeded"
    COMPENSATION_FAILED = "compensation.failed"
    ON_FAILURE_SUCCEEDED = "onFailure.succeeded"
    ON_FAILURE_FAILED = "onFailure.failed"


class LifecycleEvent(Model):
    """What happened to an execution, for other systems to react to (topic execution-events)."""

    schema_version: Literal[1] = 1
    type: LifecycleEventType
    execution_id: str
    workflow_id: str
    attempt: int
    status: str
    occurred_at: datetime
    action: str | None = None
    error: dict[str, Any] | None = None

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()


class WorkflowEventType(StrEnum):
    WORKFLOW_PAUSED = "workflow.paused"
    WORKFLOW_UNLOCKED = "workflow.unlocked"


class WorkflowEvent(Model):
    """What happened to a workflow (not to one execution), on the same topic as the lifecycle events, keyed by
    workflowId: `workflow.paused` by failures in a row, `workflow.unlocked` by a user (docs/operations.md)."""

    schema_version: Literal[1] = 1
    type: WorkflowEventType
    workflow_id: str
    occurred_at: datetime
    reason: str
    """paused: `failures`; unlocked: `holder_finished`, `holder_missing` or `forced` (a live holder cancelled)."""
    execution_id: str | None = None
    """paused: the execution whose failure paused the workflow; unlocked: the execution that held the lock."""
    consecutive_failures: int | None = None
    """paused: the failures in a row that paused it."""
    unlocked_by: str | None = None
    """unlocked: the name of the API key that asked (null when the API is open)."""
    holder_status: str | None = None
    """unlocked: the former holder's status before the unlock (null when it was missing)."""

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()


Event = LifecycleEvent | WorkflowEvent
"""Everything published on the execution-events topic."""
