"""A manual workflow with a `log` and an `http-request` action, triggered once, from the API call to the
request the local server receives and back to an idle lock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
from tests.e2e.helpers import (
    create_manual_workflow,
    get_json,
    http_action,
    log_action,
    wait_for_execution,
)
from tests.e2e.target import Recorded, TargetServer

pytestmark = pytest.mark.e2e

REQUEST_BODY = {"hello": "world", "items": [1, 2, 3], "nested": {"ok": True}}


@dataclass(frozen=True)
class ManualRun:
    workflow_id: str
    accepted: httpx.Response
    execution: dict[str, Any]
    workflow_after: dict[str, Any]
    received: list[Recorded]


@pytest.fixture(scope="module")
async def manual_run(api: httpx.AsyncClient, target: TargetServer) -> ManualRun:
    path = target.path("manual")
    target.respond(path, 200, {"received": True})
    workflow_id = await create_manual_workflow(
        api, "manual", log_action("starting"), http_action(target.url(path), "POST", body=REQUEST_BODY)
    )

    accepted = await api.post(f"/workflows/{workflow_id}/trigger", json={"input": {"release": "42"}})
    assert accepted.status_code == 202, accepted.text
    execution = await wait_for_execution(api, accepted.json()["executionId"])
    # Read at once: the contract releases the lock in the same write as the final status, or before it.
    workflow_after = await get_json(api, f"/workflows/{workflow_id}")
    return ManualRun(workflow_id, accepted, execution, workflow_after, target.requests(path))


def test_trigger_answers_202_with_the_queued_execution_and_its_location(manual_run: ManualRun) -> None:
    body = manual_run.accepted.json()

    assert body == {"executionId": body["executionId"], "workflowId": manual_run.workflow_id, "status": "queued"}
    assert manual_run.accepted.headers["location"].endswith(f"/executions/{body['executionId']}")


def test_manual_execution_succeeds_in_one_attempt_with_its_input(manual_run: ManualRun) -> None:
    execution = manual_run.execution

    assert execution["status"] == "succeeded", execution
    assert (execution["executionId"], execution["workflowId"]) == (
        manual_run.accepted.json()["executionId"],
        manual_run.workflow_id,
    )
    assert (execution["reason"], execution["attempt"], execution["workflowVersion"]) == ("manual", 1, 1)
    assert execution["input"] == {"release": "42"}
    assert execution["error"] is None
    assert execution["startedAt"] is not None and execution["finishedAt"] is not None
    assert isinstance(execution["durationMs"], int) and execution["durationMs"] >= 0


def test_every_action_is_recorded_as_succeeded_once_with_its_timings(manual_run: ManualRun) -> None:
    actions = manual_run.execution["actions"]

    assert [(a["name"], a["type"], a["status"], a["attempts"]) for a in actions] == [
        ("action-1", "log", "succeeded", 1),
        ("action-2", "http-request", "succeeded", 1),
    ]
    for action in actions:
        assert action["startedAt"] is not None and action["finishedAt"] is not None, action
        assert datetime.fromisoformat(action["startedAt"]) <= datetime.fromisoformat(action["finishedAt"]), action
        assert isinstance(action["durationMs"], int) and action["durationMs"] >= 0, action
        assert action["error"] is None, action


def test_http_request_action_output_carries_the_response_status(manual_run: ManualRun) -> None:
    output = manual_run.execution["actions"][1]["output"]

    assert output is not None and output["status"] == 200, output


def test_http_request_action_sends_its_json_body_exactly_once(manual_run: ManualRun) -> None:
    assert len(manual_run.received) == 1, manual_run.received
    request = manual_run.received[0]
    assert request.method == "POST"
    assert request.json() == REQUEST_BODY
    assert request.headers.get("content-type", "").startswith("application/json")


def test_lock_is_idle_once_the_execution_has_succeeded(manual_run: ManualRun) -> None:
    trigger = manual_run.workflow_after["trigger"]

    assert (trigger["status"], trigger["executionId"]) == ("idle", None)
