"""The one place where errors become HTTP responses: RFC 9457 problems (application/problem+json).

Domain errors, request validation errors, the HTTP layer's own refusals (authentication, media type, size) and
Starlette's 404/405 all end here, so every 4xx/5xx body has the same shape. Anything else is a bug: it is logged
with its traceback and answered with a bare 500 problem that reveals nothing about the cause.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wfa.domain.errors import (
    Conflict,
    DependencyUnavailable,
    ExecutionAlreadyFinished,
    ExecutionNotRetryable,
    InvalidSignature,
    LockHeldByLiveExecution,
    NotFound,
    TriggerLocked,
    ValidationFailed,
    VersionMismatch,
    WfaError,
    WorkflowAlreadyExists,
    WorkflowDeleted,
)
from wfa_workflows.api.schemas import Problem, ValidationProblem

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:wfa:problem:"
MAX_ERRORS_SHOWN = 50
RETRY_AFTER_SECONDS = 1
_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_JSON


def problem_response(
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> Response:
    """`kind` names the problem type (`urn:wfa:problem:<kind>`); without one the type is `about:blank` and the
    title is the status phrase, as RFC 9457 asks."""
    title = HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "type": f"{TYPE_PREFIX}{kind}" if kind else "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    body.update(extensions or {})
    return ProblemResponse(body, status_code=status, headers=dict(headers or {}))


class HttpProblem(HTTPException):
    """A refusal by the HTTP layer itself (authentication, media type, malformed JSON), raised anywhere in a
    request and answered here."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str,
        headers: Mapping[str, str] | None = None,
        errors: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        super().__init__(status, detail, dict(headers) if headers else None)
        self.kind = kind
        self.errors = list(errors)


def validation_problem(errors: Iterable[Mapping[str, Any]], *, detail: str | None = None) -> Response:
    """422 with `errors: [{"loc", "msg", "type"}]`, from pydantic-style error dicts (the input is not echoed)."""
    items = [_error_item(error) for error in errors] or [{"loc": [], "msg": "the request is not valid", "type": None}]
    if detail is None:
        first_loc, first_msg = items[0]["loc"], items[0]["msg"]
        detail = f"{'.'.join(str(part) for part in first_loc) or 'request'}: {first_msg}"
    if len(items) > 1:
        detail += f" (and {len(items) - 1} more error{'s' if len(items) > 2 else ''})"
    return problem_response(422, detail, kind="validation-failed", extensions={"errors": items[:MAX_ERRORS_SHOWN]})


def _error_item(error: Mapping[str, Any]) -> dict[str, Any]:
    loc: list[str | int] = list(error.get("loc") or ())
    return {"loc": loc, "msg": _clean_message(str(error.get("msg", ""))), "type": error.get("type")}


def _clean_message(message: str) -> str:
    # pydantic prefixes the text of a ValueError raised by a validator; the reader wants only the reason.
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


def domain_problem(exc: WfaError) -> Response:
    if isinstance(exc, TriggerLocked):
        return problem_response(
            409,
            str(exc),
            kind="trigger-locked",
            extensions={"triggerStatus": exc.trigger_status, "executionId": exc.execution_id, "reason": exc.reason},
        )
    if isinstance(exc, LockHeldByLiveExecution):
        return problem_response(
            409,
            str(exc),
            kind="lock-held",
            extensions={"executionId": exc.execution_id, "executionStatus": exc.execution_status},
        )
    if isinstance(exc, NotFound):
        return problem_response(404, str(exc), kind="not-found")
    if isinstance(exc, WorkflowAlreadyExists):
        return problem_response(409, str(exc), kind="workflow-exists")
    if isinstance(exc, ExecutionAlreadyFinished):
        return problem_response(409, str(exc), kind="execution-finished", extensions={"executionStatus": exc.status})
    if isinstance(exc, ExecutionNotRetryable):
        # `executionStatus`, as on a cancel's 409: a problem's own `status` is the HTTP status.
        return problem_response(
            409, str(exc), kind="execution-not-retryable", extensions={"executionStatus": exc.status}
        )
    if isinstance(exc, WorkflowDeleted):
        return problem_response(
            409, str(exc), kind="workflow-deleted", extensions={"reason": "deleted", "workflowId": exc.workflow_id}
        )
    if isinstance(exc, Conflict):
        return problem_response(409, str(exc), kind="conflict")
    if isinstance(exc, VersionMismatch):
        return problem_response(412, str(exc), kind="version-mismatch", extensions={"currentVersion": exc.actual})
    if isinstance(exc, ValidationFailed):
        return validation_problem([{"loc": exc.loc, "msg": str(exc), "type": "value_error"}])
    if isinstance(exc, InvalidSignature):
        return problem_response(
            401, str(exc), kind="invalid-signature", headers={"WWW-Authenticate": 'Signature realm="wfa-webhooks"'}
        )
    if isinstance(exc, DependencyUnavailable):
        # The cause (host names, driver messages) goes to the log, not to the client.
        log.warning("dependency unavailable", dependency=exc.dependency, error=exc.detail)
        return problem_response(
            503,
            f"{exc.dependency} is unavailable; try again shortly",
            kind="dependency-unavailable",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    log.error("unmapped domain error", exc_info=exc)
    return _internal_error()


def _internal_error() -> Response:
    return problem_response(500, "the server failed to handle the request; it has been logged")


async def _on_domain_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, WfaError)
    return domain_problem(exc)


async def _on_request_validation(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return validation_problem(exc.errors())


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if isinstance(exc, HttpProblem):
        if exc.errors:
            return validation_problem(exc.errors, detail=exc.detail)
        return problem_response(exc.status_code, exc.detail, kind=exc.kind, headers=headers)
    detail = exc.detail
    if exc.status_code == 404 and detail == HTTPStatus.NOT_FOUND.phrase:
        detail = f"there is nothing at {request.url.path}"
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return problem_response(exc.status_code, detail, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path. Starlette's own Allow names only the methods of the first
    route matching the path, and GET and POST /workflows are two routes (RFC 9110 wants them all)."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]


class UnexpectedErrors:
    """Pure ASGI middleware: an exception no handler knows is logged with its traceback and answered with a 500
    problem (Starlette's own last-resort handler would answer text/plain)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("request failed", method=scope.get("method"), path=scope.get("path"))
            if started:
                raise
            await _internal_error()(scope, receive, send)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_request_validation)
    app.add_exception_handler(WfaError, _on_domain_error)
    app.add_middleware(UnexpectedErrors)


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for problem responses (their media type is set to application/problem+json by the app)."""
    return {
        status: {"model": ValidationProblem if status == 422 else Problem, "description": HTTPStatus(status).phrase}
        for status in statuses
    }
