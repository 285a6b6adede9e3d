"""Conditions and failure handling through the three services on the real servers: `when` skips, a
`continueOnError` failure lets the execution go on, and a final failure runs the compensations of the actions that
succeeded (last first), then the onFailure actions, each once, and still ends `failed` with the lock released."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from tests.e2e.helpers import create_manual_workflow, get_json, http_action, log_action, run_to_end
from tests.e2e.target import TargetServer

pytestmark = pytest.mark.e2e

ONCE = {"maxAttempts": 1}


@dataclass(frozen=True)
class SagaRun:
    execution: dict[str, Any]
    workflow_after: dict[str, Any]
    order: list[str]  # the target paths, in the order the requests reached it
    paths: dict[str, str]


@pytest.fixture(scope="module")
async def saga_run(api: httpx.AsyncClient, target: TargetServer) -> SagaRun:
    paths = {name: target.path(name) for name in ("reserve", "charge", "ship", "undo-reserve", "undo-charge", "page")}
    target.respond(paths["ship"], 400, {"error": "no courier"})
    workflow_id = await create_manual_workflow(
        api,
        "saga",
        {
            **http_action(target.url(paths["reserve"]), "POST", name="reserve"),
            "compensate": http_action(target.url(paths["undo-reserve"]), "DELETE", name="undo-reserve"),
        },
        {
            **http_action(target.url(paths["charge"]), "POST", name="charge"),
            "compensate": http_action(target.url(paths["undo-charge"]), "POST", name="undo-charge"),
        },
        {**log_action("only for gifts"), "name": "gift-note", "when": "input.gift"},
        http_action(target.url(paths["ship"]), "POST", name="ship"),
        log_action("never reached", name="after"),
        retry=ONCE,
        onFailure=[http_action(target.url(paths["page"]), "POST", name="page-ops")],
    )

    execution = await run_to_end(api, workflow_id, {"input": {"gift": False}})
    workflow_after = await get_json(api, f"/workflows/{workflow_id}")
    order = [path for path in target.arrivals() if path in paths.values()]
    return SagaRun(execution, workflow_after, order, paths)


def test_a_final_failure_ends_failed_with_the_deciding_error(saga_run: SagaRun) -> None:
    execution = saga_run.execution
    assert execution["status"] == "failed", execution
    assert execution["error"]["action"] == "ship" and execution["error"]["type"] == "http_status"
    assert [(a["name"], a["status"]) for a in execution["actions"]] == [
        ("reserve", "succeeded"),
        ("charge", "succeeded"),
        ("gift-note", "skipped"),
        ("ship", "failed"),
        ("after", "skipped"),
    ]


def test_compensations_run_in_reverse_then_on_failure_each_once(saga_run: SagaRun) -> None:
    p = saga_run.paths
    assert saga_run.order == [p["reserve"], p["charge"], p["ship"], p["undo-charge"], p["undo-reserve"], p["page"]]
    execution = saga_run.execution
    assert [(r["name"], r["status"], r["attempts"]) for r in execution["compensations"]] == [
        ("undo-charge", "succeeded", 1),
        ("undo-reserve", "succeeded", 1),
    ]
    assert [(r["name"], r["status"]) for r in execution["onFailure"]] == [("page-ops", "succeeded")]
    assert execution["onFailure"][0]["output"]["status"] == 200


def test_the_lock_is_released_after_the_handlers(saga_run: SagaRun) -> None:
    assert saga_run.workflow_after["trigger"]["status"] == "idle"


async def test_continue_on_error_lets_the_execution_succeed(api: httpx.AsyncClient, target: TargetServer) -> None:
    optional, then = target.path("optional"), target.path("then")
    target.respond(optional, 404)
    workflow_id = await create_manual_workflow(
        api,
        "optional-step",
        {**http_action(target.url(optional)), "continueOnError": True},
        http_action(target.url(then)),
        retry=ONCE,
    )

    execution = await run_to_end(api, workflow_id)

    assert execution["status"] == "succeeded" and execution["error"] is None, execution
    assert [a["status"] for a in execution["actions"]] == ["failed", "succeeded"]
    assert execution["actions"][0]["error"]["type"] == "http_status"
    assert execution["compensations"] is None and execution["onFailure"] is None
    assert (target.count(optional), target.count(then)) == (1, 1)


async def test_a_compensate_with_its_own_compensate_is_refused(api: httpx.AsyncClient) -> None:
    undo = log_action("undo")
    response = await api.post(
        "/workflows",
        json={
            "workflowId": "nested-compensate",
            "trigger": {"type": "manual"},
            "actions": [{**log_action("do"), "compensate": {**undo, "compensate": log_action("undo the undo")}}],
        },
    )

    assert response.status_code == 422, response.text
    problem = response.json()
    assert any("compensate" in error["loc"] for error in problem["errors"]), problem
