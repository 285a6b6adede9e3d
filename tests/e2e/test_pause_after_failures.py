"""trigger.pauseAfterFailures on the real services: two executions in a row fail for good, the workflow is paused
with pausedReason `failures` and takes no trigger; a resume clears the reason and the count."""

from __future__ import annotations

import httpx
import pytest
from tests.e2e.helpers import assert_problem, create_manual_workflow, get_json, http_action, poll, run_to_end
from tests.e2e.target import TargetServer

from wfa_devstack import ServiceStack

pytestmark = pytest.mark.e2e


async def test_two_failures_in_a_row_pause_the_workflow_until_resumed(
    api: httpx.AsyncClient, services: ServiceStack, target: TargetServer
) -> None:
    path = target.path("always-404")
    target.respond(path, 404, {"error": "gone"})
    workflow_id = await create_manual_workflow(
        api,
        "pause-after-failures",
        http_action(target.url(path)),
        trigger={"type": "manual", "pauseAfterFailures": 2},
    )

    first = await run_to_end(api, workflow_id)
    after_first = await get_json(api, f"/workflows/{workflow_id}")
    second = await run_to_end(api, workflow_id)
    after_second = await get_json(api, f"/workflows/{workflow_id}")

    assert (first["status"], second["status"]) == ("failed", "failed")
    assert (after_first["enabled"], after_first["trigger"]["consecutiveFailures"]) == (True, 1)
    assert (after_second["enabled"], after_second["pausedReason"]) == (False, "failures")
    assert after_second["trigger"]["consecutiveFailures"] == 2
    assert after_second["trigger"]["status"] == "idle"
    refused = assert_problem(await api.post(f"/workflows/{workflow_id}/trigger"), 409)
    assert refused["reason"] == "paused"

    async def runner_log() -> str:
        return services.runner.log_text()

    await poll(
        runner_log,
        lambda text: any("workflow.paused" in line and workflow_id in line for line in text.splitlines()),
        what=f"the runner told it paused {workflow_id}",
    )

    resumed = (await api.post(f"/workflows/{workflow_id}/resume")).json()
    assert (resumed["enabled"], resumed["pausedReason"], resumed["trigger"]["consecutiveFailures"]) == (True, None, 0)
