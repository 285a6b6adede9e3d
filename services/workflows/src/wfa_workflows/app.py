"""The ASGI application: routers, problems, authentication and limits around already-built dependencies.

`create_app` builds nothing that talks to the outside world: the composition root (`main.py`) passes the real
repositories, publisher and start-up work; tests pass in-memory ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.trace import TracerProvider
from pydantic import TypeAdapter
from pydantic.alias_generators import to_camel

from wfa.domain.durations import PATTERN_TEXT as DURATION_PATTERN
from wfa.domain.durations import format_duration
from wfa.entrypoints.ops_http import ReadinessCheck, ops_routes
from wfa_workflows.api import executions, schedule, statistics, versions, webhooks, workflows
from wfa_workflows.api.auth import ApiKey, ApiKeyAuth
from wfa_workflows.api.http_metrics import HttpMetrics
from wfa_workflows.api.limits import BodySizeLimit
from wfa_workflows.api.problems import PROBLEM_JSON, documented, install_problem_handlers
from wfa_workflows.dashboard import install_dashboard
from wfa_workflows.use_cases import WorkflowUseCases

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

DESCRIPTION = """\
Define workflows (a trigger plus actions), trigger them, and follow their executions.

Every error is an RFC 9457 problem (`application/problem+json`). With API keys configured, send one as
`Authorization: Bearer <key>`; read-only keys may only read. `POST /hooks/{workflowId}` takes no key: its requests
are signed with the workflow's webhook secret instead.
"""


@dataclass(frozen=True)
class ApiDependencies:
    use_cases: WorkflowUseCases
    api_keys: Sequence[ApiKey] = ()
    readiness: Mapping[str, ReadinessCheck] = field(default_factory=dict)
    lifespan: Lifespan | None = None  # production only: connect, ensure indexes and topics, close
    tracer_provider: TracerProvider | None = None  # a server span per request; none without one


class WorkflowsApi(FastAPI):
    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            schema = super().openapi()
            _problems_as_problem_json(schema)
            _put_takes_the_resource_too(schema)
            _durations_as_written(schema)
            _headers_documented(schema)
            _request_examples(schema)
        assert self.openapi_schema is not None
        return self.openapi_schema


def _problems_as_problem_json(schema: dict[str, Any]) -> None:
    """FastAPI documents every response body as application/json; error bodies are problem+json."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content")
                if status[:1] in ("4", "5") and content and "application/json" in content:
                    content[PROBLEM_JSON] = content.pop("application/json")


def _put_takes_the_resource_too(schema: dict[str, Any]) -> None:
    """PUT takes a definition or the resource exactly as GET returned it (contract, "Settled details"): the body is
    documented as either, so that a client (or a fuzzer) sending the resource back is not told it sent invalid
    data. FastAPI can only describe the one model the handler validates against."""
    body = schema["paths"]["/workflows/{workflow_id}"]["put"]["requestBody"]["content"]["application/json"]
    definition = body["schema"].pop("$ref")
    body["schema"]["anyOf"] = [
        {"$ref": definition},
        {"$ref": "#/components/schemas/Workflow"},
        {"$ref": "#/components/schemas/VersionResource"},
    ]


def _durations_as_written(schema: dict[str, Any]) -> None:
    """Pydantic writes a duration's default in ISO 8601 (`PT2S`), which the field's own pattern refuses: written
    as the API writes durations (`2s`), so that the document validates and a client's default is one it may send."""
    for component in schema.get("components", {}).get("schemas", {}).values():
        for spec in (component.get("properties") or {}).values():
            default = spec.get("default")
            if spec.get("pattern") == DURATION_PATTERN and isinstance(default, str) and default.startswith("P"):
                spec["default"] = format_duration(TypeAdapter(timedelta).validate_python(default))


_LOCATION = {"description": "The URL of what was created", "schema": {"type": "string"}}
_RETRY_AFTER = {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}


def _headers_documented(schema: dict[str, Any]) -> None:
    """The headers a client acts on: Location of what a request created, Retry-After of a 503."""
    paths = schema["paths"]
    created = [
        ("/workflows", "post", "201"),
        ("/workflows/{workflow_id}/trigger", "post", "202"),
        ("/executions/{execution_id}/retry", "post", "202"),
        ("/hooks/{workflow_id}", "post", "202"),
    ]
    for path, method, status in created:
        paths[path][method]["responses"][status].setdefault("headers", {})["Location"] = _LOCATION
    for operations in paths.values():
        for operation in operations.values():
            unavailable = operation.get("responses", {}).get("503")
            if unavailable is not None:
                unavailable.setdefault("headers", {})["Retry-After"] = _RETRY_AFTER


def _request_examples(schema: dict[str, Any]) -> None:
    """Examples a reader (and a generated client's docs) can start from: the seed payload and a saga."""
    body = schema["paths"]["/workflows"]["post"]["requestBody"]["content"]["application/json"]
    body["examples"] = {
        "periodic": {
            "summary": "An HTTP GET every 10 seconds",
            "value": {
                "workflowId": "recurrent-workflow",
                "trigger": {"type": "periodic", "interval": "10s"},
                "actions": [{"type": "http-request", "url": "https://example.com", "method": "GET"}],
            },
        },
        "saga": {
            "summary": "Data between actions, a compensation and a failure handler",
            "value": {
                "workflowId": "create-and-announce",
                "trigger": {"type": "manual"},
                "actions": [
                    {
                        "name": "create",
                        "type": "http-request",
                        "method": "POST",
                        "url": "https://api.example.com/items",
                        "body": {"title": "{{ input.title }}"},
                        "compensate": {
                            "type": "http-request",
                            "method": "DELETE",
                            "url": "https://api.example.com/items/{{ actions.create.output.body.id }}",
                        },
                    },
                    {
                        "name": "announce",
                        "type": "http-request",
                        "method": "POST",
                        "url": "https://chat.example.com/hooks/items",
                        "body": {"text": "created {{ actions.create.output.body.id }}"},
                    },
                ],
                "onFailure": [{"type": "log", "level": "error", "message": "failed at {{ error.action }}"}],
            },
        },
    }
    trigger = schema["paths"]["/workflows/{workflow_id}/trigger"]["post"].get("requestBody")
    if trigger is not None:
        trigger["content"]["application/json"]["examples"] = {
            "input": {"summary": "With an input", "value": {"input": {"release": "42"}}}
        }


def _operation_id(route: APIRoute) -> str:
    """`createWorkflow` for the handler `create_workflow`: stable, readable names for generated clients."""
    return to_camel(route.name)


def create_app(deps: ApiDependencies) -> FastAPI:
    app = WorkflowsApi(
        title="wfa workflows API",
        version="1",
        description=DESCRIPTION,
        lifespan=deps.lifespan,
        generate_unique_id_function=_operation_id,
        # One schema per model: a definition reads and writes the same fields (defaults filled on the way out).
        separate_input_output_schemas=False,
    )
    app.state.use_cases = deps.use_cases
    guard = [Depends(ApiKeyAuth(deps.api_keys))]
    for router in (workflows.router, schedule.router, versions.router, executions.router, statistics.router):
        app.include_router(router, dependencies=guard, responses=documented(401, 403, 413, 415, 422, 503))
    app.include_router(webhooks.router)  # signed instead of authenticated: outside the guard
    app.router.routes.extend(ops_routes(deps.readiness))
    install_dashboard(app)  # a static page: its API calls carry the key, the page itself needs none
    install_problem_handlers(app)
    app.add_middleware(BodySizeLimit)  # an oversized body is refused before anything reads it
    app.add_middleware(HttpMetrics, metrics=deps.use_cases.metrics)  # outermost: counts every answer, 413s too
    if deps.tracer_provider is not None:
        # Probes and scrapes would make a trace every few seconds, of nothing; ASGI send/receive spans, one per
        # message, would bury the ones that matter.
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=deps.tracer_provider,
            excluded_urls="/healthz$,/readyz$,/metrics$",
            exclude_spans=["receive", "send"],
        )
    return app
