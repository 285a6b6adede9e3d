"""`concurrency` on the API: limit k lets k executions run at once, the (k+1)th trigger is 409 `busy`; the resource
counts them in `trigger.running`; invalid limits and modes are 422. `whenBusy: queue` is in test_queue_api.py."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from tests.unit.workflows.conftest import ClientFactory, assert_problem
from tests.unit.workflows.fakes import manual_workflow

from wfa.adapters.memory import InMemoryExecutionRepository, InMemoryWorkflowRepository
from wfa.ports.repositories import ExecutionFilter


async def test_concurrency_defaults_to_v1s_lock(client: httpx.AsyncClient) -> None:
    response = await client.post("/workflows", json=manual_workflow("w"))

    assert response.json()["concurrency"] == {"limit": 1, "whenBusy": "skip", "queueMax": 100}
    assert (response.json()["trigger"]["running"], response.json()["trigger"]["queued"]) == (0, 0)


async def test_of_ten_concurrent_triggers_on_limit_three_exactly_three_win(
    make_client: ClientFactory,
    workflows: InMemoryWorkflowRepository,
    executions: InMemoryExecutionRepository,
) -> None:
    async with make_client(workflows_repo=workflows, executions_repo=executions) as client:
        await client.post("/workflows", json=manual_workflow("w", concurrency={"limit": 3}))

        responses = await asyncio.gather(*(client.post("/workflows/w/trigger") for _ in range(10)))
        resource = (await client.get("/workflows/w")).json()

    accepted = sorted(r.json()["executionId"] for r in responses if r.status_code == 202)
    refused = [assert_problem(r, 409) for r in responses if r.status_code != 202]
    assert (len(accepted), len(refused)) == (3, 7)
    assert {body["reason"] for body in refused} == {"busy"}
    assert (resource["trigger"]["running"], resource["trigger"]["status"]) == (3, "busy")
    assert sorted([resource["trigger"]["executionId"], *resource["trigger"]["holders"]]) == accepted
    page = await executions.newest_first(ExecutionFilter(workflow_id="w"), limit=50, cursor=None)
    assert sorted(e.execution_id for e in page.items) == accepted


async def test_a_finished_holder_frees_its_slot_for_the_next_trigger(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=manual_workflow("w", concurrency={"limit": 2}))
    first = (await client.post("/workflows/w/trigger")).json()["executionId"]
    second = (await client.post("/workflows/w/trigger")).json()["executionId"]
    assert_problem(await client.post("/workflows/w/trigger"), 409)

    cancelled = await client.post(f"/executions/{second}/cancel")
    third = await client.post("/workflows/w/trigger")

    assert cancelled.status_code == 200
    assert third.status_code == 202
    trigger = (await client.get("/workflows/w")).json()["trigger"]
    assert (trigger["executionId"], trigger["holders"], trigger["running"]) == (
        first,
        [third.json()["executionId"]],
        2,
    )


@pytest.mark.parametrize(
    "concurrency",
    [{"limit": 0}, {"limit": 101}, {"limit": "two"}, {"whenBusy": "later"}, {"queueMax": 0}, {"other": 1}],
)
async def test_an_invalid_concurrency_is_422(client: httpx.AsyncClient, concurrency: dict[str, object]) -> None:
    response = await client.post("/workflows", json=manual_workflow("w", concurrency=concurrency))

    body = assert_problem(response, 422)
    assert body["errors"][0]["loc"][:2] == ["body", "concurrency"] or body["errors"][0]["loc"][0] == "concurrency"


async def test_cancel_running_cancels_the_holder_and_starts_the_trigger(client: httpx.AsyncClient) -> None:
    created = await client.post("/workflows", json=manual_workflow("w", concurrency={"whenBusy": "cancelRunning"}))
    first = (await client.post("/workflows/w/trigger")).json()["executionId"]

    second = await client.post("/workflows/w/trigger")

    assert created.json()["concurrency"]["whenBusy"] == "cancelRunning"
    assert second.status_code == 202, second.text
    assert (await client.get(f"/executions/{first}")).json()["status"] == "cancelled"
    trigger = (await client.get("/workflows/w")).json()["trigger"]
    assert (trigger["executionId"], trigger["running"]) == (second.json()["executionId"], 1)


async def test_cancel_running_on_a_paused_workflow_is_409_paused(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=manual_workflow("w", concurrency={"whenBusy": "cancelRunning"}))
    first = (await client.post("/workflows/w/trigger")).json()["executionId"]
    await client.post("/workflows/w/pause")

    refused = await client.post("/workflows/w/trigger")

    assert assert_problem(refused, 409)["reason"] == "paused"
    assert (await client.get(f"/executions/{first}")).json()["status"] == "queued"


async def test_put_may_raise_the_limit_and_ignores_the_counts_as_get_returned_them(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=manual_workflow("w"))
    await client.post("/workflows/w/trigger")
    resource = (await client.get("/workflows/w")).json()

    resource["concurrency"]["limit"] = 2
    updated = await client.put("/workflows/w", json=resource)
    second = await client.post("/workflows/w/trigger")

    assert updated.status_code == 200, updated.text
    assert second.status_code == 202
    assert (await client.get("/workflows/w")).json()["trigger"]["running"] == 2


async def test_force_unlock_cancels_every_live_holder_of_a_limit(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=manual_workflow("w", concurrency={"limit": 2}))
    held = [(await client.post("/workflows/w/trigger")).json()["executionId"] for _ in range(2)]

    refused = await client.post("/workflows/w/unlock")
    forced = await client.post("/workflows/w/unlock?force=true")

    assert_problem(refused, 409)
    assert forced.status_code == 200, forced.text
    assert (forced.json()["trigger"]["running"], forced.json()["trigger"]["holders"]) == (0, [])
    statuses = [(await client.get(f"/executions/{execution_id}")).json()["status"] for execution_id in held]
    assert statuses == ["cancelled", "cancelled"]
