"""Scheduled fires with two scheduler processes side by side: they share the shards of the schedule (so claims are
not lost to each other), each slot fires at most once, none is missed, a scheduler killed with SIGKILL leaves the
other to take its shards over and fire, pause and resume keep the grid, a busy workflow skips.

This module runs a stack of its own with two schedulers. Nothing here asserts on how late a fire came (the
machine is shared): fires are identified by their slot (`scheduledFor`), and counted against the grid
`createdAt + k × interval`, with a slot of tolerance where the scheduler may legitimately collapse late slots.
"""

from __future__ import annotations

import asyncio
import math
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pymongo import MongoClient
from tests.e2e.conftest import E2E_ENV, STACK_START_TIMEOUT, sibling_database
from tests.e2e.helpers import create_workflow, get_json, http_action, log_action, poll, unique_id, wait_for_idle
from tests.e2e.target import TargetServer

from wfa.domain.shards import SHARDS, shard_of
from wfa_devstack import ServiceProcess, ServiceStack, start_services

pytestmark = pytest.mark.e2e

INTERVAL = timedelta(seconds=1)
FIRES_WITH_TWO = 8  # slots fired while both schedulers run
FIRES_AFTER_KILL = 5  # slots fired by the survivor
# A short shard lease, so that the survivor takes the killed scheduler's shards over within two slots: until then
# that workflow's slots are not fired, and collapse into one fire as after downtime (docs/scheduler.md).
SHARD_LEASE_SECONDS = 1.5
TAKEOVER_SLOTS = math.ceil(SHARD_LEASE_SECONDS * 4 / 3 / INTERVAL.total_seconds())
# How many slots a phase may lose to a late pass collapsing them (a loaded machine), beyond those counted as skipped.
MISSED_WITH_TWO = 1
MISSED_AFTER_KILL = 2 + TAKEOVER_SLOTS
# Claims one scheduler loses to the other while both run, once they share the shards.
LOST_WITH_TWO = 1
FIRES_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def two_schedulers(
    mongo_url: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceStack]:
    stack = start_services(
        sibling_database(mongo_url, "_sched"),
        kafka_bootstrap,
        f"e2e-sched.{uuid.uuid4().hex[:12]}.",
        extra_env={**E2E_ENV, "WFA_SCHEDULER_SHARD_LEASE_SECONDS": str(SHARD_LEASE_SECONDS)},
        log_dir=tmp_path_factory.mktemp("sched-services"),
        timeout=STACK_START_TIMEOUT,
        schedulers=2,
    )
    with stack:
        yield stack


@pytest.fixture(scope="module")
async def sched_api(two_schedulers: ServiceStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=two_schedulers.api_url, timeout=15.0) as client:
        yield client


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def periodic(workflow_id: str, *actions: dict[str, Any]) -> dict[str, Any]:
    return {"workflowId": workflow_id, "trigger": {"type": "periodic", "interval": "1s"}, "actions": list(actions)}


def slot_index(workflow: dict[str, Any], moment: datetime) -> float:
    """Where `moment` falls on the workflow's grid: k for the slot createdAt + k × interval."""
    return (moment - _at(workflow["createdAt"])) / INTERVAL


async def executions_of(api: httpx.AsyncClient, workflow_id: str) -> list[dict[str, Any]]:
    """Every execution of the workflow, oldest first."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 500} | ({"cursor": cursor} if cursor else {})
        page = await get_json(api, f"/workflows/{workflow_id}/executions", **params)
        items.extend(page["items"])
        cursor = page["nextCursor"]
        if cursor is None:
            return list(reversed(items))


async def wait_for_slots(
    api: httpx.AsyncClient, workflow_id: str, count: int, *, after: datetime | None = None
) -> list[dict[str, Any]]:
    """Every execution, once `count` of them were fired for slots after `after` (any slot when None)."""

    def fired_after(executions: list[dict[str, Any]]) -> int:
        return sum(after is None or _at(e["scheduledFor"]) > after for e in executions)

    return await poll(
        lambda: executions_of(api, workflow_id),
        lambda executions: fired_after(executions) >= count,
        what=f"{count} scheduled fires of {workflow_id}",
        within=FIRES_TIMEOUT,
        interval=0.25,
    )


async def pause_and_settle(api: httpx.AsyncClient, workflow_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Pause, then wait until a fire claimed just before the pause has run; the workflow and its executions."""
    response = await api.post(f"/workflows/{workflow_id}/pause")
    assert response.status_code == 200, response.text
    workflow = await wait_for_idle(api, workflow_id)
    return workflow, await executions_of(api, workflow_id)


def fired_slots(workflow: dict[str, Any], executions: list[dict[str, Any]]) -> list[float]:
    assert {e["reason"] for e in executions} == {"schedule"}, executions
    return sorted(slot_index(workflow, _at(e["scheduledFor"])) for e in executions)


def unaccounted(slots: list[float], *, first: int, skipped: int) -> int:
    """Slots from `first` to the last fired one that neither fired nor were counted as skipped: missed."""
    return int(slots[-1]) - first + 1 - len(slots) - skipped


@dataclass(frozen=True)
class KilledRun:
    workflow: dict[str, Any]
    executions: list[dict[str, Any]]
    killed_at: datetime
    killed: ServiceProcess
    lost_with_two: float  # claims lost while both schedulers ran

    @property
    def slots(self) -> list[float]:
        return fired_slots(self.workflow, self.executions)

    @property
    def last_slot_before_kill(self) -> int:
        return max(int(k) for k in self.slots if k < slot_index(self.workflow, self.killed_at))


def scheduler_shards(stack: ServiceStack) -> list[float]:
    """`wfa_scheduler_shards` of each scheduler process: how many shards it holds."""
    return [metric_value(scheduler, "wfa_scheduler_shards") for scheduler in stack.schedulers]


def shards_held_by(mongo_url: str, scheduler: ServiceProcess) -> set[int]:
    """The shards whose lease the scheduler holds, by its name (logged when its shards change)."""
    names = re.findall(r"scheduler\.shards_changed\s.*?owner=(\S+)", scheduler.log_text(since_start=True))
    assert names, scheduler.log_tail()
    with MongoClient(mongo_url) as client:
        leases = client.get_default_database()["scheduler_shards"].find({"owner": names[-1]})
        return {lease["_id"] for lease in leases if isinstance(lease["_id"], int)}


@pytest.fixture(scope="module")
async def killed_run(mongo_url: str, two_schedulers: ServiceStack, sched_api: httpx.AsyncClient) -> KilledRun:
    """A workflow every second: some slots with both schedulers running (each holding half the shards), then the
    one holding the workflow's shard is SIGKILLed and the other takes it over and carries on alone. The killed one
    is started again afterwards, for the rest of the module."""
    await poll(
        lambda: asyncio.to_thread(scheduler_shards, two_schedulers),
        lambda held: sum(held) == SHARDS and min(held) > 0,
        what="the two schedulers sharing the shards",
        within=FIRES_TIMEOUT,
        interval=0.25,
    )
    killed = two_schedulers.schedulers[1]
    doomed = shards_held_by(sibling_database(mongo_url, "_sched"), killed)
    workflow_id = next(
        candidate for candidate in (unique_id("two-schedulers") for _ in range(1000)) if shard_of(candidate) in doomed
    )
    lost_before = scheduler_fires(two_schedulers, "lost")
    await create_workflow(sched_api, periodic(workflow_id, log_action("tick")))
    await wait_for_slots(sched_api, workflow_id, FIRES_WITH_TWO)
    lost_with_two = scheduler_fires(two_schedulers, "lost") - lost_before
    killed_at = datetime.now(UTC)
    killed.kill()
    try:
        await wait_for_slots(sched_api, workflow_id, FIRES_AFTER_KILL, after=killed_at)
        workflow, executions = await pause_and_settle(sched_api, workflow_id)
    finally:
        killed.start().wait_ready(STACK_START_TIMEOUT)
    return KilledRun(workflow, executions, killed_at, killed, lost_with_two)


def test_two_schedulers_do_not_lose_claims_to_each_other(killed_run: KilledRun) -> None:
    assert killed_run.lost_with_two <= LOST_WITH_TWO


def test_no_slot_fires_twice_with_two_schedulers(killed_run: KilledRun) -> None:
    slots = killed_run.slots

    assert len(slots) == len(set(slots)), slots


def test_every_fire_is_on_the_grid(killed_run: KilledRun) -> None:
    assert all(k == int(k) and k >= 1 for k in killed_run.slots), killed_run.slots


def test_no_slot_is_missed_while_both_schedulers_run(killed_run: KilledRun) -> None:
    before_kill = [k for k in killed_run.slots if k <= killed_run.last_slot_before_kill]
    skipped = killed_run.workflow["trigger"]["skippedFires"]

    assert unaccounted(before_kill, first=1, skipped=skipped) <= MISSED_WITH_TWO, (before_kill, skipped)


def test_the_other_scheduler_keeps_firing_after_one_is_killed(killed_run: KilledRun) -> None:
    after_kill = [k for k in killed_run.slots if k > killed_run.last_slot_before_kill]
    skipped = killed_run.workflow["trigger"]["skippedFires"]

    assert killed_run.killed.exit_reason() is None  # started again by the fixture
    assert len(after_kill) >= FIRES_AFTER_KILL
    missed = unaccounted(after_kill, first=killed_run.last_slot_before_kill + 1, skipped=skipped)
    assert missed <= MISSED_AFTER_KILL, (after_kill, skipped)


async def test_pause_stops_the_fires_and_resume_keeps_the_original_grid(sched_api: httpx.AsyncClient) -> None:
    workflow_id = unique_id("pause-resume")
    created = await create_workflow(sched_api, periodic(workflow_id, log_action("tick")))
    await wait_for_slots(sched_api, workflow_id, 2)

    paused, _ = await pause_and_settle(sched_api, workflow_id)
    paused_at = _at(paused["updatedAt"])
    await asyncio.sleep(3 * INTERVAL.total_seconds())  # slots that would have fired, were it not paused
    response = await sched_api.post(f"/workflows/{workflow_id}/resume")
    assert response.status_code == 200, response.text
    resumed = response.json()
    resumed_at = _at(resumed["updatedAt"])
    executions = await wait_for_slots(sched_api, workflow_id, 2, after=resumed_at)
    await sched_api.post(f"/workflows/{workflow_id}/pause")

    assert paused["trigger"]["nextRunAt"] is None
    next_slot = slot_index(created, _at(resumed["trigger"]["nextRunAt"]))
    assert next_slot == int(next_slot)
    assert resumed_at < _at(resumed["trigger"]["nextRunAt"]) <= resumed_at + INTERVAL
    slots = [_at(e["scheduledFor"]) for e in executions]
    assert not [slot for slot in slots if paused_at < slot < resumed_at], (paused_at, resumed_at, slots)
    assert all(k == int(k) for k in fired_slots(created, executions)), slots


async def test_a_busy_workflow_skips_its_slots_and_never_runs_twice_at_once(
    two_schedulers: ServiceStack, sched_api: httpx.AsyncClient, target: TargetServer
) -> None:
    slow = target.path("slow")
    target.hold(slow)
    workflow_id = unique_id("busy")
    created = await create_workflow(sched_api, periodic(workflow_id, http_action(target.url(slow), timeout="60s")))
    try:
        await poll(
            lambda: get_json(sched_api, f"/workflows/{workflow_id}"),
            lambda w: w["trigger"]["skippedFires"] >= 2,
            what="two skipped fires while the first execution hangs",
            within=FIRES_TIMEOUT,
        )
    finally:
        target.release(slow)
    await wait_for_slots(sched_api, workflow_id, 2)  # the one that hung, and one once it was done
    workflow, executions = await pause_and_settle(sched_api, workflow_id)

    skipped = workflow["trigger"]["skippedFires"]
    assert skipped >= 2
    assert all(k == int(k) for k in fired_slots(created, executions))
    finished = [e for e in executions if e["status"] == "succeeded"]
    assert len(finished) == len(executions) >= 2, executions
    for earlier, later in pairwise(finished):
        assert _at(later["createdAt"]) >= _at(earlier["finishedAt"]), (earlier, later)
    assert scheduler_fires(two_schedulers, "skipped") >= skipped
    assert any(
        "schedule.skipped" in line and workflow_id in line
        for scheduler in two_schedulers.schedulers
        for line in scheduler.log_text(since_start=False).splitlines()
    )


def scheduler_fires(stack: ServiceStack, outcome: str) -> float:
    """`wfa_schedule_fires_total{outcome}` summed over the scheduler processes."""
    return sum(
        metric_value(scheduler, "wfa_schedule_fires_total", outcome=outcome)
        for scheduler in stack.schedulers
        if scheduler.is_running()
    )


def metric_value(process: ServiceProcess, name: str, **labels: str) -> float:
    text = httpx.get(f"{process.url}/metrics", timeout=10.0).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


DOWNTIME_SLOTS = 3  # slots that pass with no scheduler running
FIRES_AFTER_DOWNTIME = 3  # the collapsed fire, then fires back on the grid


async def utc_now() -> datetime:
    return datetime.now(UTC)


def first_slot_after(workflow: dict[str, Any], moment: datetime) -> int:
    """k of the first slot of the workflow's grid strictly after `moment`."""
    return math.floor(slot_index(workflow, moment)) + 1


async def test_missed_slots_collapse_into_one_fire_then_the_grid_resumes(
    two_schedulers: ServiceStack, sched_api: httpx.AsyncClient
) -> None:
    workflow_id = unique_id("downtime")
    created = await create_workflow(sched_api, periodic(workflow_id, log_action("tick")))
    await wait_for_slots(sched_api, workflow_id, 1)
    # Killed between two fires, so that no fire is left claimed but never dispatched (the lock would stay held).
    await wait_for_idle(sched_api, workflow_id)
    try:
        for scheduler in two_schedulers.schedulers:
            scheduler.kill()
        stopped = await wait_for_idle(sched_api, workflow_id)
        before = {e["executionId"] for e in await executions_of(sched_api, workflow_id)}
        first_missed = _at(stopped["trigger"]["nextRunAt"])
        await poll(
            utc_now,
            lambda now: now > first_missed + (DOWNTIME_SLOTS - 1) * INTERVAL,
            what=f"{DOWNTIME_SLOTS} slots passed without a scheduler",
            within=(DOWNTIME_SLOTS + 1) * INTERVAL.total_seconds() + 5.0,
        )
        two_schedulers.scheduler.restart(STACK_START_TIMEOUT)
        await poll(
            lambda: executions_of(sched_api, workflow_id),
            lambda executions: sum(e["executionId"] not in before for e in executions) >= FIRES_AFTER_DOWNTIME,
            what=f"{FIRES_AFTER_DOWNTIME} fires of {workflow_id} after the restart",
            within=FIRES_TIMEOUT,
            interval=0.25,
        )
        workflow, executions = await pause_and_settle(sched_api, workflow_id)
    finally:
        for scheduler in two_schedulers.schedulers:
            if not scheduler.is_running():
                scheduler.restart(STACK_START_TIMEOUT)

    after = sorted((e for e in executions if e["executionId"] not in before), key=lambda e: _at(e["scheduledFor"]))
    collapsed, *following = after
    fired_at = _at(collapsed["createdAt"])
    assert _at(collapsed["scheduledFor"]) == first_missed, (first_missed, after)
    assert fired_at > first_missed + (DOWNTIME_SLOTS - 1) * INTERVAL, collapsed  # the slots were indeed missed
    assert not [e for e in after if first_missed < _at(e["scheduledFor"]) <= fired_at], (fired_at, after)
    assert all(k == int(k) for k in fired_slots(created, after)), after
    # Back on the grid: each fire is for the first slot after the one before it was made (consecutive slots unless
    # a pass came more than an interval late), save for slots skipped while the workflow was busy.
    gaps = [
        slot_index(created, _at(later["scheduledFor"])) - first_slot_after(created, _at(earlier["createdAt"]))
        for earlier, later in pairwise(after)
    ]
    skipped = workflow["trigger"]["skippedFires"] - stopped["trigger"]["skippedFires"]
    assert len(following) >= FIRES_AFTER_DOWNTIME - 1
    assert all(gap >= 0 for gap in gaps) and sum(gaps) == skipped, (gaps, skipped, after)
    assert all(scheduler.exit_reason() is None for scheduler in two_schedulers.schedulers)
