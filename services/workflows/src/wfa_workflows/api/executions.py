"""Routes of executions: across workflows, a workflow's history, one execution, cancelling and retrying it."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import BeforeValidator

from wfa.domain.errors import ValidationFailed
from wfa.domain.execution import Execution, ExecutionStatus, Reason
from wfa.ports.repositories import ExecutionFilter
from wfa_workflows.api.context import UseCases
from wfa_workflows.api.json_bodies import JsonRoute
from wfa_workflows.api.problems import documented
from wfa_workflows.api.schemas import ExecutionPage, RetryConflictProblem, TriggerAccepted
from wfa_workflows.api.workflows import Cursor, IdempotencyKey, Limit, WorkflowIdPath, accepted

router = APIRouter(tags=["executions"], route_class=JsonRoute)

ExecutionIdPath = Annotated[str, Path(description="The executionId.")]
StatusFilter = Annotated[ExecutionStatus | None, Query(description="Only executions with this status.")]
ReasonFilter = Annotated[Reason | None, Query(description="Only executions started for this reason.")]
WorkflowIdFilter = Annotated[
    str | None, Query(alias="workflowId", max_length=128, description="Only this workflow's executions.")
]
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}")


def _date_time_text(value: object) -> object:
    # Pydantic alone would also take a number of seconds since the epoch ("0.5"): not an ISO-8601 date-time.
    if isinstance(value, str) and not _DATE_TIME.match(value):
        raise ValueError("an ISO-8601 date-time is expected, such as 2026-11-01T08:00:00Z")
    return value


Since = Annotated[
    datetime | None,
    BeforeValidator(_date_time_text),
    Query(
        description="Only executions created at or after this moment: an ISO-8601 date-time (UTC when it names no "
        "offset)."
    ),
]
Until = Annotated[
    datetime | None,
    BeforeValidator(_date_time_text),
    Query(
        description="Only executions created before this moment (exclusive): an ISO-8601 date-time (UTC when it "
        "names no offset). Not before `since`."
    ),
]


def _utc(moment: datetime | None, name: str) -> datetime | None:
    if moment is None:
        return None
    try:
        return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is a valid date-time, but before year 1 in UTC
        raise ValidationFailed("the moment is outside the range of dates", loc=("query", name)) from None


@router.get(
    "/executions",
    response_model=ExecutionPage,
    responses=documented(422),
    summary="Executions across workflows, newest first, filtered by workflow, status, reason and creation time",
    description="Pages as `GET /workflows/{id}/executions` does (`nextCursor`; a cursor holds the filters' place, "
    "so send the same filters with it). Every filter is optional and they combine: `since` and `until` bound "
    "`createdAt` as [since, until). A `workflowId` that matches nothing, a deleted workflow's included, is an "
    "empty page rather than a 404.",
)
async def list_executions(
    use_cases: UseCases,
    workflow_id: WorkflowIdFilter = None,
    status: StatusFilter = None,
    reason: ReasonFilter = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> ExecutionPage:
    where = ExecutionFilter(
        workflow_id=workflow_id, status=status, reason=reason, since=_utc(since, "since"), until=_utc(until, "until")
    )
    page = await use_cases.list_executions(where, limit=limit, cursor=cursor)
    return ExecutionPage(items=page.items, next_cursor=page.next_cursor)


@router.get(
    "/workflows/{workflow_id}/executions",
    response_model=ExecutionPage,
    responses=documented(404, 422),
    summary="A workflow's executions, newest first (also after the workflow was deleted)",
)
async def list_workflow_executions(
    workflow_id: WorkflowIdPath,
    use_cases: UseCases,
    status: StatusFilter = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> ExecutionPage:
    page = await use_cases.list_workflow_executions(workflow_id, status=status, limit=limit, cursor=cursor)
    return ExecutionPage(items=page.items, next_cursor=page.next_cursor)


@router.get(
    "/executions/{execution_id}", response_model=Execution, responses=documented(404), summary="Read an execution"
)
async def get_execution(execution_id: ExecutionIdPath, use_cases: UseCases) -> Execution:
    return await use_cases.get_execution(execution_id)


@router.post(
    "/executions/{execution_id}/cancel",
    response_model=Execution,
    responses=documented(404, 409),
    summary="Cancel a queued, pending or running execution",
)
async def cancel_execution(execution_id: ExecutionIdPath, use_cases: UseCases) -> Execution:
    return await use_cases.cancel_execution(execution_id)


@router.post(
    "/executions/{execution_id}/retry",
    status_code=202,
    response_model=TriggerAccepted,
    responses={
        200: {"model": TriggerAccepted, "description": "A repeated Idempotency-Key: the execution it started."},
        409: {
            "model": RetryConflictProblem,
            "description": "The execution is neither failed nor cancelled (`executionStatus`); the workflow is busy, "
            "pending a retry or paused (as on a trigger: `triggerStatus`, `executionId`, `reason`); or the workflow "
            "was deleted (`reason: deleted`).",
        },
        **documented(404, 422),
    },
    summary="Retry a failed or cancelled execution from its first action not succeeded",
    description="Starts a new execution of the same workflow (`reason: retry`, `retryOf`: this execution) as a "
    "trigger does: the workflow's lock, 202 with `Location`, 409 while it is busy, pending or paused, and "
    "`Idempotency-Key`. The new execution runs this execution's frozen plan (its `workflowVersion`), not the "
    "workflow's current definition: the recorded outputs it reuses only make sense with the same actions; trigger "
    "the workflow to run a changed definition. It takes this execution's `input`; the actions that succeeded are "
    "copied as recorded (status, attempts, times, output) and are not run again; the others start `not_started`. "
    "A retry of a retry works the same way (`retryOf` names its immediate original).",
)
async def retry_execution(
    execution_id: ExecutionIdPath,
    use_cases: UseCases,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> TriggerAccepted:
    return accepted(await use_cases.retry_execution(execution_id, idempotency_key=idempotency_key), response)
