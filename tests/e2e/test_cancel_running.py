"""Cancelling a running execution: the runner working on it stops before its next action (the action in flight
is cut short or finishes unrecorded), and the cancelled record is left as the cancel wrote it."""

from __future__ import annotations

from dataclasses import dataclass
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
    wait_for_requests,
)
from tests.e2e.target import TargetServer

from wfa_devstack import ServiceStack

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class CancelledRun:
    cancelled: dict[str, Any]
    after_the_runner_stopped: dict[str, Any]
    workflow: dict[str, Any]
    next_requests: int


@pytest.fixture(scope="module")
async def cancelled_run(api: httpx.AsyncClient, services: ServiceStack, target: TargetServer) -> CancelledRun:
    held, following = target.path("cancel-held"), target.path("cancel-next")
    target.hold(held)
    workflow_id = await create_manual_workflow(
        api, "cancel-running", http_action(target.url(held), timeout="30s"), http_action(target.url(following))
    )
    execution_id = await trigger(api, workflow_id)
    await wait_for_execution(api, execution_id, frozenset({"running"}))
    await wait_for_requests(target, held, 1)

    response = await api.post(f"/executions/{execution_id}/cancel")
    assert response.status_code == 200, response.text
    target.release(held)

    async def runner_log() -> str:
        return services.runner.log_text()

    # The runner notices at its next save, once the held request has returned, and says so.
    await poll(
        runner_log,
        lambda text: any("execution.stopped" in line and execution_id in line for line in text.splitlines()),
        what=f"the runner stopped {execution_id}",
    )
    return CancelledRun(
        cancelled=response.json(),
        after_the_runner_stopped=await get_json(api, f"/executions/{execution_id}"),
        workflow=await get_json(api, f"/workflows/{workflow_id}"),
        next_requests=target.count(following),
    )


def test_the_action_after_the_cancelled_one_never_runs(cancelled_run: CancelledRun) -> None:
    assert cancelled_run.next_requests == 0


def test_the_record_stays_as_the_cancel_left_it(cancelled_run: CancelledRun) -> None:
    after = cancelled_run.after_the_runner_stopped

    assert after == cancelled_run.cancelled
    assert [(a["status"], a["error"] and a["error"]["type"]) for a in after["actions"]] == [
        ("failed", "cancelled"),
        ("skipped", None),
    ]


def test_the_lock_is_idle_after_the_cancel(cancelled_run: CancelledRun) -> None:
    assert (cancelled_run.workflow["trigger"]["status"], cancelled_run.workflow["trigger"]["executionId"]) == (
        "idle",
        None,
    )
