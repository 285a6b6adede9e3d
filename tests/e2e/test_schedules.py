"""Scheduled fires through the real scheduler and runner: a periodic workflow keeps firing on its interval."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.e2e.helpers import create_workflow, get_json, log_action, poll, unique_id

pytestmark = pytest.mark.e2e

FIRES_EXPECTED = 3


async def test_periodic_workflow_fires_repeatedly_and_each_fire_succeeds(api: httpx.AsyncClient) -> None:
    workflow_id = unique_id("every-second")
    await create_workflow(
        api,
        {"workflowId": workflow_id, "trigger": {"type": "periodic", "interval": "1s"}, "actions": [log_action("tick")]},
    )

    async def executions() -> list[dict[str, Any]]:
        page = await get_json(api, f"/workflows/{workflow_id}/executions")
        items: list[dict[str, Any]] = page["items"]
        return items

    try:
        seen = await poll(
            executions,
            lambda items: sum(e["status"] == "succeeded" for e in items) >= FIRES_EXPECTED,
            what=f"{FIRES_EXPECTED} succeeded scheduled executions",
            within=30.0,
            interval=0.25,
        )
    finally:
        await api.delete(f"/workflows/{workflow_id}")

    assert {e["reason"] for e in seen} == {"schedule"}
    assert {e["status"] for e in seen} <= {"succeeded", "queued", "running"}, [(e["status"], e["error"]) for e in seen]
