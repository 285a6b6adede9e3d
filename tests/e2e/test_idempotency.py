"""`Idempotency-Key` on a trigger: repeating the key returns the execution it started instead of a new one."""

from __future__ import annotations

import httpx
import pytest
from tests.e2e.helpers import create_manual_workflow, get_json, log_action, wait_for_execution

pytestmark = pytest.mark.e2e


async def test_a_repeated_idempotency_key_returns_the_first_execution_with_200(api: httpx.AsyncClient) -> None:
    workflow_id = await create_manual_workflow(api, "idempotent", log_action("once"))
    headers = {"Idempotency-Key": f"deploy-{workflow_id}"}
    first = await api.post(f"/workflows/{workflow_id}/trigger", headers=headers)
    finished = await wait_for_execution(api, first.json()["executionId"])

    again = await api.post(f"/workflows/{workflow_id}/trigger", headers=headers)

    assert first.status_code == 202, first.text
    assert again.status_code == 200, again.text
    assert again.json() == {"executionId": finished["executionId"], "workflowId": workflow_id, "status": "succeeded"}
    assert again.headers["location"].endswith(f"/executions/{finished['executionId']}")
    assert len((await get_json(api, f"/workflows/{workflow_id}/executions"))["items"]) == 1
