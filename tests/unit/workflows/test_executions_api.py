"""GET /executions/{id}, GET /workflows/{id}/executions and POST /executions/{id}/cancel."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from tests.unit.workflows.conftest import ClientFactory, assert_problem
from tests.unit.workflows.fakes import manual_workflow

from wfa.adapters.memory import InMemoryWorkflowRepository
from wfa.domain.clock import FakeClock


async def _run_and_cancel(client: httpx.AsyncClient, clock: FakeClock, workflow_id: str, times: int) -> list[str]:
    """Start and cancel `times` executions, a second apart; their ids, oldest first."""
    ids = []
    for _ in range(times):
        execution_id = (await client.post(f"/workflows/{workflow_id}/trigger")).json()["executionId"]
        await client.post(f"/executions/{execution_id}/cancel")
        ids.append(execution_id)
        clock.advance(timedelta(seconds=1))
    return ids


async def test_get_execution_shows_the_whole_record(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=manual_workflow("w"))
    accepted = (await client.post("/workflows/w/trigger")).json()

    response = await client.get(f"/executions/{accepted['executionId']}")

    assert response.status_code == 200
    execution = response.json()
    assert execution["executionId"] == accepted["executionId"]
    assert execution["status"] == "queued"
    assert execution["attempt"] == 1
    assert execution["maxAttempts"] == 3
    assert execution["actions"] == [
        {
            "name": "action-1",
            "type": "log",
            "status": "not_started",
            "attempts": 0,
            "startedAt": None,
            "finishedAt": None,
            "durationMs": None,
            "output": None,
            "error": None,
            "previous": [],
        }
    ]
    expected_keys = {"workflowId", "workflowVersion", "reason", "nextRetryAt", "input", "error", "createdAt"}
    assert expected_keys | {"startedAt", "finishedAt", "durationMs"} <= execution.keys()


async def test_unknown_execution_is_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/executions/nope"), 404)


async def test_executions_are_listed_newest_first(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await client.post("/workflows", json=manual_workflow("w"))
    ids = await _run_and_cancel(client, clock, "w", 3)

    response = await client.get("/workflows/w/executions")

    assert response.status_code == 200
    assert [e["executionId"] for e in response.json()["items"]] == list(reversed(ids))
    assert response.json()["nextCursor"] is None


async def test_execution_pages_walk_every_execution_once(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await client.post("/workflows", json=manual_workflow("w"))
    ids = await _run_and_cancel(client, clock, "w", 7)

    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/workflows/w/executions", params=params)).json()
        seen += [e["executionId"] for e in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break

    assert seen == list(reversed(ids))


async def test_executions_filter_by_status(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await client.post("/workflows", json=manual_workflow("w"))
    cancelled = await _run_and_cancel(client, clock, "w", 2)
    queued = (await client.post("/workflows/w/trigger")).json()["executionId"]

    only_queued = (await client.get("/workflows/w/executions", params={"status": "queued"})).json()
    only_cancelled = (await client.get("/workflows/w/executions", params={"status": "cancelled"})).json()

    assert [e["executionId"] for e in only_queued["items"]] == [queued]
    assert [e["executionId"] for e in only_cancelled["items"]] == list(reversed(cancelled))


async def test_an_invalid_status_filter_is_422(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=manual_workflow("w"))

    response = await client.get("/workflows/w/executions", params={"status": "done"})

    body = assert_problem(response, 422)
    assert body["errors"][0]["loc"] == ["query", "status"]


async def test_an_invalid_execution_cursor_or_limit_is_422(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=manual_workflow("w"))

    assert_problem(await client.get("/workflows/w/executions", params={"cursor": "x"}), 422)
    assert_problem(await client.get("/workflows/w/executions", params={"limit": 501}), 422)


async def test_executions_of_an_unknown_workflow_are_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/workflows/nope/executions"), 404)


async def test_executions_stay_readable_after_the_workflow_is_deleted(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=manual_workflow("w"))
    execution_id = (await client.post("/workflows/w/trigger")).json()["executionId"]

    await client.delete("/workflows/w")

    assert (await client.get(f"/executions/{execution_id}")).status_code == 200
    listing = await client.get("/workflows/w/executions")
    assert listing.status_code == 200
    assert [e["executionId"] for e in listing.json()["items"]] == [execution_id]


async def test_cancel_returns_the_cancelled_execution_and_frees_the_workflow(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=manual_workflow("w"))
    execution_id = (await client.post("/workflows/w/trigger")).json()["executionId"]

    response = await client.post(f"/executions/{execution_id}/cancel")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "cancelled"
    assert body["finishedAt"] is not None
    assert body["actions"][0]["status"] == "skipped"
    trigger = (await client.get("/workflows/w")).json()["trigger"]
    assert (trigger["status"], trigger["executionId"]) == ("idle", None)
    assert (await client.post("/workflows/w/trigger")).status_code == 202


async def test_cancel_leaves_a_lock_held_by_another_execution(
    make_client: ClientFactory, workflows: InMemoryWorkflowRepository, clock: FakeClock
) -> None:
    async with make_client() as client:
        await client.post("/workflows", json=manual_workflow("w"))
        old = (await client.post("/workflows/w/trigger")).json()["executionId"]
        # The old execution's lock was taken over (as after a repair), and a new execution holds it now.
        await workflows.release_trigger_lock("w", execution_id=old)
        await workflows.try_acquire_trigger_lock("w", execution_id="newer", now=clock.now())

        response = await client.post(f"/executions/{old}/cancel")

    assert response.status_code == 200
    trigger = (await workflows.get("w")).trigger
    assert (trigger.status.value, trigger.execution_id) == ("busy", "newer")


async def test_cancelling_a_finished_execution_is_409(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=manual_workflow("w"))
    execution_id = (await client.post("/workflows/w/trigger")).json()["executionId"]
    await client.post(f"/executions/{execution_id}/cancel")

    response = await client.post(f"/executions/{execution_id}/cancel")

    body = assert_problem(response, 409)
    assert body["executionStatus"] == "cancelled"


async def test_cancelling_an_unknown_execution_is_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post("/executions/nope/cancel"), 404)
