"""A workflow's schedule (next fires, recent outcomes, counters) and a small backfill, through the real services:
the backfilled slots run one after another, oldest first, each once."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from tests.e2e.helpers import create_workflow, get_json, log_action, poll, unique_id

pytestmark = pytest.mark.e2e


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def test_the_schedule_lists_next_fires_and_the_fires_it_made(api: httpx.AsyncClient) -> None:
    workflow_id = unique_id("schedule-view")
    await create_workflow(
        api,
        {"workflowId": workflow_id, "trigger": {"type": "periodic", "interval": "1s"}, "actions": [log_action("tick")]},
    )
    try:
        schedule = await poll(
            lambda: get_json(api, f"/workflows/{workflow_id}/schedule", count=5),
            lambda body: body["counters"]["fired"] >= 2,
            what="two fires on the schedule",
            within=30.0,
            interval=0.25,
        )
    finally:
        await api.delete(f"/workflows/{workflow_id}")

    fires = [_moment(text) for text in schedule["next"]]
    assert len(fires) == 5
    assert all(later - earlier == timedelta(seconds=1) for earlier, later in itertools.pairwise(fires))
    assert schedule["timezone"] == "UTC"
    fired = [entry for entry in schedule["recent"] if entry["outcome"] == "fired"]
    assert len(fired) >= 2
    for entry in fired:
        execution = await get_json(api, f"/executions/{entry['executionId']}")
        assert (execution["reason"], execution["scheduledFor"]) == ("schedule", entry["slot"])


async def test_a_backfill_runs_its_slots_in_order_each_once(api: httpx.AsyncClient) -> None:
    workflow_id = unique_id("backfill")
    created = await create_workflow(
        api,
        {"workflowId": workflow_id, "trigger": {"type": "periodic", "interval": "1h"}, "actions": [log_action("b")]},
    )
    start = _moment(created["createdAt"]) - timedelta(hours=3)
    body = {"from": _iso(start), "to": created["createdAt"]}
    try:
        planned = await api.post(f"/workflows/{workflow_id}/backfill", json={**body, "dryRun": True})
        accepted = await api.post(f"/workflows/{workflow_id}/backfill", json=body)

        async def executions() -> list[dict[str, Any]]:
            page = await get_json(api, f"/workflows/{workflow_id}/executions")
            items: list[dict[str, Any]] = page["items"]
            return items

        ran = await poll(
            executions,
            lambda items: len(items) >= 3 and all(e["status"] == "succeeded" for e in items),
            what="three backfilled executions succeeded",
            within=45.0,
            interval=0.25,
        )
    finally:
        await api.delete(f"/workflows/{workflow_id}")

    slots = [_iso(start + timedelta(hours=k)) for k in range(3)]
    assert (planned.status_code, planned.json()) == (200, {"slots": slots})
    assert accepted.status_code == 202
    assert accepted.json()["slots"] == 3
    in_order = sorted(ran, key=lambda e: e["createdAt"])
    assert [(e["reason"], e["scheduledFor"]) for e in in_order] == [("backfill", slot) for slot in slots]
    # One after another: each started after the one before had finished.
    for earlier, later in itertools.pairwise(in_order):
        assert later["startedAt"] >= earlier["finishedAt"]
