"""GET /executions: executions across workflows, newest first, filtered; 422 for bad parameters."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from tests.unit.workflows.conftest import assert_problem
from tests.unit.workflows.fakes import manual_workflow

from wfa.domain.clock import FakeClock


async def _trigger_and_cancel(client: httpx.AsyncClient, clock: FakeClock, *workflow_ids: str) -> list[str]:
    """One execution of each workflow in turn, a second apart, each cancelled; their ids, oldest first."""
    ids = []
    for workflow_id in workflow_ids:
        execution_id = (await client.post(f"/workflows/{workflow_id}/trigger")).json()["executionId"]
        await client.post(f"/executions/{execution_id}/cancel")
        ids.append(execution_id)
        clock.advance(timedelta(seconds=1))
    return ids


async def _listed(client: httpx.AsyncClient, **params: Any) -> list[str]:
    """Every page of GET /executions with these filters, walked with the cursor."""
    seen: list[str] = []
    cursor: str | None = None
    while True:
        response = await client.get("/executions", params=params | ({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        seen += [e["executionId"] for e in response.json()["items"]]
        cursor = response.json()["nextCursor"]
        if cursor is None:
            return seen


async def test_executions_of_every_workflow_are_listed_newest_first_page_by_page(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    for workflow_id in ("a", "b"):
        await client.post("/workflows", json=manual_workflow(workflow_id))
    ids = await _trigger_and_cancel(client, clock, "a", "b", "a", "b", "a")

    assert await _listed(client, limit=2) == ids[::-1]


async def test_the_filters_combine(client: httpx.AsyncClient, clock: FakeClock) -> None:
    for workflow_id in ("a", "b"):
        await client.post("/workflows", json=manual_workflow(workflow_id))
    a1, b1, a2 = await _trigger_and_cancel(client, clock, "a", "b", "a")
    a3 = (await client.post("/workflows/a/trigger")).json()["executionId"]

    assert await _listed(client, workflowId="a") == [a3, a2, a1]
    assert await _listed(client, workflowId="a", status="cancelled", limit=1) == [a2, a1]
    assert await _listed(client, status="cancelled", reason="manual") == [a2, b1, a1]
    assert await _listed(client, reason="schedule") == []
    assert await _listed(client, workflowId="never-existed") == []


async def test_since_is_inclusive_and_until_exclusive(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await client.post("/workflows", json=manual_workflow("a"))
    start = clock.now()
    ids = await _trigger_and_cancel(client, clock, "a", "a", "a")
    second, third = (start + timedelta(seconds=1)).isoformat(), (start + timedelta(seconds=2)).isoformat()

    assert await _listed(client, since=second, until=third) == [ids[1]]
    assert await _listed(client, since=second) == [ids[2], ids[1]]
    assert await _listed(client, until=second) == [ids[0]]
    # No offset: UTC.
    assert await _listed(client, since=second.removesuffix("+00:00")) == [ids[2], ids[1]]


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"since": "yesterday"}, ["query", "since"]),
        ({"since": "1700000000"}, ["query", "since"]),
        ({"until": "2026-05-01"}, ["query", "until"]),
        ({"until": "2026-13-01T00:00:00Z"}, ["query", "until"]),
        ({"since": "2026-05-02T00:00:00Z", "until": "2026-05-01T00:00:00Z"}, ["query", "since"]),
        ({"status": "done"}, ["query", "status"]),
        ({"reason": "whim"}, ["query", "reason"]),
        ({"limit": 0}, ["query", "limit"]),
        ({"limit": 501}, ["query", "limit"]),
        ({"cursor": "x"}, ["query", "cursor"]),
        ({"workflowId": "w" * 129}, ["query", "workflowId"]),
    ],
)
async def test_a_bad_parameter_is_422_located_at_it(
    client: httpx.AsyncClient, params: dict[str, Any], loc: list[str]
) -> None:
    body = assert_problem(await client.get("/executions", params=params), 422)

    assert [error["loc"] for error in body["errors"]] == [loc]


async def test_every_parameter_is_described_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    operation = (await client.get("/openapi.json")).json()["paths"]["/executions"]["get"]

    parameters = {parameter["name"]: parameter for parameter in operation["parameters"]}

    assert set(parameters) == {"workflowId", "status", "reason", "since", "until", "limit", "cursor"}
    assert all(parameter.get("description") for parameter in parameters.values())
    assert operation["summary"].startswith("Executions across workflows")


@pytest.mark.parametrize(
    "params",
    [
        {"since": "0001-01-01T00:00:00Z", "until": "9999-12-31T23:59:59.999999Z"},
        {"since": "0001-01-01T00:00:00-14:00", "until": "9999-12-31T23:59:59.999999+14:00"},
    ],
)
async def test_moments_at_the_edges_of_the_date_range_bound_nothing(
    client: httpx.AsyncClient, clock: FakeClock, params: dict[str, str]
) -> None:
    await client.post("/workflows", json=manual_workflow("a"))
    ids = await _trigger_and_cancel(client, clock, "a")

    assert await _listed(client, **params) == ids


async def test_a_moment_beyond_the_date_range_in_utc_is_422(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/executions", params={"since": "0001-01-01T00:00:00+01:00"}), 422)

    assert [error["loc"] for error in body["errors"]] == [["query", "since"]]
