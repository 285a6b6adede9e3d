"""Routes of executions: a workflow's history, one execution, and cancelling it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from wfa.domain.execution import Execution, ExecutionStatus
from wfa_workflows.api.context import UseCases
from wfa_workflows.api.json_bodies import JsonRoute
from wfa_workflows.api.problems import documented
from wfa_workflows.api.schemas import ExecutionPage
from wfa_workflows.api.workflows import Cursor, Limit, WorkflowIdPath

router = APIRouter(tags=["executions"], route_class=JsonRoute)

ExecutionIdPath = Annotated[str, Path(description="The executionId.")]
StatusFilter = Annotated[ExecutionStatus | None, Query(description="Only executions with this status.")]


@router.get(
    "/workflows/{workflow_id}/executions",
    response_model=ExecutionPage,
    responses=documented(404, 422),
    summary="A workflow's executions, newest first (also after the workflow was deleted)",
)
async def list_executions(
    workflow_id: WorkflowIdPath,
    use_cases: UseCases,
    status: StatusFilter = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> ExecutionPage:
    page = await use_cases.list_executions(workflow_id, status=status, limit=limit, cursor=cursor)
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
