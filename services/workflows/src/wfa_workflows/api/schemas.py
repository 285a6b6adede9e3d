"""Request and response bodies of the API that are not domain models (those are served as they are)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from wfa.domain.base import Model
from wfa.domain.execution import Execution, ExecutionStatus
from wfa.domain.versions import WorkflowVersion
from wfa.domain.workflow import Workflow, WorkflowDefinition


class TriggerRequest(Model):
    """The optional body of POST /workflows/{id}/trigger."""

    input: dict[str, JsonValue] | None = Field(
        default=None, description="Handed to the execution as its `input`; null or absent means `{}`."
    )


class TriggerAccepted(Model):
    execution_id: str = Field(description="The execution started (or, for a repeated Idempotency-Key, found).")
    workflow_id: str = Field(description="The workflow it runs.")
    status: ExecutionStatus = Field(
        description="`queued` for a new execution; the execution's current status for a repeated Idempotency-Key."
    )


class WorkflowPage(Model):
    items: list[Workflow] = Field(description="The workflows of this page, by workflowId.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class VersionSummary(Model):
    version: int = Field(description="The version number: 1 on create, +1 on each update.")
    updated_at: datetime = Field(description="When this version was made (the create or the update).")
    changed_by: str | None = Field(description="The name of the API key that made it; null when the API is open.")
    changes: list[str] = Field(
        description='Paths that differ from the version before, such as "trigger.interval" or "actions[1].url" '
        '(keys that are not plain names are quoted: labels["app.kubernetes.io/name"]); at most 100; [] for '
        "version 1."
    )


class VersionPage(Model):
    items: list[VersionSummary] = Field(description="The versions of this page, newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class VersionResource(WorkflowDefinition):
    """A workflow's definition as it was at one version (normalised: every default filled in), with when and by
    whom that version was made. PUT accepts it as it is: rolling back is putting an old version."""

    version: int = Field(description="The version number.")
    updated_at: datetime = Field(description="When this version was made (the create or the update).")
    changed_by: str | None = Field(description="The name of the API key that made it; null when the API is open.")

    _checks_templates: ClassVar[bool] = False  # served, not submitted: checked when it was accepted

    @classmethod
    def of(cls, version: WorkflowVersion) -> VersionResource:
        return cls.model_validate(
            version.definition.model_dump()
            | {"version": version.version, "updated_at": version.updated_at, "changed_by": version.changed_by},
            context={"stored": True},
        )


class VersionDiffBody(Model):
    from_version: int | None = Field(
        alias="from", description="The version diffed from; null for version 1 without `against` (from nothing)."
    )
    to_version: int = Field(alias="to", description="The version diffed to.")
    patch: list[dict[str, JsonValue]] = Field(
        description="RFC 6902 operations turning the `from` definition into the `to` one (the definitions as GET "
        "/workflows/{id}/versions/{version} shows them, without version, updatedAt and changedBy)."
    )
    text: str = Field(description="A unified diff of the two definitions as YAML; empty when they are equal.")


class ExecutionPage(Model):
    items: list[Execution] = Field(description="The executions of this page, newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class Problem(BaseModel):
    """An RFC 9457 problem: the body of every 4xx and 5xx response (application/problem+json)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="A URI naming the kind of problem; `about:blank` for plain HTTP errors.")
    title: str = Field(description="A short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong with this request, for a person to read.")


class ErrorItem(BaseModel):
    loc: list[str | int] = Field(description='Where the error is, such as ["body", "trigger", "interval"].')
    msg: str = Field(description="What is wrong there.")
    type: str | None = Field(default=None, description="A stable code for the kind of error (pydantic's).")


class ValidationProblem(Problem):
    errors: list[ErrorItem] = Field(description="Every validation error, each with where it is.")


class TriggerConflictProblem(Problem):
    """409 on a trigger: who holds the lock, or that the workflow is paused."""

    model_config = ConfigDict(populate_by_name=True)

    trigger_status: str = Field(alias="triggerStatus", description="idle | busy | pending")
    execution_id: str | None = Field(alias="executionId", description="The execution holding the lock, if any.")
    reason: str = Field(description="busy | pending | paused")


class UnlockConflictProblem(Problem):
    """409 on an unlock without `force=true`: the lock's holder is still live (queued, running or pending)."""

    model_config = ConfigDict(populate_by_name=True)

    execution_id: str = Field(alias="executionId", description="The execution holding the lock.")
    execution_status: str = Field(alias="executionStatus", description="queued | running | pending")


class RetryConflictProblem(Problem):
    """409 on a retry: the execution is neither failed nor cancelled (`executionStatus`), the workflow is locked (as
    on a trigger: `triggerStatus`, `executionId`, `reason` busy | pending | paused), or it was deleted
    (`reason: deleted`, `workflowId`)."""

    model_config = ConfigDict(populate_by_name=True)

    execution_status: str | None = Field(
        default=None, alias="executionStatus", description="The execution's status, when it cannot be retried."
    )
    trigger_status: str | None = Field(default=None, alias="triggerStatus", description="idle | busy | pending")
    execution_id: str | None = Field(default=None, alias="executionId", description="The execution holding the lock.")
    reason: str | None = Field(default=None, description="busy | pending | paused | deleted")
    workflow_id: str | None = Field(default=None, alias="workflowId", description="The deleted workflow.")
