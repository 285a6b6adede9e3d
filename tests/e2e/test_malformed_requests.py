"""Malformed requests to the real workflows service get a 4xx application/problem+json, never a 5xx."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest
from tests.e2e.helpers import assert_problem, create_manual_workflow, log_action, manual_workflow

pytestmark = pytest.mark.e2e

JSON = {"content-type": "application/json"}
VALID: dict[str, Any] = {
    "workflowId": "malformed-case",
    "trigger": {"type": "periodic", "interval": "10s"},
    "actions": [{"type": "http-request", "url": "https://example.com", "method": "GET"}],
}


def definition(**changes: Any) -> bytes:
    body = copy.deepcopy(VALID) | changes
    return json.dumps({key: value for key, value in body.items() if value is not ...}).encode()


def with_action(**changes: Any) -> bytes:
    return definition(actions=[{**VALID["actions"][0], **changes}])


# (case, raw POST /workflows body, content type, expected status)
POST_CASES: list[tuple[str, bytes, str, int]] = [
    ("not-json", b"workflowId=x&trigger=manual", "application/json", 422),
    ("truncated-json", b'{"workflowId": "x", ', "application/json", 422),
    ("json-array", b"[1, 2, 3]", "application/json", 422),
    ("sent-as-text", definition(), "text/plain", 415),
    ("workflow-id-a-number", definition(workflowId=42), "application/json", 422),
    ("workflow-id-with-a-slash", definition(workflowId="a/b"), "application/json", 422),
    ("workflow-id-too-long", definition(workflowId="x" * 129), "application/json", 422),
    ("actions-a-string", definition(actions="GET https://example.com"), "application/json", 422),
    ("no-actions", definition(actions=[]), "application/json", 422),
    ("101-actions", definition(actions=[log_action("m")] * 101), "application/json", 422),
    ("missing-trigger", definition(trigger=...), "application/json", 422),
    ("interval-unknown-unit", definition(trigger={"type": "periodic", "interval": "10x"}), "application/json", 422),
    ("interval-zero", definition(trigger={"type": "periodic", "interval": "0s"}), "application/json", 422),
    ("interval-a-number", definition(trigger={"type": "periodic", "interval": 10}), "application/json", 422),
    ("cron-not-an-expression", definition(trigger={"type": "cron", "cron": "every day"}), "application/json", 422),
    ("cron-six-fields", definition(trigger={"type": "cron", "cron": "0 0 * * * *"}), "application/json", 422),
    ("cron-30-february", definition(trigger={"type": "cron", "cron": "0 0 30 2 *"}), "application/json", 422),
    (
        "cron-31-in-short-months",
        definition(trigger={"type": "cron", "cron": "0 0 31 2,4,6,9,11 *", "timezone": "Europe/Paris"}),
        "application/json",
        422,
    ),
    ("unknown-top-level-field", definition(owner="me"), "application/json", 422),
    ("unknown-action-field", with_action(verb="GET"), "application/json", 422),
    ("ftp-url", with_action(url="ftp://example.com/file"), "application/json", 422),
    ("file-url", with_action(url="file:///etc/passwd"), "application/json", 422),
    ("unknown-method", with_action(method="FETCH"), "application/json", 422),
    ("max-attempts-a-string", definition(retry={"maxAttempts": "three"}), "application/json", 422),
    (
        "duplicate-action-names",
        definition(actions=[log_action("a", name="step"), log_action("b", name="step")]),
        "application/json",
        422,
    ),
    ("nan", b'{"workflowId": "x", "retry": {"backoffRate": NaN}}', "application/json", 422),
    ("body-over-1-mib", definition(description="x" * (1024 * 1024)), "application/json", 413),
]


@pytest.mark.parametrize(
    ("body", "content_type", "status"), [case[1:] for case in POST_CASES], ids=[c[0] for c in POST_CASES]
)
async def test_malformed_workflow_definition_is_a_4xx_problem(
    api: httpx.AsyncClient, body: bytes, content_type: str, status: int
) -> None:
    response = await api.post("/workflows", content=body, headers={"content-type": content_type})

    problem = assert_problem(response, status)
    if status == 422:
        assert problem["errors"] and all({"loc", "msg"} <= set(error) for error in problem["errors"]), problem


@pytest.mark.parametrize("limit", ["0", "501", "-1", "ten", ""])
async def test_bad_limit_parameter_is_a_422_problem(api: httpx.AsyncClient, limit: str) -> None:
    response = await api.get("/workflows", params={"limit": limit})

    problem = assert_problem(response, 422)
    assert ["query", "limit"] in [error["loc"] for error in problem["errors"]], problem


async def test_bad_execution_status_filter_is_a_422_problem(api: httpx.AsyncClient) -> None:
    workflow_id = await create_manual_workflow(api, "status-filter", log_action("m"))

    response = await api.get(f"/workflows/{workflow_id}/executions", params={"status": "exploded"})

    assert_problem(response, 422)


@pytest.mark.parametrize(
    ("case", "body"),
    [
        ("input-a-number", b'{"input": 5}'),
        ("unknown-field", b'{"input": {}, "priority": "high"}'),
        ("not-json", b"input=5"),
    ],
)
async def test_malformed_trigger_body_is_a_422_problem_and_starts_nothing(
    api: httpx.AsyncClient, case: str, body: bytes
) -> None:
    workflow_id = await create_manual_workflow(api, f"bad-trigger-{case}", log_action("m"))

    response = await api.post(f"/workflows/{workflow_id}/trigger", content=body, headers=JSON)

    assert_problem(response, 422)
    assert (await api.get(f"/workflows/{workflow_id}/executions")).json()["items"] == []


async def test_put_with_another_workflow_id_is_a_422_problem(api: httpx.AsyncClient) -> None:
    workflow_id = await create_manual_workflow(api, "put-mismatch", log_action("m"))

    response = await api.put(f"/workflows/{workflow_id}", json=manual_workflow("someone-else", log_action("m")))

    assert_problem(response, 422)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/workflows/no-such-workflow"),
        ("GET", "/executions/no-such-execution"),
        ("POST", "/workflows/x/trigger"),
    ],
)
async def test_unknown_resource_is_a_404_problem(api: httpx.AsyncClient, method: str, path: str) -> None:
    response = await api.request(method, path)

    assert_problem(response, 404)
