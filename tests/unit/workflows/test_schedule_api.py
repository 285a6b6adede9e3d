"""GET /workflows/{id}/schedule and POST /workflows/{id}/backfill."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
from tests.unit.fakes import START
from tests.unit.workflows.conftest import assert_problem
from tests.unit.workflows.fakes import SEED, manual_workflow

from wfa.adapters.memory import InMemoryWorkflowRepository
from wfa.domain.clock import FakeClock

WF = "/workflows/recurrent-workflow"


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _at(seconds: int) -> str:
    return iso(START + timedelta(seconds=seconds))


async def test_schedule_lists_the_next_fires_and_empty_counters(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=SEED)

    response = await client.get(f"{WF}/schedule", params={"count": 3})

    assert response.status_code == 200
    assert response.json() == {
        "next": [_at(10), _at(20), _at(30)],
        "timezone": "UTC",
        "recent": [],
        "counters": {"fired": 0, "skipped": 0, "missed": 0},
    }


async def test_schedule_of_a_cron_workflow_follows_its_timezone(client: httpx.AsyncClient) -> None:
    definition = {**SEED, "trigger": {"type": "cron", "cron": "30 2 * * *", "timezone": "Europe/Berlin"}}
    await client.post("/workflows", json=definition)

    body = (await client.get(f"{WF}/schedule", params={"count": 2})).json()

    assert body["timezone"] == "Europe/Berlin"
    assert body["next"] == ["2026-05-02T00:30:00Z", "2026-05-03T00:30:00Z"]  # 02:30 CEST


async def test_schedule_shows_recent_outcomes_newest_first(
    client: httpx.AsyncClient, workflows: InMemoryWorkflowRepository, clock: FakeClock
) -> None:
    await client.post("/workflows", json=SEED)
    slot = START + timedelta(seconds=10)
    await workflows.claim_schedule_slot(
        "recurrent-workflow", slot=slot, next_run_at=slot + timedelta(seconds=10), execution_id="ex-1", now=slot
    )
    await workflows.claim_schedule_slot(
        "recurrent-workflow",
        slot=slot + timedelta(seconds=10),
        next_run_at=slot + timedelta(seconds=20),
        execution_id="ex-2",
        now=slot + timedelta(seconds=10),
    )

    body = (await client.get(f"{WF}/schedule")).json()

    assert body["recent"] == [
        {"slot": _at(20), "outcome": "skipped", "executionId": None},
        {"slot": _at(10), "outcome": "fired", "executionId": "ex-1"},
    ]
    assert body["counters"] == {"fired": 1, "skipped": 1, "missed": 0}
    assert len(body["next"]) == 10


async def test_schedule_of_a_manual_or_paused_workflow_has_no_next_fires(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=manual_workflow("m"))
    await client.post("/workflows", json=SEED)
    await client.post(f"{WF}/pause")

    manual = (await client.get("/workflows/m/schedule")).json()
    paused = (await client.get(f"{WF}/schedule")).json()

    assert (manual["next"], manual["timezone"]) == ([], None)
    assert paused["next"] == []


async def test_schedule_count_is_bounded_and_unknown_workflows_are_404(client: httpx.AsyncClient) -> None:
    await client.post("/workflows", json=SEED)

    assert (await client.get(f"{WF}/schedule", params={"count": 0})).status_code == 422
    assert (await client.get(f"{WF}/schedule", params={"count": 101})).status_code == 422
    assert len((await client.get(f"{WF}/schedule", params={"count": 100})).json()["next"]) == 100
    assert_problem(await client.get("/workflows/nope/schedule"), 404)


# -- backfill ----------------------------------------------------------------------------------------------------


async def test_a_dry_run_lists_the_slots_of_the_grid_extended_backwards(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await client.post("/workflows", json=SEED)
    clock.set(START + timedelta(minutes=5))

    response = await client.post(f"{WF}/backfill", json={"from": _at(-30), "to": _at(0), "dryRun": True})

    assert response.status_code == 200
    assert response.json() == {"slots": [_at(-30), _at(-20), _at(-10)]}


async def test_a_backfill_puts_its_slots_in_the_backlog(
    client: httpx.AsyncClient, workflows: InMemoryWorkflowRepository, clock: FakeClock
) -> None:
    await client.post("/workflows", json=SEED)
    clock.set(START + timedelta(minutes=5))

    response = await client.post(f"{WF}/backfill", json={"from": _at(-30), "to": _at(0)})

    assert response.status_code == 202
    assert response.json() == {
        "slots": 3,
        "workflowId": "recurrent-workflow",
        "first": _at(-30),
        "last": _at(-10),
    }
    backlog = (await workflows.get("recurrent-workflow")).trigger.backlog
    assert [(entry.slot, entry.backfill) for entry in backlog] == [
        (START + timedelta(seconds=s), True) for s in (-30, -20, -10)
    ]


async def test_slots_from_now_on_are_left_to_the_schedule(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await client.post("/workflows", json=SEED)
    clock.set(START + timedelta(seconds=25))

    response = await client.post(f"{WF}/backfill", json={"from": _at(0), "to": _at(60), "dryRun": True})

    assert response.json() == {"slots": [_at(0), _at(10), _at(20)]}


async def test_backfill_refuses_a_reversed_range_a_manual_workflow_and_too_many_slots(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await client.post("/workflows", json=SEED)
    await client.post("/workflows", json=manual_workflow("m"))
    clock.set(START + timedelta(days=1))

    reversed_range = await client.post(f"{WF}/backfill", json={"from": _at(10), "to": _at(0)})
    manual = await client.post("/workflows/m/backfill", json={"from": _at(0), "to": _at(10)})
    too_many = await client.post(f"{WF}/backfill", json={"from": _at(0), "to": _at(10_010), "dryRun": True})
    at_most = await client.post(f"{WF}/backfill", json={"from": _at(0), "to": _at(10_000), "dryRun": True})
    naive = await client.post(f"{WF}/backfill", json={"from": "2026-05-01T08:00:00", "to": _at(10)})

    for refused in (reversed_range, manual, too_many, naive):
        assert_problem(refused, 422)
    assert len(at_most.json()["slots"]) == 1000
    assert_problem(await client.post("/workflows/nope/backfill", json={"from": _at(0), "to": _at(10)}), 404)
