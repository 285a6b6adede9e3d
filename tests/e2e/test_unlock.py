"""POST /workflows/{id}/unlock?force=true on the real services: the execution holding the lock is cancelled (the
runner working on it stops), the lock is released, and the workflow can be triggered again at once."""

from __future__ import annotations

import httpx
import pytest
from tests.e2e.helpers import (
    assert_problem,
    create_manual_workflow,
    get_json,
    http_action,
    trigger,
    wait_for_execution,
    wait_for_requests,
)
from tests.e2e.target import TargetServer

pytestmark = pytest.mark.e2e


async def test_force_unlock_cancels_the_running_holder_and_frees_the_workflow(
    api: httpx.AsyncClient, target: TargetServer
) -> None:
    held = target.path("unlock-held")
    target.hold(held)
    workflow_id = await create_manual_workflow(api, "unlock-force", http_action(target.url(held), timeout="30s"))
    execution_id = await trigger(api, workflow_id)
    await wait_for_execution(api, execution_id, frozenset({"running"}))
    await wait_for_requests(target, held, 1)

    refused = assert_problem(await api.post(f"/workflows/{workflow_id}/unlock"), 409)
    forced = await api.post(f"/workflows/{workflow_id}/unlock", params={"force": "true"})
    target.release(held)

    assert (refused["executionId"], refused["executionStatus"]) == (execution_id, "running")
    assert forced.status_code == 200, forced.text
    assert (forced.json()["trigger"]["status"], forced.json()["trigger"]["executionId"]) == ("idle", None)
    assert (await get_json(api, f"/executions/{execution_id}"))["status"] == "cancelled"
    again = await trigger(api, workflow_id)
    assert again != execution_id
