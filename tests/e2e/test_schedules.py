"""Scheduled fires through the real scheduler and runner: a periodic workflow keeps firing on its interval; a
cron workflow's next fire is its expression's next moment in its timezone. (Many schedulers, pause and resume,
busy workflows: test_scheduling.py.)"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

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


async def test_cron_workflow_next_run_is_the_next_boundary_in_its_timezone(api: httpx.AsyncClient) -> None:
    every_minute, daily = unique_id("cron-minute"), unique_id("cron-daily")
    minute = await create_workflow(
        api,
        {
            "workflowId": every_minute,
            "trigger": {"type": "cron", "cron": "* * * * *", "timezone": "America/New_York"},
            "actions": [log_action("tick")],
        },
    )
    # Kathmandu is UTC+05:45: 09:00 there is never a whole UTC hour, so a UTC reading would show.
    nine = await create_workflow(
        api,
        {
            "workflowId": daily,
            "trigger": {"type": "cron", "cron": "0 9 * * *", "timezone": "Asia/Kathmandu"},
            "actions": [log_action("tick")],
        },
    )
    await api.delete(f"/workflows/{every_minute}")
    await api.delete(f"/workflows/{daily}")

    created, next_run = _at(minute["createdAt"]), _at(minute["trigger"]["nextRunAt"])
    assert next_run == created.replace(second=0, microsecond=0) + timedelta(minutes=1)
    created, next_run = _at(nine["createdAt"]), _at(nine["trigger"]["nextRunAt"])
    local = next_run.astimezone(ZoneInfo("Asia/Kathmandu"))
    assert (local.hour, local.minute, local.second, local.microsecond) == (9, 0, 0, 0)
    assert created < next_run <= created + timedelta(days=1)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)
