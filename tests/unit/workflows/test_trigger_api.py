"""POST /workflows/{id}/trigger: one execution per accepted trigger, the lock, idempotency keys."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from tests.unit.fakes import RecordingPublisher
from tests.unit.workflows.conftest import ClientFactory, assert_problem
from tests.unit.workflows.fakes import SEED, manual_workflow

from wfa.adapters.memory import InMemoryExecutionRepository, InMemoryWorkflowRepository
from wfa.domain.clock import FakeClock
from wfa.ports.repositories import ExecutionFilter


async def test_trigger_queues_an_execution_and_publishes_its_request(
    client: httpx.AsyncClient, publisher: RecordingPublisher
) -> None:
    await client.post("/workflows", json=manual_workflow("w"))

    response = await client.post("/workflows/w/trigger", json={"input": {"release": "42"}})

    assert response.status_code == 202
    body = response.json()
    assert body == {"executionId": body["executionId"], "workflowId": "w", "status": "queued"}
    assert response.headers["location"] == f"/executions/{body['executionId']}"
    assert [r.execution_id for r in publisher.sent] == [body["executionId"]]
    execution = (await client.get(response.headers["location"])).json()
    assert execution["input"] == {"release": "42"}
    assert execution["reason"] == "manual"


async def test_trigger_without_a_body_uses_empty_input(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=manual_workflow("w"))

    response = await client.post("/workflows/w/trigger")

    assert response.status_code == 202
    assert (await client.get(response.headers["location"])).json()["input"] == {}


async def test_a_scheduled_workflow_may_be_triggered_manually(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=SEED)

    response = await client.post("/workflows/recurrent-workflow/trigger", json={})

    assert response.status_code == 202


async def test_trigger_of_an_unknown_workflow_is_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post("/workflows/nope/trigger"), 404)


async def test_trigger_while_busy_is_409_naming_the_holder(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=manual_workflow("w"))
    first = (await client.post("/workflows/w/trigger")).json()

    response = await client.post("/workflows/w/trigger")

    body = assert_problem(response, 409)
    assert body["triggerStatus"] == "busy"
    assert body["executionId"] == first["executionId"]
    assert body["reason"] == "busy"


async def test_trigger_of_a_paused_workflow_is_409_paused(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=manual_workflow("w"))
    await client.post("/workflows/w/pause")

    response = await client.post("/workflows/w/trigger")

    body = assert_problem(response, 409)
    assert body["reason"] == "paused"
    assert body["triggerStatus"] == "idle"
    assert body["executionId"] is None


async def test_of_twenty_concurrent_triggers_exactly_one_wins(
    make_client: ClientFactory,
    workflows: InMemoryWorkflowRepository,
    executions: InMemoryExecutionRepository,
) -> None:
    async with make_client(workflows_repo=workflows, executions_repo=executions) as client:
        await client.post("/workflows", json=manual_workflow("w"))

        responses = await asyncio.gather(*(client.post("/workflows/w/trigger") for _ in range(20)))

    accepted = [r for r in responses if r.status_code == 202]
    refused = [r for r in responses if r.status_code == 409]
    assert len(accepted) == 1
    assert len(refused) == 19
    winner = accepted[0].json()["executionId"]
    for response in refused:
        body = assert_problem(response, 409)
        assert (body["triggerStatus"], body["executionId"], body["reason"]) == ("busy", winner, "busy")
    page = await executions.newest_first(ExecutionFilter(workflow_id="w"), limit=50, cursor=None)
    assert [e.execution_id for e in page.items] == [winner]


async def test_trigger_is_accepted_while_kafka_is_down(
    client: httpx.AsyncClient, publisher: RecordingPublisher
) -> None:
    await client.post("/workflows", json=manual_workflow("w"))
    publisher.down = True

    response = await client.post("/workflows/w/trigger")

    assert response.status_code == 202
    assert (await client.get(response.headers["location"])).json()["status"] == "queued"


# -- Idempotency-Key -----------------------------------------------------------------------------------------


async def test_a_repeated_key_returns_the_first_execution_with_200(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=manual_workflow("w"))
    first = await client.post("/workflows/w/trigger", headers={"Idempotency-Key": "deploy-42"})

    again = await client.post("/workflows/w/trigger", headers={"Idempotency-Key": "deploy-42"})

    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]


async def test_a_repeated_key_reports_the_current_status(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=manual_workflow("w"))
    first = (await client.post("/workflows/w/trigger", headers={"Idempotency-Key": "k"})).json()
    await client.post(f"/executions/{first['executionId']}/cancel")

    again = await client.post("/workflows/w/trigger", headers={"Idempotency-Key": "k"})

    assert again.status_code == 200
    assert again.json() == {**first, "status": "cancelled"}


async def test_the_same_key_on_another_workflow_is_independent(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=manual_workflow("a"))
    await client.post("/workflows", json=manual_workflow("b"))

    on_a = await client.post("/workflows/a/trigger", headers={"Idempotency-Key": "same"})
    on_b = await client.post("/workflows/b/trigger", headers={"Idempotency-Key": "same"})

    assert (on_a.status_code, on_b.status_code) == (202, 202)
    assert on_a.json()["executionId"] != on_b.json()["executionId"]


async def test_a_key_is_forgotten_after_24_hours(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await client.post("/workflows", json=manual_workflow("w"))
    first = (await client.post("/workflows/w/trigger", headers={"Idempotency-Key": "k"})).json()
    await client.post(f"/executions/{first['executionId']}/cancel")
    clock.advance(timedelta(hours=24, seconds=1))

    again = await client.post("/workflows/w/trigger", headers={"Idempotency-Key": "k"})

    assert again.status_code == 202
    assert again.json()["executionId"] != first["executionId"]


async def test_concurrent_triggers_with_one_key_all_get_the_one_execution(
    make_client: ClientFactory,
    workflows: InMemoryWorkflowRepository,
    executions: InMemoryExecutionRepository,
) -> None:
    async with make_client(workflows_repo=workflows, executions_repo=executions) as client:
        await client.post("/workflows", json=manual_workflow("w"))

        responses = await asyncio.gather(
            *(client.post("/workflows/w/trigger", headers={"Idempotency-Key": "once"}) for _ in range(5))
        )

    assert sorted(r.status_code for r in responses) == [200, 200, 200, 200, 202]
    assert len({r.json()["executionId"] for r in responses}) == 1
