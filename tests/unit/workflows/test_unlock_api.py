"""POST /workflows/{id}/unlock, and pausedReason / pauseAfterFailures on the workflow resource."""

from __future__ import annotations

import httpx
from tests.unit.fakes import RecordingPublisher, fail_as_the_runner_would
from tests.unit.workflows.conftest import ClientFactory, assert_problem
from tests.unit.workflows.fakes import manual_workflow

from wfa.adapters.memory import InMemoryExecutionRepository, InMemoryWorkflowRepository
from wfa.domain.clock import FakeClock
from wfa.events import WorkflowEvent, WorkflowEventType

KEYS = ["ops:ops-secret", "reader:reader-secret:ro"]
OPS = {"Authorization": "Bearer ops-secret"}


def unlocks(publisher: RecordingPublisher) -> list[WorkflowEvent]:
    return [
        e for e in publisher.events if isinstance(e, WorkflowEvent) and e.type is WorkflowEventType.WORKFLOW_UNLOCKED
    ]


async def test_unlocking_an_idle_workflow_changes_nothing_and_tells_nobody(
    client: httpx.AsyncClient, publisher: RecordingPublisher
) -> None:
    await client.post("/workflows", json=manual_workflow("w"))

    response = await client.post("/workflows/w/unlock")

    assert response.status_code == 200
    assert (response.json()["trigger"]["status"], response.json()["trigger"]["executionId"]) == ("idle", None)
    assert unlocks(publisher) == []


async def test_a_lock_held_by_a_live_execution_is_409_naming_it(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=manual_workflow("w"))
    execution_id = (await client.post("/workflows/w/trigger")).json()["executionId"]

    response = await client.post("/workflows/w/unlock")

    body = assert_problem(response, 409)
    assert (body["executionId"], body["executionStatus"]) == (execution_id, "queued")
    assert (await client.get("/workflows/w")).json()["trigger"]["executionId"] == execution_id


async def test_force_cancels_the_live_holder_then_releases_and_tells_who_asked(
    make_client: ClientFactory, publisher: RecordingPublisher
) -> None:
    async with make_client(api_keys=KEYS) as client:
        await client.post("/workflows", json=manual_workflow("w"), headers=OPS)
        execution_id = (await client.post("/workflows/w/trigger", headers=OPS)).json()["executionId"]

        response = await client.post("/workflows/w/unlock?force=true", headers=OPS)

        assert response.status_code == 200, response.text
        assert response.json()["trigger"]["status"] == "idle"
        assert (await client.get(f"/executions/{execution_id}", headers=OPS)).json()["status"] == "cancelled"
        assert (await client.post("/workflows/w/trigger", headers=OPS)).status_code == 202
    [event] = unlocks(publisher)
    assert (event.workflow_id, event.execution_id, event.reason, event.unlocked_by, event.holder_status) == (
        "w",
        execution_id,
        "forced",
        "ops",
        "queued",
    )


async def test_a_lock_whose_holder_is_missing_is_released(
    client: httpx.AsyncClient, workflows: InMemoryWorkflowRepository, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    await client.post("/workflows", json=manual_workflow("w"))
    await workflows.try_acquire_trigger_lock("w", execution_id="ghost", now=clock.now())

    response = await client.post("/workflows/w/unlock")

    assert response.status_code == 200
    assert response.json()["trigger"]["status"] == "idle"
    [event] = unlocks(publisher)
    assert (event.execution_id, event.reason, event.unlocked_by, event.holder_status) == (
        "ghost",
        "holder_missing",
        None,
        None,
    )


async def test_a_lock_whose_holder_finished_is_released(
    client: httpx.AsyncClient,
    workflows: InMemoryWorkflowRepository,
    executions: InMemoryExecutionRepository,
    clock: FakeClock,
    publisher: RecordingPublisher,
) -> None:
    await client.post("/workflows", json=manual_workflow("w"))
    execution_id = (await client.post("/workflows/w/trigger")).json()["executionId"]
    await fail_as_the_runner_would(workflows, executions, execution_id, succeeded=0, now=clock.now())
    # A holder that finished without releasing: the state a crash between the two writes of an older release left.
    await workflows.try_acquire_trigger_lock("w", execution_id=execution_id, now=clock.now())

    response = await client.post("/workflows/w/unlock")

    assert response.status_code == 200
    assert response.json()["trigger"]["status"] == "idle"
    [event] = unlocks(publisher)
    assert (event.reason, event.holder_status) == ("holder_finished", "failed")


async def test_unlock_is_a_write_read_only_keys_may_not_make(make_client: ClientFactory) -> None:
    async with make_client(api_keys=KEYS) as client:
        await client.post("/workflows", json=manual_workflow("w"), headers=OPS)

        response = await client.post("/workflows/w/unlock", headers={"Authorization": "Bearer reader-secret"})

    assert_problem(response, 403)


async def test_unlocking_an_unknown_workflow_is_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post("/workflows/nope/unlock"), 404)


async def test_force_must_be_a_boolean(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=manual_workflow("w"))

    assert_problem(await client.post("/workflows/w/unlock?force=maybe"), 422)


# -- pausedReason and pauseAfterFailures on the resource --------------------------------------------------------


async def test_the_resource_shows_pause_after_failures_the_count_and_why_it_is_paused(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post(
        "/workflows", json=manual_workflow("w", trigger={"type": "manual", "pauseAfterFailures": 3})
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["trigger"]["pauseAfterFailures"], body["trigger"]["consecutiveFailures"], body["pausedReason"]) == (
        3,
        0,
        None,
    )

    paused = (await client.post("/workflows/w/pause")).json()
    resumed = (await client.post("/workflows/w/resume")).json()

    assert (paused["enabled"], paused["pausedReason"]) == (False, "manual")
    assert (resumed["enabled"], resumed["pausedReason"]) == (True, None)


async def test_pause_after_failures_is_1_to_100(client: httpx.AsyncClient) -> None:
    for wrong in (0, 101, "many"):
        response = await client.post(
            "/workflows", json=manual_workflow("w", trigger={"type": "manual", "pauseAfterFailures": wrong})
        )
        body = assert_problem(response, 422)
        assert body["errors"][0]["loc"][-1] == "pauseAfterFailures"


async def test_a_put_of_the_resource_as_get_returned_it_is_accepted(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=manual_workflow("w", trigger={"type": "manual", "pauseAfterFailures": 2}))
    await client.post("/workflows/w/pause")
    resource = (await client.get("/workflows/w")).json()

    response = await client.put("/workflows/w", json=resource)

    assert response.status_code == 200, response.text
    assert (response.json()["pausedReason"], response.json()["trigger"]["pauseAfterFailures"]) == ("manual", 2)
