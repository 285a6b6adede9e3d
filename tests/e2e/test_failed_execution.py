"""An `http-request` action whose target answers 404: a 4xx other than 408/429 is not retryable, so the
execution fails at its first attempt, later actions are skipped and the lock is released."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from tests.e2e.helpers import (
    create_manual_workflow,
    get_json,
    http_action,
    log_action,
    run_to_end,
)
from tests.e2e.target import TargetServer

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class FailedRun:
    execution: dict[str, Any]
    workflow_after: dict[str, Any]
    requests_seen: int


@pytest.fixture(scope="module")
async def failed_run(api: httpx.AsyncClient, target: TargetServer) -> FailedRun:
    path = target.path("missing")
    target.respond(path, 404, {"error": "not here"})
    workflow_id = await create_manual_workflow(
        api,
        "fails-404",
        http_action(target.url(path)),
        log_action("never logged"),
        # Retries allowed, and fast: a 404 must still not be retried.
        retry={"maxAttempts": 3, "initialInterval": "1s"},
    )

    execution = await run_to_end(api, workflow_id)
    workflow_after = await get_json(api, f"/workflows/{workflow_id}")
    return FailedRun(execution, workflow_after, target.count(path))


def test_http_404_fails_the_execution_at_its_first_attempt(failed_run: FailedRun) -> None:
    execution = failed_run.execution

    assert execution["status"] == "failed", execution
    assert execution["attempt"] == 1
    assert execution["nextRetryAt"] is None
    assert execution["error"] is not None
    assert execution["finishedAt"] is not None


def test_http_404_is_recorded_as_a_non_retryable_action_failure(failed_run: FailedRun) -> None:
    action = failed_run.execution["actions"][0]

    assert (action["status"], action["attempts"]) == ("failed", 1), action
    assert action["error"] is not None and action["error"]["retryable"] is False, action
    assert failed_run.requests_seen == 1


def test_actions_after_the_failed_one_are_skipped(failed_run: FailedRun) -> None:
    action = failed_run.execution["actions"][1]

    assert (action["name"], action["status"], action["attempts"]) == ("action-2", "skipped", 0), action


def test_lock_is_idle_once_the_execution_has_failed(failed_run: FailedRun) -> None:
    trigger = failed_run.workflow_after["trigger"]

    assert (trigger["status"], trigger["executionId"]) == ("idle", None)
