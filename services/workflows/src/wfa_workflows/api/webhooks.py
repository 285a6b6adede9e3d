"""POST /hooks/{workflowId}: a signed request starts an execution of a workflow that takes webhooks (contract v2,
"Webhook triggers"; docs/webhooks.md).

No API key: the signature is the authentication, so this router is mounted outside the Bearer guard. The order
of the checks is the point of the module: the workflow and its secret, then the signature over the raw bytes, and
only then is the body read as JSON. Nothing a request without a valid signature sends is parsed, and none of it
starts anything.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from wfa_workflows.api.context import UseCases
from wfa_workflows.api.json_bodies import json_object_body
from wfa_workflows.api.problems import documented
from wfa_workflows.api.schemas import Problem, TriggerAccepted, TriggerConflictProblem
from wfa_workflows.api.workflows import IdempotencyKey, WorkflowIdPath, accepted

router = APIRouter(prefix="/hooks", tags=["webhooks"])

# Neither header is constrained here: a missing or malformed signature is a 401 from the verification, not a 422.
Timestamp = Annotated[
    str | None,
    Header(
        alias="X-Wfa-Timestamp",
        description="When the request was signed, in unix seconds; at most 300 s from the server's time either way.",
    ),
]
Signature = Annotated[
    str | None,
    Header(
        alias="X-Wfa-Signature",
        description="`sha256=<hex>`: HMAC-SHA256, with the workflow's secret, of `<X-Wfa-Timestamp>.` followed by the "
        "raw body, byte for byte.",
    ),
]

_BODY = {
    "required": False,
    "description": "A JSON object, the execution's `input` (an empty body is `{}`). Signed as sent: the signature "
    "covers the raw bytes.",
    "content": {
        "application/json": {
            "schema": {"type": "object", "additionalProperties": True},
            "example": {"ref": "refs/heads/main", "after": "9fceb02"},
        }
    },
}


@router.post(
    "/{workflow_id}",
    status_code=202,
    response_model=TriggerAccepted,
    responses={
        200: {
            "model": TriggerAccepted,
            "description": "A repeated Idempotency-Key (a redelivery): the execution it started.",
        },
        401: {
            "model": Problem,
            "description": "The signature is missing or wrong, or the timestamp is more than 300 s away: nothing "
            "started.",
        },
        404: {"model": Problem, "description": "No such workflow, or it takes no webhooks (the same answer)."},
        409: {"model": TriggerConflictProblem, "description": "The workflow is busy, pending a retry, or paused."},
        **documented(413, 415, 422, 503),
    },
    summary="Start an execution from a signed webhook request (no API key)",
    openapi_extra={"requestBody": _BODY},
)
async def receive_webhook(
    workflow_id: WorkflowIdPath,
    request: Request,
    use_cases: UseCases,
    response: Response,
    timestamp: Timestamp = None,
    signature: Signature = None,
    idempotency_key: IdempotencyKey = None,
) -> TriggerAccepted:
    raw = await request.body()
    await use_cases.verify_webhook(workflow_id, timestamp=timestamp, signature=signature, body=raw)
    input = json_object_body(raw, request.headers.get("content-type"))
    result = await use_cases.trigger_by_webhook(workflow_id, input=input, idempotency_key=idempotency_key)
    return accepted(result, response)
