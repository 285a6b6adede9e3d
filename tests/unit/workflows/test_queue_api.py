"""`concurrency.whenBusy: queue` on the API (docs/concurrency.md): a trigger on a full lock is accepted (202) and its
execution waits, `queued` with `waiting: true`, its request unsent; executions start in the order they were accepted
as slots free; beyond `queueMax` a trigger is 409 `queue_full`."""

from __future__ import annotations

import asyncio

import httpx
from tests.unit.fakes import RecordingPublisher
from tests.unit.workflows.conftest import ClientFactory, assert_problem
from tests.unit.workflows.fakes import manual_workflow

from wfa.adapters.memory import InMemoryExecutionRepository, InMemoryWorkflowRepository


def queue(limit: int = 1, queue_max: int = 100) -> dict[str, object]:
    return {"limit": limit, "whenBusy": "queue", "queueMax": queue_max}


async def _trigger(client: httpx.AsyncClient, **kwargs: object) -> httpx.Response:
    return await client.post("/workflows/w/trigger", **kwargs)  # type: ignore[arg-type]


async def test_a_trigger_on_a_full_lock_waits_and_starts_when_the_holder_ends(
    client: httpx.AsyncClient, publisher: RecordingPublisher
) -> None:
    created = await client.post("/workflows", json=manual_workflow("w", concurrency=queue()))
    first = await _trigger(client)
    second = await _trigger(client)
    waiting = (await client.get("/workflows/w")).json()["trigger"]
    sent_while_waiting = [r.execution_id for r in publisher.sent]
    was_waiting = (await client.get(f"/executions/{second.json()['executionId']}")).json()

    await client.post(f"/executions/{first.json()['executionId']}/cancel")
    started = (await client.get(f"/executions/{second.json()['executionId']}")).json()
    after = (await client.get("/workflows/w")).json()["trigger"]

    assert created.json()["concurrency"] == {"limit": 1, "whenBusy": "queue", "queueMax": 100}
    assert (first.status_code, second.status_code) == (202, 202)
    assert second.json() == {"executionId": second.json()["executionId"], "workflowId": "w", "status": "queued"}
    assert (waiting["running"], waiting["queued"], waiting["waiting"]) == (1, 1, [second.json()["executionId"]])
    assert sent_while_waiting == [first.json()["executionId"]]
    assert (was_waiting["status"], was_waiting["waiting"]) == ("queued", True)
    assert (started["status"], started["waiting"]) == ("queued", False)
    assert (after["executionId"], after["queued"], after["waiting"]) == (second.json()["executionId"], 0, [])
    assert [r.execution_id for r in publisher.sent][-1] == second.json()["executionId"]


async def test_beyond_queue_max_a_trigger_is_409_queue_full_and_starts_nothing(
    client: httpx.AsyncClient, executions: InMemoryExecutionRepository
) -> None:
    await client.post("/workflows", json=manual_workflow("w", concurrency=queue(queue_max=2)))
    accepted = [await _trigger(client) for _ in range(3)]

    refused = await _trigger(client)

    assert [r.status_code for r in accepted] == [202, 202, 202]
    body = assert_problem(refused, 409)
    assert (body["reason"], body["executionId"]) == ("queue_full", accepted[0].json()["executionId"])
    assert "2 executions already wait" in body["detail"]
    assert (await client.get("/workflows/w")).json()["trigger"]["queued"] == 2
    assert len((await client.get("/workflows/w/executions")).json()["items"]) == 3


async def test_of_twenty_concurrent_triggers_on_limit_two_each_starts_in_the_order_it_was_accepted(
    make_client: ClientFactory,
    workflows: InMemoryWorkflowRepository,
    executions: InMemoryExecutionRepository,
    publisher: RecordingPublisher,
) -> None:
    async with make_client(workflows_repo=workflows, executions_repo=executions) as client:
        await client.post("/workflows", json=manual_workflow("w", concurrency=queue(limit=2, queue_max=15)))

        responses = await asyncio.gather(*(_trigger(client) for _ in range(20)))
        trigger = (await client.get("/workflows/w")).json()["trigger"]
        order = trigger["waiting"]
        started: list[str] = []
        while True:
            trigger = (await client.get("/workflows/w")).json()["trigger"]
            assert trigger["running"] <= 2
            holders = [h for h in [trigger["executionId"], *trigger["holders"]] if h]
            if not holders:
                break
            oldest = min(holders, key=lambda h: [r.execution_id for r in publisher.sent].index(h))
            await client.post(f"/executions/{oldest}/cancel")
            started += [h for h in holders if h in order and h not in started]

    codes = sorted(r.status_code for r in responses)
    assert codes == [202] * 17 + [409] * 3
    assert {assert_problem(r, 409)["reason"] for r in responses if r.status_code == 409} == {"queue_full"}
    assert len(order) == 15
    assert started == order  # first accepted, first started
    assert [r.execution_id for r in publisher.sent][2:] == order  # each request sent once, in that order


async def test_a_waiting_execution_can_be_cancelled_and_leaves_the_queue(
    client: httpx.AsyncClient, publisher: RecordingPublisher
) -> None:
    await client.post("/workflows", json=manual_workflow("w", concurrency=queue()))
    await _trigger(client)
    waiting = (await _trigger(client)).json()["executionId"]
    behind = (await _trigger(client)).json()["executionId"]

    cancelled = await client.post(f"/executions/{waiting}/cancel")

    assert (cancelled.status_code, cancelled.json()["status"], cancelled.json()["waiting"]) == (200, "cancelled", False)
    trigger = (await client.get("/workflows/w")).json()["trigger"]
    assert (trigger["waiting"], trigger["running"]) == ([behind], 1)
    assert waiting not in [r.execution_id for r in publisher.sent]


async def test_a_paused_workflow_keeps_its_queue_and_starts_it_on_resume(
    client: httpx.AsyncClient, publisher: RecordingPublisher
) -> None:
    await client.post("/workflows", json=manual_workflow("w", concurrency=queue()))
    first = (await _trigger(client)).json()["executionId"]
    waiting = (await _trigger(client)).json()["executionId"]
    await client.post("/workflows/w/pause")

    await client.post(f"/executions/{first}/cancel")
    while_paused = (await client.get("/workflows/w")).json()["trigger"]
    refused = await _trigger(client)
    resumed = await client.post("/workflows/w/resume")

    assert (while_paused["running"], while_paused["waiting"]) == (0, [waiting])
    assert assert_problem(refused, 409)["reason"] == "paused"
    assert (resumed.json()["trigger"]["executionId"], resumed.json()["trigger"]["queued"]) == (waiting, 0)
    assert publisher.sent[-1].execution_id == waiting


async def test_deleting_a_workflow_cancels_its_waiting_executions(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=manual_workflow("w", concurrency=queue()))
    running = (await _trigger(client)).json()["executionId"]
    waiting = (await _trigger(client)).json()["executionId"]

    await client.delete("/workflows/w")

    assert (await client.get(f"/executions/{waiting}")).json()["status"] == "cancelled"
    assert (await client.get(f"/executions/{running}")).json()["status"] == "queued"


async def test_an_idempotency_key_returns_the_waiting_execution(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=manual_workflow("w", concurrency=queue()))
    await _trigger(client)
    first = await _trigger(client, headers={"Idempotency-Key": "k"})

    again = await _trigger(client, headers={"Idempotency-Key": "k"})

    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["executionId"] == first.json()["executionId"]
    assert (await client.get("/workflows/w")).json()["trigger"]["queued"] == 1


async def test_concurrent_requests_with_one_key_leave_one_execution_waiting(
    make_client: ClientFactory,
    workflows: InMemoryWorkflowRepository,
    executions: InMemoryExecutionRepository,
) -> None:
    async with make_client(workflows_repo=workflows, executions_repo=executions) as client:
        await client.post("/workflows", json=manual_workflow("w", concurrency=queue()))
        await _trigger(client)

        responses = await asyncio.gather(*(_trigger(client, headers={"Idempotency-Key": "k"}) for _ in range(5)))
        trigger = (await client.get("/workflows/w")).json()["trigger"]

    ids = {r.json()["executionId"] for r in responses}
    assert len(ids) == 1
    assert trigger["waiting"] == list(ids)


async def test_the_queue_is_refused_for_an_invalid_queue_max(client: httpx.AsyncClient) -> None:
    response = await client.post("/workflows", json=manual_workflow("w", concurrency=queue(queue_max=1001)))

    body = assert_problem(response, 422)
    assert "queueMax" in str(body["errors"])
