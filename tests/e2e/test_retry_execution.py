"""POST /executions/{id}/retry across the three services: a workflow of three `http-request` actions fails at the
second (the target answers 500, and no attempts are left); once the target is fixed, a retry of that execution
resumes at the second action, the first is not called again, and the retry succeeds with the first action's
recorded output copied."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from tests.e2e.helpers import (
    assert_problem,
    create_manual_workflow,
    get_json,
    http_action,
    run_to_end,
    wait_for_execution,
)
from tests.e2e.target import TargetServer

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class RetriedFailure:
    workflow_id: str
    original: dict[str, Any]
    accepted: httpx.Response
    retry: dict[str, Any]
    workflow_after: dict[str, Any]
    calls_before_retry: tuple[int, int, int]
    calls_after_retry: tuple[int, int, int]


@pytest.fixture(scope="module")
async def retried(api: httpx.AsyncClient, target: TargetServer) -> RetriedFailure:
    paths = target.path("retry-first"), target.path("retry-second"), target.path("retry-third")
    first, second, third = paths
    target.respond(first, 200, {"token": "t-42"})
    target.respond(second, 500, {"error": "down"})
    target.respond(third, 200)
    workflow_id = await create_manual_workflow(
        api,
        "retry-from-failed",
        http_action(target.url(first)),
        http_action(target.url(second), method="POST", body={"step": 2}),
        http_action(target.url(third)),
        retry={"maxAttempts": 1},  # the 500 fails the execution for good at once
    )
    original = await run_to_end(api, workflow_id, {"input": {"release": "42"}})
    calls_before = (target.count(first), target.count(second), target.count(third))

    target.respond(second, 200)
    accepted = await api.post(f"/executions/{original['executionId']}/retry")
    assert accepted.status_code == 202, accepted.text
    retry = await wait_for_execution(api, accepted.json()["executionId"])
    workflow_after = await get_json(api, f"/workflows/{workflow_id}")
    calls_after = (target.count(first), target.count(second), target.count(third))
    return RetriedFailure(workflow_id, original, accepted, retry, workflow_after, calls_before, calls_after)


def test_the_original_failed_at_the_second_action(retried: RetriedFailure) -> None:
    original = retried.original

    assert original["status"] == "failed", original
    assert [a["status"] for a in original["actions"]] == ["succeeded", "failed", "skipped"]
    assert retried.calls_before_retry == (1, 1, 0)


def test_the_retry_is_accepted_like_a_trigger(retried: RetriedFailure) -> None:
    body = retried.accepted.json()

    assert body["workflowId"] == retried.workflow_id
    assert body["status"] == "queued"
    assert retried.accepted.headers["Location"] == f"/executions/{body['executionId']}"


def test_the_retry_succeeds_as_a_new_execution_pointing_at_the_original(retried: RetriedFailure) -> None:
    retry, original = retried.retry, retried.original

    assert retry["status"] == "succeeded", retry
    assert retry["executionId"] != original["executionId"]
    assert (retry["reason"], retry["retryOf"]) == ("retry", original["executionId"])
    assert (retry["workflowVersion"], retry["input"], retry["attempt"]) == (1, {"release": "42"}, 1)


def test_the_retry_resumes_at_the_second_action_without_calling_the_first_again(retried: RetriedFailure) -> None:
    assert retried.calls_after_retry == (1, 2, 1)
    assert [(a["status"], a["attempts"]) for a in retried.retry["actions"]] == [
        ("succeeded", 1),
        ("succeeded", 1),
        ("succeeded", 1),
    ]


def test_the_first_action_is_copied_as_the_original_recorded_it(retried: RetriedFailure) -> None:
    copied, recorded = retried.retry["actions"][0], retried.original["actions"][0]

    assert copied == recorded
    assert copied["output"]["status"] == 200


def test_the_lock_is_idle_once_the_retry_has_succeeded(retried: RetriedFailure) -> None:
    trigger = retried.workflow_after["trigger"]

    assert (trigger["status"], trigger["executionId"]) == ("idle", None)


async def test_a_succeeded_execution_cannot_be_retried(api: httpx.AsyncClient, retried: RetriedFailure) -> None:
    problem = assert_problem(await api.post(f"/executions/{retried.retry['executionId']}/retry"), 409)

    assert problem["executionStatus"] == "succeeded"


async def test_retrying_an_unknown_execution_is_404(api: httpx.AsyncClient) -> None:
    assert_problem(await api.post("/executions/no-such-execution/retry"), 404)
