"""Retries across the runner and the scheduler: a 5xx is retryable, the execution waits as `pending` with the lock
held, the scheduler dispatches the retry when due, and the retry resumes at the failed action."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from tests.e2e.helpers import (
    create_manual_workflow,
    get_json,
    http_action,
    poll,
    trigger,
    wait_for_execution,
)
from tests.e2e.target import TargetServer

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class RetriedRun:
    while_pending: dict[str, Any]
    workflow_while_pending: dict[str, Any]
    execution: dict[str, Any]
    first_requests: int
    flaky_requests: int


@pytest.fixture(scope="module")
async def retried_run(api: httpx.AsyncClient, target: TargetServer) -> RetriedRun:
    first, flaky = target.path("first"), target.path("flaky")
    target.respond(first, 200)
    target.respond_in_turn(flaky, 503, 200)
    workflow_id = await create_manual_workflow(
        api,
        "retried",
        http_action(target.url(first)),
        http_action(target.url(flaky)),
        retry={"maxAttempts": 3, "initialInterval": "2s"},
    )

    execution_id = await trigger(api, workflow_id)
    # Both are watched at once: the pending state lasts only until the retry is due.
    while_pending, workflow_while_pending = await asyncio.gather(
        wait_for_execution(api, execution_id, frozenset({"pending"})),
        poll(
            lambda: get_json(api, f"/workflows/{workflow_id}"),
            lambda w: w["trigger"]["status"] == "pending",
            what=f"the lock of {workflow_id} pending",
        ),
    )
    execution = await wait_for_execution(api, execution_id)
    return RetriedRun(while_pending, workflow_while_pending, execution, target.count(first), target.count(flaky))


def test_a_5xx_leaves_the_execution_pending_with_its_next_retry_time(retried_run: RetriedRun) -> None:
    pending = retried_run.while_pending

    assert pending["nextRetryAt"] is not None, pending
    # failure time + initialInterval × backoffRate^0; the failure is recorded as the failed action finishes.
    wait = datetime.fromisoformat(pending["nextRetryAt"]) - datetime.fromisoformat(pending["actions"][1]["finishedAt"])
    assert timedelta(seconds=2) <= wait < timedelta(seconds=5), wait


def test_the_lock_stays_with_the_execution_while_a_retry_is_due(retried_run: RetriedRun) -> None:
    trigger = retried_run.workflow_while_pending["trigger"]

    assert trigger["executionId"] == retried_run.execution["executionId"], trigger


def test_the_retry_succeeds_as_the_second_attempt(retried_run: RetriedRun) -> None:
    execution = retried_run.execution

    assert (execution["status"], execution["attempt"], execution["nextRetryAt"]) == ("succeeded", 2, None)


def test_the_retry_resumes_at_the_failed_action(retried_run: RetriedRun) -> None:
    actions = retried_run.execution["actions"]

    assert [(a["status"], a["attempts"]) for a in actions] == [("succeeded", 1), ("succeeded", 2)]
    assert (retried_run.first_requests, retried_run.flaky_requests) == (1, 2)
