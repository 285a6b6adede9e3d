"""Catch-up after scheduler downtime, on the real servers: the scheduler is stopped while periodic workflows
are due, started again, and each workflow's `trigger.catchup` decides what becomes of the slots it missed:
`all` fires every one of them, oldest first, each once; `latest` collapses them into one fire and counts the
rest as missed."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from tests.e2e.conftest import STACK_START_TIMEOUT
from tests.e2e.failures.conftest import RECOVERY_TIMEOUT, Rig
from tests.e2e.helpers import create_workflow, get_json, log_action, poll, unique_id

pytestmark = pytest.mark.e2e

INTERVAL = timedelta(seconds=2)
DOWNTIME = 9.0  # seconds: four or five slots of the 2 s grid pass while no scheduler runs


def periodic(stem: str, catchup: str) -> dict[str, Any]:
    return {
        "workflowId": unique_id(stem),
        "trigger": {"type": "periodic", "interval": "2s", "catchup": catchup, "catchupWindow": "1h"},
        "actions": [log_action("tick")],
    }


def slot_of(execution: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(execution["scheduledFor"])


async def scheduled(api: httpx.AsyncClient, workflow_id: str) -> list[dict[str, Any]]:
    page = await get_json(api, f"/workflows/{workflow_id}/executions", limit=500)
    return [e for e in page["items"] if e["scheduledFor"] is not None]


async def test_catchup_all_fires_every_missed_slot_once_and_latest_collapses_them(
    rig: Rig, rig_api: httpx.AsyncClient
) -> None:
    every = (await create_workflow(rig_api, periodic("catchup-all", "all")))["workflowId"]
    latest = (await create_workflow(rig_api, periodic("catchup-latest", "latest")))["workflowId"]
    try:
        # Let the schedule run a little first, so that each grid is anchored and firing.
        await poll(
            lambda: scheduled(rig_api, every),
            lambda found: len(found) >= 1,
            what="a first fire",
            within=RECOVERY_TIMEOUT,
        )

        rig.stack.scheduler.terminate()
        stopped_at = datetime.now().astimezone()
        await asyncio.sleep(DOWNTIME)
        restarted_at = datetime.now().astimezone()
        rig.stack.scheduler.start().wait_ready(STACK_START_TIMEOUT)

        # Every slot of the `all` workflow's grid that fell inside the downtime gets an execution, once. (A regular slot
        # coming due while the catch-up drains may fire before it, or be skipped as busy: v1's rule for a busy lock.)
        anchor = slot_of((await scheduled(rig_api, every))[-1])  # the oldest fire: a point of the grid

        def downtime_slots() -> list[datetime]:
            k = 0
            slots: list[datetime] = []
            while (slot := anchor + k * INTERVAL) < restarted_at:
                if slot > stopped_at + INTERVAL:
                    slots.append(slot)
                k += 1
            return slots

        missed = downtime_slots()
        assert len(missed) >= 3, missed

        def caught_up(found: list[dict[str, Any]]) -> bool:
            return set(missed) <= {slot_of(e) for e in found}

        executions = await poll(
            lambda: scheduled(rig_api, every), caught_up, what="the downtime caught up", within=RECOVERY_TIMEOUT
        )
        slots = [slot_of(e) for e in executions]
        assert len(slots) == len(set(slots)), f"a slot fired twice: {sorted(slots)}"
        by_creation = sorted(
            (e for e in executions if slot_of(e) in missed), key=lambda e: (e["createdAt"], e["executionId"])
        )
        assert [slot_of(e) for e in by_creation] == missed, "catch-up fires were not oldest first"

        # The `latest` workflow fired the downtime's slots as one, and counted the others as missed.
        collapsed = [
            slot_of(e) for e in await scheduled(rig_api, latest) if stopped_at + INTERVAL < slot_of(e) < restarted_at
        ]
        assert len(collapsed) <= 1, f"latest fired the missed slots {collapsed}"
        trigger = (await get_json(rig_api, f"/workflows/{latest}"))["trigger"]
        assert trigger["missedFires"] >= 2, trigger
    finally:
        # Not left firing every 2 s under the rest of the failure tests, which share this rig.
        for workflow_id in (every, latest):
            await rig_api.delete(f"/workflows/{workflow_id}")
