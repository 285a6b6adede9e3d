"""Errors outside the domain: unknown routes, wrong methods, outages, bugs, oversized bodies; and the docs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import structlog
from starlette.types import Message, Receive, Scope, Send
from tests.unit.workflows.conftest import ClientFactory, assert_problem
from tests.unit.workflows.fakes import SEED, Failing, manual_workflow

from wfa.domain.errors import DependencyUnavailable
from wfa_workflows.api.limits import MAX_BODY_BYTES, BodySizeLimit

JSON = {"content-type": "application/json"}


async def test_an_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/nothing/here"), 404)

    assert body["type"] == "about:blank"
    assert body["title"] == "Not Found"


async def test_a_wrong_method_is_a_405_problem(client: httpx.AsyncClient) -> None:
    response = await client.patch("/workflows/w", json={})

    assert_problem(response, 405)
    assert response.headers["allow"]


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/workflows", "GET, POST"),
        ("/workflows/w", "DELETE, GET, PUT"),
        ("/workflows/w/trigger", "POST"),
        ("/healthz", "GET, HEAD"),
    ],
)
async def test_a_405_allows_every_method_of_the_path(client: httpx.AsyncClient, path: str, allowed: str) -> None:
    # Starlette's own Allow named only the first route matching the path (found by schemathesis).
    response = await client.request("OPTIONS", path)

    assert_problem(response, 405)
    assert response.headers["allow"] == allowed


async def test_a_wrong_method_on_an_operational_route_is_a_405_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post("/healthz"), 405)


async def test_an_unreachable_database_is_503_with_retry_after(make_client: ClientFactory) -> None:
    down = Failing(lambda: DependencyUnavailable("mongodb", "connection refused to 10.0.0.7"))
    async with make_client(workflows_repo=down, executions_repo=down) as client:
        responses = [
            await client.get("/workflows"),
            await client.post("/workflows", json=SEED),
            await client.post("/workflows/w/trigger"),
            await client.get("/executions/e1"),
        ]

    for response in responses:
        body = assert_problem(response, 503)
        assert response.headers["retry-after"] == "1"
        assert "mongodb" in body["detail"]
        assert "10.0.0.7" not in body["detail"]


async def test_an_unexpected_error_is_a_logged_500_problem_that_reveals_nothing(make_client: ClientFactory) -> None:
    broken = Failing(lambda: RuntimeError("secret internals"))
    async with make_client(workflows_repo=broken) as client:
        with structlog.testing.capture_logs() as logs:
            response = await client.get("/workflows/w")

    body = assert_problem(response, 500)
    assert "secret internals" not in response.text
    assert body["type"] == "about:blank"
    failures = [entry for entry in logs if entry["event"] == "request failed"]
    assert failures and failures[0]["exc_info"] is True
    assert failures[0]["path"] == "/workflows/w"


async def test_readiness_reports_what_is_down(make_client: ClientFactory) -> None:
    async def mongo_down() -> None:
        raise DependencyUnavailable("mongodb", "refused")

    async def kafka_up() -> None:
        return None

    async with make_client(readiness={"mongodb": mongo_down, "kafka": kafka_up}) as client:
        ready = await client.get("/readyz")
        alive = await client.get("/healthz")

    assert ready.status_code == 503
    assert ready.json()["down"] == ["mongodb"]
    assert alive.status_code == 200


# -- body size ---------------------------------------------------------------------------------------------


async def test_a_body_over_one_mib_is_413(client: httpx.AsyncClient) -> None:
    big = b'{"workflowId": "' + b"x" * (MAX_BODY_BYTES + MAX_BODY_BYTES // 2) + b'"}'

    response = await client.post("/workflows", content=big, headers=JSON)

    body = assert_problem(response, 413)
    assert body["type"] == "urn:wfa:problem:body-too-large"


async def _refused_after(declared: int, chunks: list[bytes], extra_headers: list[tuple[bytes, bytes]]) -> list[str]:
    """Run the body limit over `chunks`; the order of events: "read" per chunk handed over, "send" per message."""
    events: list[str] = []
    pending = list(chunks)

    async def receive() -> Message:
        if not pending:
            return {"type": "http.disconnect"}
        events.append("read")
        chunk = pending.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def send(message: Message) -> None:
        events.append("send")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("the application must not see a body over the limit")

    headers = [(b"content-length", str(declared).encode()), *extra_headers]
    scope: Scope = {"type": "http", "method": "POST", "path": "/workflows", "headers": headers}
    await BodySizeLimit(app, max_bytes=10)(scope, receive, send)
    return events


async def test_a_refused_body_is_read_to_its_end_before_the_413_so_closing_does_not_reset_it() -> None:
    events = await _refused_after(30, [b"x" * 10, b"x" * 10, b"x" * 10], [])

    assert events == ["read", "read", "read", "send", "send"]


async def test_a_refused_body_is_not_asked_for_when_the_client_waits_for_100_continue() -> None:
    events = await _refused_after(30, [b"x" * 30], [(b"expect", b"100-continue")])

    assert events == ["send", "send"]


async def test_a_chunked_body_over_one_mib_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"workflowId": "'
        for _ in range(24):
            yield b"x" * 65_536
        yield b'"}'

    response = await client.post("/workflows", content=chunks(), headers=JSON)

    assert "content-length" not in response.request.headers
    assert_problem(response, 413)


async def test_a_chunked_body_under_the_limit_is_read_whole(client: httpx.AsyncClient) -> None:
    raw = b'{"workflowId": "w", "trigger": {"type": "manual"}, "actions": [{"type": "log", "message": "hi"}]}'

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(raw), 7):
            yield raw[start : start + 7]

    response = await client.post("/workflows", content=chunks(), headers=JSON)

    assert response.status_code == 201


async def test_a_body_of_exactly_one_mib_is_accepted(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=manual_workflow("w"))
    prefix, suffix = b'{"input": {"pad": "', b'"}}'
    raw = prefix + b"x" * (MAX_BODY_BYTES - len(prefix) - len(suffix)) + suffix

    response = await client.post("/workflows/w/trigger", content=raw, headers=JSON)

    assert len(raw) == MAX_BODY_BYTES
    assert response.status_code == 202


# -- OpenAPI -----------------------------------------------------------------------------------------------


@pytest.fixture
async def openapi(client: httpx.AsyncClient) -> dict:  # type: ignore[type-arg]
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def test_openapi_documents_every_endpoint_of_the_contract(openapi: dict) -> None:  # type: ignore[type-arg]
    operations = {(method.upper(), path) for path, item in openapi["paths"].items() for method in item}

    assert operations == {
        ("POST", "/workflows"),
        ("GET", "/workflows"),
        ("GET", "/workflows/{workflow_id}"),
        ("PUT", "/workflows/{workflow_id}"),
        ("DELETE", "/workflows/{workflow_id}"),
        ("POST", "/workflows/{workflow_id}/pause"),
        ("POST", "/workflows/{workflow_id}/resume"),
        ("POST", "/workflows/{workflow_id}/unlock"),
        ("POST", "/workflows/{workflow_id}/trigger"),
        ("GET", "/workflows/{workflow_id}/executions"),
        ("GET", "/executions/{execution_id}"),
        ("POST", "/executions/{execution_id}/cancel"),
        ("POST", "/executions/{execution_id}/retry"),  # v2: executions across workflows
        ("GET", "/executions"),  # v2: executions across workflows
        ("GET", "/workflows/{workflow_id}/stats"),  # added to the contract's endpoints: statistics
        ("GET", "/stats"),
        ("GET", "/workflows/{workflow_id}/schedule"),  # v2: schedules
        ("POST", "/workflows/{workflow_id}/backfill"),  # v2: schedules
        ("GET", "/workflows/{workflow_id}/versions"),  # v2: versions
        ("GET", "/workflows/{workflow_id}/versions/{version}"),
        ("GET", "/workflows/{workflow_id}/versions/{version}/diff"),
        ("POST", "/hooks/{workflow_id}"),  # v2: webhook triggers
    }


def test_openapi_documents_bodies_problems_and_the_bearer_scheme(openapi: dict) -> None:  # type: ignore[type-arg]
    create = openapi["paths"]["/workflows"]["post"]
    trigger = openapi["paths"]["/workflows/{workflow_id}/trigger"]["post"]

    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/WorkflowDefinition")
    assert create["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith("/Workflow")
    assert create["responses"]["422"]["content"]["application/problem+json"]["schema"]["$ref"].endswith(
        "/ValidationProblem"
    )
    assert trigger["responses"]["409"]["content"]["application/problem+json"]["schema"]["$ref"].endswith(
        "/TriggerConflictProblem"
    )
    retry = openapi["paths"]["/executions/{execution_id}/retry"]["post"]
    assert set(retry["responses"]) >= {"202", "200", "404", "409", "422"}
    assert retry["responses"]["202"]["content"]["application/json"]["schema"]["$ref"].endswith("/TriggerAccepted")
    assert retry["responses"]["409"]["content"]["application/problem+json"]["schema"]["$ref"].endswith(
        "/RetryConflictProblem"
    )
    assert openapi["components"]["securitySchemes"]["apiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": openapi["components"]["securitySchemes"]["apiKey"]["description"],
    }
    assert create["security"] == [{"apiKey": []}]


async def test_the_docs_page_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")

    assert response.status_code == 200
    assert "swagger" in response.text.lower()
