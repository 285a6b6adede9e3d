"""What a client cannot slip through the API: malformed secret references, oversized definitions, and query
operators in place of ids (every id and cursor reaches the repositories as a plain string)."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from tests.unit.workflows.conftest import assert_problem
from tests.unit.workflows.fakes import manual_workflow

from wfa.domain.workflow import MAX_ACTIONS, MAX_HEADERS, MAX_URL_LENGTH

URL = "https://api.example.com/hook"
ACTION_LOC = ["body", "actions", 0, "http-request"]


def http_workflow(workflow_id: str = "w", **action: Any) -> dict[str, Any]:
    return {
        "workflowId": workflow_id,
        "trigger": {"type": "manual"},
        "actions": [{"type": "http-request", "url": URL, **action}],
    }


# --- secret references ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "field"),
    [
        ({"url": URL + "?key={{ secrets.x-y }}"}, "url"),
        ({"headers": {"Authorization": "Bearer {{ secrets.x-y }}"}}, "headers"),
        ({"body": {"token": "{{ secrets.x-y }}"}}, "body"),
    ],
)
async def test_a_malformed_secret_reference_is_a_422_naming_it(
    client: httpx.AsyncClient, action: dict[str, Any], field: str
) -> None:
    response = await client.post("/workflows", json=http_workflow(**action))

    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"] == [*ACTION_LOC, field]
    assert "'{{ secrets.x-y }}' is not a valid secret reference: write {{ secrets.NAME }}" in problem["detail"]


async def test_secret_references_are_stored_and_served_as_written(client: httpx.AsyncClient) -> None:
    definition = http_workflow(
        url=URL + "?key={{ secrets.KEY }}",
        headers={"Authorization": "Bearer {{ secrets.TOKEN }}"},
        body={"password": "{{secrets.PASSWORD}}"},
    )

    created = await client.post("/workflows", json=definition)

    assert created.status_code == 201, created.text
    action = (await client.get("/workflows/w")).json()["actions"][0]
    assert (action["url"], action["headers"], action["body"]) == (
        URL + "?key={{ secrets.KEY }}",
        {"Authorization": "Bearer {{ secrets.TOKEN }}"},
        {"password": "{{secrets.PASSWORD}}"},
    )


# --- limits ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("definition", "loc"),
    [
        (
            {**manual_workflow("w"), "actions": [{"type": "log", "message": "m"}] * (MAX_ACTIONS + 1)},
            ["body", "actions"],
        ),
        (http_workflow(headers={f"X-H{n}": "v" for n in range(MAX_HEADERS + 1)}), [*ACTION_LOC, "headers"]),
        (http_workflow(headers={"X-Big": "v" * 8193}), [*ACTION_LOC, "headers"]),
        (http_workflow(headers={"X" * 257: "v"}), [*ACTION_LOC, "headers"]),
        (http_workflow(url=URL + "?q=" + "x" * MAX_URL_LENGTH), [*ACTION_LOC, "url"]),
    ],
    ids=["101-actions", "51-headers", "header-value-over-8-KiB", "header-name-over-256", "url-over-2048"],
)
async def test_a_definition_over_a_limit_is_a_422(
    client: httpx.AsyncClient, definition: dict[str, Any], loc: list[Any]
) -> None:
    problem = assert_problem(await client.post("/workflows", json=definition), 422)

    assert problem["errors"][0]["loc"] == loc


async def test_definitions_at_the_limits_are_accepted(client: httpx.AsyncClient) -> None:
    headers = {f"X-H{n}": "v" * 100 for n in range(MAX_HEADERS)}
    url = URL + "?q=" + "x" * (MAX_URL_LENGTH - len(URL) - 3)
    actions = [{"type": "http-request", "url": url, "headers": headers}]
    actions += [{"type": "log", "message": "m"}] * (MAX_ACTIONS - 1)

    response = await client.post("/workflows", json={**manual_workflow("w"), "actions": actions})

    assert response.status_code == 201, response.text


# --- no query injection ----------------------------------------------------------------------------------------

OPERATOR_IDS = ['{"$ne": null}', "$ne", "$where", ".*", "a.b"]


@pytest.mark.parametrize("probe", OPERATOR_IDS)
async def test_an_id_holding_query_syntax_matches_only_itself(client: httpx.AsyncClient, probe: str) -> None:
    await client.post("/workflows", json=manual_workflow("a.b"))
    await client.post("/workflows", json=manual_workflow("x"))
    segment = quote(probe, safe="")

    workflow = await client.get(f"/workflows/{segment}")
    executions = await client.get(f"/workflows/{segment}/executions")
    execution = await client.get(f"/executions/{segment}")

    if probe == "a.b":
        assert (workflow.status_code, workflow.json()["workflowId"]) == (200, "a.b")
    else:
        assert_problem(workflow, 404)
        assert_problem(executions, 404)
    assert_problem(execution, 404)


@pytest.mark.parametrize("workflow_id", ['{"$ne": null}', "$where", "a b", ""])
async def test_a_workflow_id_outside_the_id_pattern_is_refused(client: httpx.AsyncClient, workflow_id: str) -> None:
    problem = assert_problem(await client.post("/workflows", json=manual_workflow(workflow_id)), 422)

    assert problem["errors"][0]["loc"] == ["body", "workflowId"]


@pytest.mark.parametrize(
    "payload",
    [{"after": {"$ne": None}}, {"after": {"$gt": ""}}, {"createdAt": {"$gt": ""}, "executionId": {"$ne": None}}],
)
async def test_a_cursor_forged_to_hold_an_operator_is_a_422(client: httpx.AsyncClient, payload: Any) -> None:
    await client.post("/workflows", json=manual_workflow("w"))
    cursor = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")

    for path in ("/workflows", "/workflows/w/executions"):
        problem = assert_problem(await client.get(path, params={"cursor": cursor}), 422)
        assert problem["errors"][0]["loc"] == ["query", "cursor"]
