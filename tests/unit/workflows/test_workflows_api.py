"""POST/GET/PUT/DELETE /workflows and pause/resume: the resource, its version, its schedule."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from tests.unit.fakes import START
from tests.unit.workflows.conftest import ClientFactory, assert_problem
from tests.unit.workflows.fakes import SEED, RacingUpdates, manual_workflow

from wfa.adapters.memory import InMemoryWorkflowRepository
from wfa.domain.clock import FakeClock


def iso(moment: Any) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def test_seed_payload_is_created_with_every_field_normalised(client: httpx.AsyncClient) -> None:
    response = await client.post("/workflows", json=SEED)

    assert response.status_code == 201
    assert response.headers["location"] == "/workflows/recurrent-workflow"
    assert response.json() == {
        "workflowId": "recurrent-workflow",
        "name": None,
        "description": None,
        "trigger": {
            "type": "periodic",
            "interval": "10s",
            "cron": None,
            "timezone": None,
            "secret": None,
            "pauseAfterFailures": None,
            "status": "idle",
            "executionId": None,
            "lockedAt": None,
            "nextRunAt": iso(START + timedelta(seconds=10)),
            "skippedFires": 0,
            "consecutiveFailures": 0,
            "missedFires": 0,
            "firedFires": 0,
            "catchup": "latest",
            "catchupWindow": "1h",
            "holders": [],
            "waiting": [],
            "running": 0,
            "queued": 0,
        },
        "actions": [
            {
                "name": "action-1",
                "retry": None,
                "when": None,
                "continueOnError": False,
                "compensate": None,
                "type": "http-request",
                "url": "https://example.com",
                "method": "GET",
                "headers": {},
                "body": None,
                "timeout": "10s",
                "expectStatus": None,
            }
        ],
        "retry": {"maxAttempts": 3, "initialInterval": "2s", "backoffRate": 2.0, "maxInterval": "5m"},
        "onFailure": [],
        "labels": {},
        "concurrency": {"limit": 1, "whenBusy": "skip", "queueMax": 100},
        "webhook": None,
        "version": 1,
        "enabled": True,
        "pausedReason": None,
        "createdAt": iso(START),
        "updatedAt": iso(START),
    }


async def test_get_returns_what_post_created(client: httpx.AsyncClient) -> None:
    created = (await client.post("/workflows", json=SEED)).json()

    response = await client.get("/workflows/recurrent-workflow")

    assert response.status_code == 200
    assert response.json() == created


async def test_cron_workflow_gets_utc_timezone_and_next_fire(client: httpx.AsyncClient) -> None:
    body = {**manual_workflow("nightly"), "trigger": {"type": "cron", "cron": "30 2 * * *"}}

    response = await client.post("/workflows", json=body)

    assert response.status_code == 201
    trigger = response.json()["trigger"]
    assert trigger["timezone"] == "UTC"
    assert trigger["nextRunAt"] == "2026-05-02T02:30:00Z"


async def test_manual_workflow_has_no_next_run(client: httpx.AsyncClient) -> None:
    response = await client.post("/workflows", json=manual_workflow("m"))

    assert response.status_code == 201
    assert response.json()["trigger"]["nextRunAt"] is None


async def test_creating_an_existing_id_is_409(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=SEED)

    response = await client.post("/workflows", json=SEED)

    assert_problem(response, 409)


async def test_unknown_workflow_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/workflows/nope")

    body = assert_problem(response, 404)
    assert "nope" in body["detail"]


async def test_list_is_in_workflow_id_order(client: httpx.AsyncClient) -> None:
    for workflow_id in ("b", "c", "a"):
        await client.post("/workflows", json=manual_workflow(workflow_id))

    response = await client.get("/workflows")

    assert response.status_code == 200
    page = response.json()
    assert [item["workflowId"] for item in page["items"]] == ["a", "b", "c"]
    assert page["nextCursor"] is None


async def test_pagination_walks_every_workflow_once(client: httpx.AsyncClient) -> None:
    ids = [f"wf-{n:02d}" for n in range(11)]
    for workflow_id in reversed(ids):
        await client.post("/workflows", json=manual_workflow(workflow_id))

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/workflows", params=params)).json()
        seen += [item["workflowId"] for item in page["items"]]
        pages += 1
        cursor = page["nextCursor"]
        if cursor is None:
            break

    assert seen == ids
    assert pages == 4


async def test_list_limit_out_of_range_is_422(client: httpx.AsyncClient) -> None:
    for limit in (0, 501, "many"):
        response = await client.get("/workflows", params={"limit": limit})

        body = assert_problem(response, 422)
        assert body["errors"][0]["loc"] == ["query", "limit"]


async def test_list_with_a_foreign_cursor_is_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/workflows", params={"cursor": "not-a-cursor!"})

    body = assert_problem(response, 422)
    assert body["errors"][0]["loc"] == ["query", "cursor"]


# -- PUT -----------------------------------------------------------------------------------------------------


async def test_put_of_the_resource_as_get_returned_it_bumps_the_version(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await client.post("/workflows", json=SEED)
    resource = (await client.get("/workflows/recurrent-workflow")).json()
    clock.advance(timedelta(seconds=3))

    response = await client.put("/workflows/recurrent-workflow", json=resource)

    assert response.status_code == 200
    updated = response.json()
    assert updated["version"] == 2
    assert updated["updatedAt"] == iso(START + timedelta(seconds=3))
    assert updated["createdAt"] == resource["createdAt"]
    assert updated["trigger"]["nextRunAt"] == resource["trigger"]["nextRunAt"]  # same trigger: grid kept
    assert {k: v for k, v in updated.items() if k not in ("version", "updatedAt")} == {
        k: v for k, v in resource.items() if k not in ("version", "updatedAt")
    }


async def test_put_with_a_new_trigger_starts_a_new_grid_from_the_update(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await client.post("/workflows", json=SEED)
    clock.advance(timedelta(seconds=7))

    response = await client.put(
        "/workflows/recurrent-workflow", json={**SEED, "trigger": {"type": "periodic", "interval": "1m"}}
    )

    assert response.status_code == 200
    assert response.json()["trigger"]["nextRunAt"] == iso(START + timedelta(seconds=7, minutes=1))


async def test_put_changes_the_definition(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=SEED)
    new_actions = [{"type": "log", "message": "one", "name": "first"}, {"type": "log", "message": "two"}]

    response = await client.put(
        "/workflows/recurrent-workflow", json={**SEED, "name": "renamed", "actions": new_actions}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "renamed"
    assert [a["name"] for a in body["actions"]] == ["first", "action-2"]


async def test_put_leaves_enabled_and_the_lock_alone(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=manual_workflow("w"))
    execution_id = (await client.post("/workflows/w/trigger")).json()["executionId"]
    await client.post("/workflows/w/pause")

    response = await client.put("/workflows/w", json={**manual_workflow("w"), "enabled": True})

    assert response.status_code == 200
    body = response.json()
    assert body["enabled"] is False
    assert body["trigger"]["status"] == "busy"
    assert body["trigger"]["executionId"] == execution_id


async def test_put_with_another_workflow_id_is_422(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=SEED)

    response = await client.put("/workflows/recurrent-workflow", json={**SEED, "workflowId": "other"})

    body = assert_problem(response, 422)
    assert body["errors"][0]["loc"] == ["body", "workflowId"]


async def test_put_of_an_unknown_workflow_is_404(client: httpx.AsyncClient) -> None:
    response = await client.put("/workflows/recurrent-workflow", json=SEED)

    assert_problem(response, 404)


async def test_put_with_matching_if_match_succeeds_in_both_forms(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=SEED)

    first = await client.put("/workflows/recurrent-workflow", json=SEED, headers={"If-Match": "1"})
    second = await client.put("/workflows/recurrent-workflow", json=SEED, headers={"If-Match": '"2"'})

    assert first.status_code == 200
    assert second.status_code == 200
    assert second.json()["version"] == 3


async def test_put_with_a_stale_if_match_is_412(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=SEED)
    await client.put("/workflows/recurrent-workflow", json=SEED)

    response = await client.put("/workflows/recurrent-workflow", json=SEED, headers={"If-Match": "1"})

    body = assert_problem(response, 412)
    assert body["currentVersion"] == 2
    assert (await client.get("/workflows/recurrent-workflow")).json()["version"] == 2


async def test_put_with_an_unreadable_if_match_is_422(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=SEED)

    response = await client.put("/workflows/recurrent-workflow", json=SEED, headers={"If-Match": "v1"})

    body = assert_problem(response, 422)
    assert body["errors"][0]["loc"] == ["header", "If-Match"]


async def test_put_losing_a_race_without_if_match_retries_from_a_fresh_read(
    make_client: ClientFactory, workflows: InMemoryWorkflowRepository
) -> None:
    racing = RacingUpdates(workflows, races=1)
    async with make_client(workflows_repo=racing) as client:
        await client.post("/workflows", json=SEED)

        response = await client.put("/workflows/recurrent-workflow", json={**SEED, "description": "mine"})

    assert response.status_code == 200
    assert response.json()["version"] == 3
    assert response.json()["description"] == "mine"


async def test_put_losing_a_race_with_if_match_is_412(
    make_client: ClientFactory, workflows: InMemoryWorkflowRepository
) -> None:
    racing = RacingUpdates(workflows, races=1)
    async with make_client(workflows_repo=racing) as client:
        await client.post("/workflows", json=SEED)

        response = await client.put("/workflows/recurrent-workflow", json=SEED, headers={"If-Match": "1"})

    assert_problem(response, 412)
    assert (await workflows.get("recurrent-workflow")).description == "the other one"


async def test_put_losing_the_race_twice_is_409(
    make_client: ClientFactory, workflows: InMemoryWorkflowRepository
) -> None:
    racing = RacingUpdates(workflows, races=2)
    async with make_client(workflows_repo=racing) as client:
        await client.post("/workflows", json=SEED)

        response = await client.put("/workflows/recurrent-workflow", json=SEED)

    assert_problem(response, 409)


# -- DELETE --------------------------------------------------------------------------------------------------


async def test_delete_removes_the_workflow_and_its_schedule(
    client: httpx.AsyncClient, clock: FakeClock, workflows: InMemoryWorkflowRepository
) -> None:
    await client.post("/workflows", json=SEED)

    response = await client.delete("/workflows/recurrent-workflow")

    assert response.status_code == 204
    assert response.content == b""
    assert_problem(await client.get("/workflows/recurrent-workflow"), 404)
    assert (await client.get("/workflows")).json()["items"] == []
    assert await workflows.due_for_schedule(now=clock.now() + timedelta(days=1), limit=10) == []


async def test_delete_of_an_unknown_workflow_is_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.delete("/workflows/nope"), 404)


async def test_a_deleted_workflow_id_may_be_reused(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=SEED)
    await client.delete("/workflows/recurrent-workflow")

    response = await client.post("/workflows", json=SEED)

    assert response.status_code == 201
    assert response.json()["version"] == 1


# -- pause / resume ------------------------------------------------------------------------------------------


async def test_pause_disables_and_hides_the_next_run_without_a_new_version(
    client: httpx.AsyncClient, clock: FakeClock, workflows: InMemoryWorkflowRepository
) -> None:
    await client.post("/workflows", json=SEED)

    response = await client.post("/workflows/recurrent-workflow/pause")

    assert response.status_code == 200
    body = response.json()
    assert body["enabled"] is False
    assert body["trigger"]["nextRunAt"] is None
    assert body["version"] == 1
    assert (await client.get("/workflows/recurrent-workflow")).json()["trigger"]["nextRunAt"] is None
    assert await workflows.due_for_schedule(now=clock.now() + timedelta(days=1), limit=10) == []


async def test_pausing_a_paused_workflow_is_200(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=SEED)
    await client.post("/workflows/recurrent-workflow/pause")

    response = await client.post("/workflows/recurrent-workflow/pause")

    assert response.status_code == 200
    assert response.json()["enabled"] is False


async def test_resume_continues_at_the_next_grid_slot_without_catching_up(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await client.post("/workflows", json=SEED)
    await client.post("/workflows/recurrent-workflow/pause")
    clock.advance(timedelta(seconds=35))

    response = await client.post("/workflows/recurrent-workflow/resume")

    assert response.status_code == 200
    body = response.json()
    assert body["enabled"] is True
    assert body["version"] == 1
    assert body["trigger"]["nextRunAt"] == iso(START + timedelta(seconds=40))


async def test_resume_before_the_stored_slot_keeps_it(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await client.post("/workflows", json=SEED)
    await client.post("/workflows/recurrent-workflow/pause")
    clock.advance(timedelta(seconds=4))

    response = await client.post("/workflows/recurrent-workflow/resume")

    assert response.json()["trigger"]["nextRunAt"] == iso(START + timedelta(seconds=10))


async def test_resuming_a_running_workflow_changes_nothing(client: httpx.AsyncClient, clock: FakeClock) -> None:
    created = (await client.post("/workflows", json=SEED)).json()
    clock.advance(timedelta(seconds=25))

    response = await client.post("/workflows/recurrent-workflow/resume")

    assert response.status_code == 200
    assert response.json() == created


async def test_pause_and_resume_of_an_unknown_workflow_are_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post("/workflows/nope/pause"), 404)
    assert_problem(await client.post("/workflows/nope/resume"), 404)


async def test_cron_on_29_february_is_accepted_and_fires_in_the_next_leap_year(client: httpx.AsyncClient) -> None:
    body = {**manual_workflow("leap-day"), "trigger": {"type": "cron", "cron": "0 0 29 2 *"}}

    response = await client.post("/workflows", json=body)

    assert response.status_code == 201
    assert response.json()["trigger"]["nextRunAt"] == "2028-02-29T00:00:00Z"


async def test_put_of_a_cron_that_never_matches_is_422_and_keeps_the_workflow(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=manual_workflow("w"))
    body = {**manual_workflow("w"), "trigger": {"type": "cron", "cron": "0 0 31 4 *", "timezone": "Europe/Paris"}}

    response = await client.put("/workflows/w", json=body)

    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"] == ["body", "trigger", "cron"]
    assert "never" in problem["errors"][0]["msg"]
    assert (await client.get("/workflows/w")).json()["version"] == 1


# --- templates (contract v2, "Data between actions") ----------------------------------------------------------------


def templated(actions: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {"workflowId": "templated", "trigger": {"type": "manual"}, "actions": actions, **fields}


TOKEN_CALL = {"type": "http-request", "name": "fetch-token", "url": "https://auth.example.com/token", "method": "POST"}


async def test_templates_over_earlier_actions_and_the_input_are_accepted(client: httpx.AsyncClient) -> None:
    use = {
        "type": "http-request",
        "url": "https://api.example.com/releases/{{ input.release }}",
        "headers": {"Authorization": 'Bearer {{ actions."fetch-token".output.body.token }}'},
        "body": {"count": "{{ input.count }}", "by": "{{ workflow.id }}"},
        "when": "actions.\"fetch-token\".status == 'succeeded'",
    }

    response = await client.post("/workflows", json=templated([TOKEN_CALL, use]))

    assert response.status_code == 201, response.text
    assert response.json()["actions"][1]["body"] == {"count": "{{ input.count }}", "by": "{{ workflow.id }}"}


@pytest.mark.parametrize(
    ("template", "complaint"),
    [
        ("Bearer {{ actions.later.output.body.token }}", "does not run before this one"),
        ("Bearer {{ actions.ghost.output }}", "no action named 'ghost'"),
        ("Bearer {{ token }}", "unknown name 'token'"),
        ("Bearer {{ input. }}", "invalid JMESPath"),
        ("Bearer {{ error.message }}", "only in the context of a failure handler"),
        ("Bearer {{ [secrets.TOKEN] }}", "secrets can only be used"),
    ],
)
async def test_a_bad_template_is_422_located_at_its_string(
    client: httpx.AsyncClient, template: str, complaint: str
) -> None:
    use = {"type": "http-request", "url": "https://api.example.com", "headers": {"Authorization": template}}
    later = {"type": "log", "name": "later", "message": "done"}

    response = await client.post("/workflows", json=templated([TOKEN_CALL, use, later]))

    body = assert_problem(response, 422)
    assert body["errors"][0]["loc"] == ["body", "actions", 1, "http-request", "headers", "Authorization"]
    assert complaint in body["errors"][0]["msg"]


async def test_a_bad_when_and_a_bad_body_string_are_422_each_at_its_place(client: httpx.AsyncClient) -> None:
    use = {"type": "http-request", "url": "https://x.example", "when": "nope", "body": {"a": [1, "{{ foo }}"]}}

    response = await client.post("/workflows", json=templated([use]))

    body = assert_problem(response, 422)
    assert [error["loc"] for error in body["errors"]] == [
        ["body", "actions", 0, "http-request", "when"],
        ["body", "actions", 0, "http-request", "body", "a", 1],
    ]


async def test_failure_handlers_may_read_error_and_every_action(client: httpx.AsyncClient) -> None:
    step = {
        "type": "log",
        "name": "step",
        "message": "x",
        "compensate": {"type": "log", "message": "undo {{ actions.last.status }}: {{ error.message }}"},
    }
    last = {"type": "log", "name": "last", "message": "y"}
    handlers = [{"type": "log", "message": "{{ error.action }} {{ nope }}"}]

    response = await client.post("/workflows", json=templated([step, last], onFailure=handlers))

    body = assert_problem(response, 422)
    assert [error["loc"] for error in body["errors"]] == [["body", "onFailure", 0, "log", "message"]]


async def test_put_checks_templates_too(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=SEED)

    response = await client.put(
        "/workflows/recurrent-workflow", json={**SEED, "actions": [{"type": "log", "message": "{{ actions.x }}"}]}
    )

    body = assert_problem(response, 422)
    assert body["errors"][0]["loc"] == ["body", "actions", 0, "log", "message"]
