"""The ASGI application: routers, problems, authentication and limits around already-built dependencies.

`create_app` builds nothing that talks to the outside world: the composition root (`main.py`) passes the real
repositories, publisher and start-up work; tests pass in-memory ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from fastapi import Depends, FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.trace import TracerProvider

from wfa.entrypoints.ops_http import ReadinessCheck, ops_routes
from wfa_workflows.api import executions, statistics, versions, workflows
from wfa_workflows.api.auth import ApiKey, ApiKeyAuth
from wfa_workflows.api.http_metrics import HttpMetrics
from wfa_workflows.api.limits import BodySizeLimit
from wfa_workflows.api.problems import PROBLEM_JSON, documented, install_problem_handlers
from wfa_workflows.use_cases import WorkflowUseCases

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

DESCRIPTION = """\
Define workflows (a trigger plus actions), trigger them, and follow their executions.

Every error is an RFC 9457 problem (`application/problem+json`). With API keys configured, send one as
`Authorization: Bearer <key>`; read-only keys may only read.
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


def create_app(deps: ApiDependencies) -> FastAPI:
    app = WorkflowsApi(
        title="wfa workflows API",
        version="1",
        description=DESCRIPTION,
        lifespan=deps.lifespan,
    )
    app.state.use_cases = deps.use_cases
    guard = [Depends(ApiKeyAuth(deps.api_keys))]
    for router in (workflows.router, versions.router, executions.router, statistics.router):
        app.include_router(router, dependencies=guard, responses=documented(401, 403, 422, 503))
    app.router.routes.extend(ops_routes(deps.readiness))
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
