"""POST /executions/{id}/retry: 202 like a trigger, 404, 409 (not failed or cancelled, locked, workflow deleted),
Idempotency-Key as on a trigger."""

from __future__ import annotations

from typing import Any

import httpx
from tests.unit.fakes import RecordingPublisher, fail_as_the_runner_would
from tests.unit.workflows.conftest import assert_problem
from tests.unit.workflows.fakes import manual_workflow

from wfa.adapters.memory import InMemoryExecutionRepository, InMemoryWorkflowRepository
from wfa.domain.clock import FakeClock

THREE_ACTIONS = [{"type": "log", "message": m} for m in ("one", "two", "three")]


async def _failed_execution(
    client: httpx.AsyncClient,
    workflows: InMemoryWorkflowRepository,
    executions: InMemoryExecutionRepository,
    clock: FakeClock,
) -> dict[str, Any]:
    """A workflow `w` of three actions whose execution failed at action-2 (action-1 succeeded); as served."""
    await client.post("/workflows", json=manual_workflow("w", actions=THREE_ACTIONS))
    execution_id = (await client.post("/workflows/w/trigger", json={"input": {"k": 1}})).json()["executionId"]
    await fail_as_the_runner_would(workflows, executions, execution_id, succeeded=1, now=clock.now())
    execution: dict[str, Any] = (await client.get(f"/executions/{execution_id}")).json()
    assert execution["status"] == "failed"
    return execution


async def test_retry_of_a_failed_execution_is_accepted_like_a_trigger(
    client: httpx.AsyncClient,
    workflows: InMemoryWorkflowRepository,
    executions: InMemoryExecutionRepository,
    clock: FakeClock,
    publisher: RecordingPublisher,
) -> None:
    original = await _failed_execution(client, workflows, executions, clock)

    response = await client.post(f"/executions/{original['executionId']}/retry")

    assert response.status_code == 202, response.text
    body = response.json()
    assert body == {"executionId": body["executionId"], "workflowId": "w", "status": "queued"}
    assert body["executionId"] != original["executionId"]
    assert response.headers["Location"] == f"/executions/{body['executionId']}"
    assert publisher.sent[-1].execution_id == body["executionId"]


async def test_the_retry_resumes_after_the_succeeded_actions(
    client: httpx.AsyncClient,
    workflows: InMemoryWorkflowRepository,
    executions: InMemoryExecutionRepository,
    clock: FakeClock,
) -> None:
    original = await _failed_execution(client, workflows, executions, clock)
    accepted = (await client.post(f"/executions/{original['executionId']}/retry")).json()

    retry = (await client.get(f"/executions/{accepted['executionId']}")).json()

    assert (retry["reason"], retry["retryOf"], retry["scheduledFor"]) == ("retry", original["executionId"], None)
    assert (retry["attempt"], retry["input"], retry["workflowVersion"]) == (1, {"k": 1}, original["workflowVersion"])
    assert retry["actions"][0] == original["actions"][0]
    assert [(a["status"], a["attempts"], a["output"]) for a in retry["actions"][1:]] == [("not_started", 0, None)] * 2
    assert original["retryOf"] is None


async def test_retry_of_a_cancelled_execution_is_accepted(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=manual_workflow("w"))
    execution_id = (await client.post("/workflows/w/trigger")).json()["executionId"]
    await client.post(f"/executions/{execution_id}/cancel")

    response = await client.post(f"/executions/{execution_id}/retry")

    assert response.status_code == 202, response.text


async def test_retry_of_an_unknown_execution_is_404(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.post("/executions/nope/retry"), 404)

    assert "nope" in body["detail"]


async def test_retry_of_an_execution_still_going_is_409_with_its_status(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=manual_workflow("w"))
    execution_id = (await client.post("/workflows/w/trigger")).json()["executionId"]

    body = assert_problem(await client.post(f"/executions/{execution_id}/retry"), 409)

    assert body["executionStatus"] == "queued"
    assert body["type"] == "urn:wfa:problem:execution-not-retryable"
    assert "only a failed or cancelled execution" in body["detail"]


async def test_retry_while_the_workflow_is_busy_is_409_like_a_trigger(
    client: httpx.AsyncClient,
    workflows: InMemoryWorkflowRepository,
    executions: InMemoryExecutionRepository,
    clock: FakeClock,
) -> None:
    original = await _failed_execution(client, workflows, executions, clock)
    holder = (await client.post("/workflows/w/trigger")).json()["executionId"]

    body = assert_problem(await client.post(f"/executions/{original['executionId']}/retry"), 409)

    assert (body["triggerStatus"], body["executionId"], body["reason"]) == ("busy", holder, "busy")


async def test_retry_while_the_workflow_is_paused_is_409_like_a_trigger(
    client: httpx.AsyncClient,
    workflows: InMemoryWorkflowRepository,
    executions: InMemoryExecutionRepository,
    clock: FakeClock,
) -> None:
    original = await _failed_execution(client, workflows, executions, clock)
    await client.post("/workflows/w/pause")

    body = assert_problem(await client.post(f"/executions/{original['executionId']}/retry"), 409)

    assert body["reason"] == "paused"


async def test_retry_after_the_workflow_was_deleted_is_409_deleted(
    client: httpx.AsyncClient,
    workflows: InMemoryWorkflowRepository,
    executions: InMemoryExecutionRepository,
    clock: FakeClock,
) -> None:
    original = await _failed_execution(client, workflows, executions, clock)
    await client.delete("/workflows/w")

    body = assert_problem(await client.post(f"/executions/{original['executionId']}/retry"), 409)

    assert (body["reason"], body["workflowId"]) == ("deleted", "w")
    assert body["type"] == "urn:wfa:problem:workflow-deleted"


async def test_a_repeated_idempotency_key_returns_the_first_retry_with_200(
    client: httpx.AsyncClient,
    workflows: InMemoryWorkflowRepository,
    executions: InMemoryExecutionRepository,
    clock: FakeClock,
    publisher: RecordingPublisher,
) -> None:
    original = await _failed_execution(client, workflows, executions, clock)
    url = f"/executions/{original['executionId']}/retry"
    first = await client.post(url, headers={"Idempotency-Key": "k-1"})

    again = await client.post(url, headers={"Idempotency-Key": "k-1"})

    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"]
    assert len(publisher.sent) == 2  # the trigger and one retry


async def test_an_invalid_idempotency_key_is_422(
    client: httpx.AsyncClient,
    workflows: InMemoryWorkflowRepository,
    executions: InMemoryExecutionRepository,
    clock: FakeClock,
) -> None:
    original = await _failed_execution(client, workflows, executions, clock)

    response = await client.post(f"/executions/{original['executionId']}/retry", headers={"Idempotency-Key": "a b"})

    assert_problem(response, 422)


async def test_the_retry_of_a_retry_points_at_its_immediate_original(
    client: httpx.AsyncClient,
    workflows: InMemoryWorkflowRepository,
    executions: InMemoryExecutionRepository,
    clock: FakeClock,
) -> None:
    original = await _failed_execution(client, workflows, executions, clock)
    first = (await client.post(f"/executions/{original['executionId']}/retry")).json()["executionId"]
    await client.post(f"/executions/{first}/cancel")

    second = (await client.post(f"/executions/{first}/retry")).json()["executionId"]

    assert (await client.get(f"/executions/{second}")).json()["retryOf"] == first
