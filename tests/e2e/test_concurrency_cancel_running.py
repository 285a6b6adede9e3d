"""`whenBusy: cancelRunning` over the real services: a trigger on a busy workflow cancels the running execution (its
runner stops with it) and starts at once; the cancelled one stays cancelled, the new one runs to the end."""

from __future__ import annotations

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

pytestmark = pytest.mark.e2e


async def test_a_trigger_cancels_the_running_execution_and_runs_instead(
    api: httpx.AsyncClient, target: TargetServer
) -> None:
    path = target.path("cancel-running")
    target.hold(path)
    try:
        workflow_id = await create_manual_workflow(
            api,
            "cancel-running",
            http_action(target.url(path), timeout="60s"),
            retry={"maxAttempts": 1},
            concurrency={"whenBusy": "cancelRunning"},
        )
        first = await trigger(api, workflow_id)
        await wait_for_requests(target, path, 1)

        second = await trigger(api, workflow_id)

        assert (await get_json(api, f"/executions/{first}"))["status"] == "cancelled"
        await wait_for_requests(target, path, 2)
        assert (await get_json(api, f"/executions/{second}"))["status"] == "running"
        trigger_state = (await get_json(api, f"/workflows/{workflow_id}"))["trigger"]
        assert (trigger_state["executionId"], trigger_state["running"]) == (second, 1)
    finally:
        target.release(path)

    assert (await wait_for_execution(api, second))["status"] == "succeeded"
    assert (await get_json(api, f"/executions/{first}"))["status"] == "cancelled"
    await poll(
        lambda: get_json(api, f"/workflows/{workflow_id}"),
        until=lambda workflow: workflow["trigger"]["running"] == 0,
        what="the lock freed",
    )
