"""Routes of the workflow resource: create, read, list, replace, delete, pause, resume, unlock, trigger."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Header, Path, Query, Response
from opentelemetry import trace
from pydantic import BeforeValidator

from wfa.domain.errors import ValidationFailed
from wfa.domain.labels import MAX_LABELS, Selector, parse_selector
from wfa.domain.workflow import Workflow, WorkflowDefinition, strip_server_managed
from wfa.observability.tracing import Attributes
from wfa.service_layer.triggering import TriggerResult
from wfa_workflows.api.context import Caller, UseCases
from wfa_workflows.api.json_bodies import JsonRoute
from wfa_workflows.api.problems import documented
from wfa_workflows.api.schemas import (
    TriggerAccepted,
    TriggerConflictProblem,
    TriggerRequest,
    UnlockConflictProblem,
    WorkflowPage,
)

router = APIRouter(prefix="/workflows", tags=["workflows"], route_class=JsonRoute)

WorkflowIdPath = Annotated[str, Path(description="The workflowId.")]
Limit = Annotated[int, Query(ge=1, le=500, description="Items per page (1–500).")]
Cursor = Annotated[
    str | None, Query(max_length=1024, description="The `nextCursor` of the previous page; absent for the first.")
]
DefinitionOrResource = Annotated[
    WorkflowDefinition,
    BeforeValidator(strip_server_managed),
    Body(
        description="The same body as POST; the resource exactly as GET returned it is accepted too (server-managed "
        "fields such as version, enabled, createdAt and trigger.nextRunAt are ignored)."
    ),
]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=32,
        description='The version the update is based on: the ETag GET sent (`"3"`), its weak form (`W/"3"`, as a '
        "compressing proxy may rewrite it) or the bare number (`3`); `*` is any. 412 if it is no longer current.",
    ),
]
LabelFilter = Annotated[
    list[str],
    Query(
        max_length=MAX_LABELS,
        description="`key=value`: only workflows carrying that label; repeat it to require several (all must match).",
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="1–255 visible ASCII characters. Repeating a key (per workflow, for 24 h; triggers and retries "
        "of the workflow's executions share the keys) returns the execution it started (200) instead of starting "
        "another.",
    ),
]


def as_resource(workflow: Workflow) -> Workflow:
    """The workflow as the API shows it: while paused nothing is scheduled, so `nextRunAt` is null (the stored
    slot is kept, so that resuming stays on the grid)."""
    if workflow.enabled or workflow.trigger.next_run_at is None:
        return workflow
    shown = workflow.model_copy(deep=True)
    shown.trigger.next_run_at = None
    return shown


def _location(workflow_id: str) -> str:
    return f"/workflows/{workflow_id}"


@router.post(
    "",
    status_code=201,
    response_model=Workflow,
    responses=documented(409, 422),
    summary="Create a workflow",
)
async def create_workflow(
    definition: WorkflowDefinition, use_cases: UseCases, response: Response, caller: Caller
) -> Workflow:
    workflow = await use_cases.create_workflow(definition, changed_by=caller)
    response.headers["Location"] = _location(workflow.workflow_id)
    return tagged(as_resource(workflow), response)


@router.get(
    "",
    response_model=WorkflowPage,
    responses=documented(422),
    summary="List workflows by workflowId, optionally only those carrying some labels",
)
async def list_workflows(
    use_cases: UseCases,
    limit: Limit = 50,
    cursor: Cursor = None,
    label: LabelFilter = [],  # noqa: B006
) -> WorkflowPage:
    page = await use_cases.list_workflows(limit=limit, cursor=cursor, labels=[_selector(text) for text in label])
    return WorkflowPage(items=[as_resource(w) for w in page.items], next_cursor=page.next_cursor)


def _selector(text: str) -> Selector:
    try:
        return parse_selector(text)
    except ValueError as exc:
        raise ValidationFailed(f"label: {exc}", loc=("query", "label")) from None


ETAG_HEADER = {
    "ETag": {
        "description": 'The workflow\'s version, quoted (`"3"`): send it back as If-Match on PUT.',
        "schema": {"type": "string"},
    }
}


@router.get(
    "/{workflow_id}",
    response_model=Workflow,
    responses={200: {"headers": ETAG_HEADER}, **documented(404)},
    summary="Read a workflow",
)
async def get_workflow(workflow_id: WorkflowIdPath, use_cases: UseCases, response: Response) -> Workflow:
    return tagged(as_resource(await use_cases.get_workflow(workflow_id)), response)


def tagged(workflow: Workflow, response: Response) -> Workflow:
    """The version is the ETag: it changes with every change of the definition, which If-Match guards."""
    response.headers["ETag"] = f'"{workflow.version}"'
    return workflow


@router.put(
    "/{workflow_id}",
    response_model=Workflow,
    responses={200: {"headers": ETAG_HEADER}, **documented(404, 409, 412, 422)},
    summary="Replace a workflow's definition (version + 1; the version replaced stays readable)",
)
async def replace_workflow(
    workflow_id: WorkflowIdPath,
    definition: DefinitionOrResource,
    use_cases: UseCases,
    response: Response,
    caller: Caller,
    if_match: IfMatch = None,
) -> Workflow:
    if definition.workflow_id != workflow_id:
        raise ValidationFailed(
            f"workflowId {definition.workflow_id!r} is not the one in the path ({workflow_id!r})",
            loc=("body", "workflowId"),
        )
    updated = await use_cases.update_workflow(workflow_id, definition, if_match=_version(if_match), changed_by=caller)
    return tagged(as_resource(updated), response)


def _version(if_match: str | None) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    text = if_match.strip()
    # A weak ETag is taken as its strong form: we only hand out strong ones, so a weak one is ours weakened by a
    # proxy on the way (compressing proxies do that), and it names the same version.
    if text.startswith('W/"'):
        text = text[2:]
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    if not text.isascii() or not text.isdigit():
        raise ValidationFailed(
            'If-Match takes a workflow version: the ETag "3", its weak form W/"3", or 3', loc=("header", "If-Match")
        )
    return int(text)


@router.delete("/{workflow_id}", status_code=204, responses=documented(404), summary="Delete a workflow")
async def delete_workflow(workflow_id: WorkflowIdPath, use_cases: UseCases) -> Response:
    await use_cases.delete_workflow(workflow_id)
    return Response(status_code=204)


@router.post(
    "/{workflow_id}/pause",
    response_model=Workflow,
    responses=documented(404),
    summary="Pause: no scheduled fires and no manual triggers until resumed",
)
async def pause_workflow(workflow_id: WorkflowIdPath, use_cases: UseCases) -> Workflow:
    return as_resource(await use_cases.pause_workflow(workflow_id))


@router.post(
    "/{workflow_id}/resume",
    response_model=Workflow,
    responses=documented(404),
    summary="Resume: the schedule continues at its next slot after now",
)
async def resume_workflow(workflow_id: WorkflowIdPath, use_cases: UseCases) -> Workflow:
    return as_resource(await use_cases.resume_workflow(workflow_id))


@router.post(
    "/{workflow_id}/unlock",
    response_model=Workflow,
    responses={
        200: {"description": "The workflow, its lock released (or already idle: nothing to do)."},
        409: {
            "model": UnlockConflictProblem,
            "description": "The lock's holder is still queued, running or pending, and `force` was not given.",
        },
        **documented(404, 422),
    },
    summary="Release a stuck lock: its holder finished or is missing (force=true: cancel a live holder first)",
)
async def unlock_workflow(
    workflow_id: WorkflowIdPath,
    use_cases: UseCases,
    caller: Caller,
    force: Annotated[
        bool, Query(description="Cancel the holder when it is still live, then release its lock.")
    ] = False,
) -> Workflow:
    return as_resource(await use_cases.unlock_workflow(workflow_id, force=force, unlocked_by=caller))


@router.post(
    "/{workflow_id}/trigger",
    status_code=202,
    response_model=TriggerAccepted,
    responses={
        200: {"model": TriggerAccepted, "description": "A repeated Idempotency-Key: the execution it started."},
        409: {
            "model": TriggerConflictProblem,
            "description": "The workflow is busy, pending a retry, or paused.",
        },
        **documented(404, 422),
    },
    summary="Start an execution now",
)
async def trigger_workflow(
    workflow_id: WorkflowIdPath,
    use_cases: UseCases,
    response: Response,
    body: TriggerRequest | None = None,
    idempotency_key: IdempotencyKey = None,
) -> TriggerAccepted:
    result = await use_cases.trigger_workflow(
        workflow_id, input=body.input if body is not None else None, idempotency_key=idempotency_key
    )
    return accepted(result, response)


def accepted(result: TriggerResult, response: Response) -> TriggerAccepted:
    """The answer to a start on request (a trigger, a retry): 202 and where the execution is, or 200 for a repeated
    Idempotency-Key."""
    execution = result.execution
    # The request's server span (the root of the execution's trace) says which execution it started.
    span = trace.get_current_span()
    span.set_attribute(Attributes.WORKFLOW_ID, execution.workflow_id)
    span.set_attribute(Attributes.EXECUTION_ID, execution.execution_id)
    if not result.created:
        response.status_code = 200
    response.headers["Location"] = f"/executions/{execution.execution_id}"
    return TriggerAccepted(
        execution_id=execution.execution_id, workflow_id=execution.workflow_id, status=execution.status
    )
