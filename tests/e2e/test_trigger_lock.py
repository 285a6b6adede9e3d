"""The trigger lock over the real API: one winner among concurrent triggers, paused workflows refuse triggers,
and cancelling an execution releases the lock at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from tests.e2e.helpers import (
    assert_problem,
    create_manual_workflow,
    get_json,
    http_action,
    log_action,
    trigger,
    wait_for_execution,
    wait_for_requests,
)
from tests.e2e.target import TargetServer

pytestmark = pytest.mark.e2e

CONCURRENT_TRIGGERS = 20


@dataclass(frozen=True)
class HeldWorkflow:
    """A workflow whose first action waits on the target server until the test releases it."""

    workflow_id: str
    path: str


@pytest.fixture
async def held_workflow(api: httpx.AsyncClient, target: TargetServer) -> AsyncIterator[HeldWorkflow]:
    path = target.path("held")
    target.hold(path)
    workflow_id = await create_manual_workflow(
        api,
        "held",
        http_action(target.url(path), timeout="60s"),
        log_action("after the held request"),
        retry={"maxAttempts": 1},
    )
    try:
        yield HeldWorkflow(workflow_id, path)
    finally:
        target.release(path)


async def test_of_concurrent_triggers_exactly_one_is_accepted_and_the_rest_get_409(
    api: httpx.AsyncClient, held_workflow: HeldWorkflow
) -> None:
    url = f"/workflows/{held_workflow.workflow_id}/trigger"

    responses = await asyncio.gather(*(api.post(url) for _ in range(CONCURRENT_TRIGGERS)))

    accepted = [response for response in responses if response.status_code == 202]
    refused = [response for response in responses if response.status_code != 202]
    assert len(accepted) == 1, [(r.status_code, r.text) for r in responses]
    winner = accepted[0].json()["executionId"]
    assert len(refused) == CONCURRENT_TRIGGERS - 1
    for response in refused:
        problem = assert_problem(response, 409)
        assert (problem["triggerStatus"], problem["executionId"], problem["reason"]) == ("busy", winner, "busy")


async def test_concurrent_triggers_create_a_single_execution(
    api: httpx.AsyncClient, held_workflow: HeldWorkflow
) -> None:
    url = f"/workflows/{held_workflow.workflow_id}/trigger"
    await asyncio.gather(*(api.post(url) for _ in range(CONCURRENT_TRIGGERS)))

    page = await get_json(api, f"/workflows/{held_workflow.workflow_id}/executions")

    assert len(page["items"]) == 1, page


async def test_paused_workflow_refuses_a_trigger_with_reason_paused(api: httpx.AsyncClient) -> None:
    workflow_id = await create_manual_workflow(api, "paused", log_action("hello"))
    paused = await api.post(f"/workflows/{workflow_id}/pause")

    response = await api.post(f"/workflows/{workflow_id}/trigger")

    assert (paused.status_code, paused.json()["enabled"]) == (200, False)
    problem = assert_problem(response, 409)
    assert (problem["reason"], problem["triggerStatus"], problem["executionId"]) == ("paused", "idle", None)


async def test_resumed_workflow_accepts_a_trigger_again(api: httpx.AsyncClient) -> None:
    workflow_id = await create_manual_workflow(api, "resumed", log_action("hello"))
    await api.post(f"/workflows/{workflow_id}/pause")
    resumed = await api.post(f"/workflows/{workflow_id}/resume")

    execution_id = await trigger(api, workflow_id)

    assert (resumed.status_code, resumed.json()["enabled"]) == (200, True)
    assert (await wait_for_execution(api, execution_id))["status"] == "succeeded"


async def test_cancelling_a_running_execution_releases_the_lock_and_skips_what_did_not_run(
    api: httpx.AsyncClient, target: TargetServer, held_workflow: HeldWorkflow
) -> None:
    execution_id = await trigger(api, held_workflow.workflow_id)
    await wait_for_execution(api, execution_id, frozenset({"running"}))
    await wait_for_requests(target, held_workflow.path, 1)

    cancelled = await api.post(f"/executions/{execution_id}/cancel")
    workflow = await get_json(api, f"/workflows/{held_workflow.workflow_id}")

    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["actions"][1]["status"] == "skipped"
    assert (workflow["trigger"]["status"], workflow["trigger"]["executionId"]) == ("idle", None)


async def test_a_cancelled_execution_can_be_followed_by_a_new_trigger_at_once(
    api: httpx.AsyncClient, target: TargetServer, held_workflow: HeldWorkflow
) -> None:
    first = await trigger(api, held_workflow.workflow_id)
    await wait_for_execution(api, first, frozenset({"running"}))
    await api.post(f"/executions/{first}/cancel")

    second = await api.post(f"/workflows/{held_workflow.workflow_id}/trigger")
    target.release(held_workflow.path)

    assert second.status_code == 202, second.text
    assert (await wait_for_execution(api, second.json()["executionId"]))["status"] == "succeeded"
    assert (await get_json(api, f"/executions/{first}"))["status"] == "cancelled"


async def test_cancelling_a_finished_execution_is_a_409(api: httpx.AsyncClient) -> None:
    workflow_id = await create_manual_workflow(api, "finished", log_action("quick"))
    execution_id = await trigger(api, workflow_id)
    await wait_for_execution(api, execution_id)

    response = await api.post(f"/executions/{execution_id}/cancel")

    assert_problem(response, 409)
