"""`whenBusy: queue` over the real services: a trigger on a full lock is accepted and its execution waits, its request
unsent; beyond `queueMax` a trigger is 409 `queue_full`; waiting executions reach the target in the order they were
accepted, never more at once than the limit; a cancelled one never starts and the queue goes on; scheduled fires on a
full lock wait too, and are skipped only once the queue is full.

The action posts its execution's id, so the target tells which execution each request came from; the target holds
the requests and lets them go one at a time (`release_one`), so that two requests at once would be seen there
(`most_at_once`) whenever they happened, not only if a poll caught them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from tests.e2e.helpers import (
    assert_problem,
    create_workflow,
    get_json,
    http_action,
    manual_workflow,
    poll,
    trigger,
    unique_id,
    wait_for_execution,
    wait_for_requests,
)
from tests.e2e.target import TargetServer

pytestmark = pytest.mark.e2e

# How soon the next waiting execution must reach the target once a slot frees: well under the repair sweep's 30 s
# (repair_after_seconds), so that a queue moved only by the sweep, not by the end or the cancel, fails.
PROMPTLY = 10.0


class Queueing:
    """Creates workflows whose one action posts to a path the target holds, and cleans up after the test: the
    workflows deleted (the stack serves the whole session; a delete also cancels what still waits), then the held
    requests answered."""

    def __init__(self, api: httpx.AsyncClient, target: TargetServer) -> None:
        self.api = api
        self.target = target
        self.workflows: list[str] = []
        self.paths: list[str] = []

    async def create(
        self, stem: str, *, limit: int, queue_max: int, trigger: dict[str, Any] | None = None
    ) -> tuple[str, str]:
        """A workflow with this concurrency (`whenBusy: queue`) whose action's requests the target holds; its id and
        the action's path."""
        path = self.target.path(stem)
        self.target.hold(path)
        self.paths.append(path)
        workflow_id = unique_id(stem)
        action = http_action(self.target.url(path), "POST", body={"execution": "{{ execution.id }}"}, timeout="60s")
        definition = manual_workflow(
            workflow_id,
            action,
            retry={"maxAttempts": 1},
            concurrency={"limit": limit, "whenBusy": "queue", "queueMax": queue_max},
        )
        if trigger is not None:
            definition["trigger"] = trigger
        await create_workflow(self.api, definition)
        self.workflows.append(workflow_id)
        return workflow_id, path

    async def close(self) -> None:
        for workflow_id in self.workflows:
            await self.api.delete(f"/workflows/{workflow_id}")
        for path in self.paths:
            self.target.release(path)


@pytest.fixture
async def queueing(api: httpx.AsyncClient, target: TargetServer) -> AsyncIterator[Queueing]:
    made = Queueing(api, target)
    try:
        yield made
    finally:
        await made.close()


def arrivals(target: TargetServer, path: str) -> list[str]:
    """The executions whose requests reached `path`, in the order they arrived."""
    return [request.json()["execution"] for request in target.requests(path)]


async def trigger_state(api: httpx.AsyncClient, workflow_id: str) -> dict[str, Any]:
    state: dict[str, Any] = (await get_json(api, f"/workflows/{workflow_id}"))["trigger"]
    return state


async def test_triggers_on_a_full_lock_wait_then_run_one_at_a_time_in_the_order_accepted(
    api: httpx.AsyncClient, target: TargetServer, queueing: Queueing
) -> None:
    workflow_id, path = await queueing.create("queue-fifo", limit=1, queue_max=3)

    # One after another, so that the order of the 202s is the order of acceptance.
    responses = [await api.post(f"/workflows/{workflow_id}/trigger") for _ in range(5)]

    assert [r.status_code for r in responses] == [202, 202, 202, 202, 409], [r.text for r in responses]
    refused = assert_problem(responses[-1], 409)
    accepted = [r.json()["executionId"] for r in responses[:4]]
    assert (refused["reason"], refused["executionId"]) == ("queue_full", accepted[0])
    assert {r.json()["status"] for r in responses[:4]} == {"queued"}
    first, *waiting = accepted
    await wait_for_requests(target, path, 1)
    state = await trigger_state(api, workflow_id)
    assert (state["executionId"], state["running"], state["queued"], state["waiting"]) == (first, 1, 3, waiting)
    assert (await get_json(api, f"/executions/{first}"))["status"] == "running"
    for execution_id in waiting:
        execution = await get_json(api, f"/executions/{execution_id}")
        assert (execution["status"], execution["waiting"]) == ("queued", True)

    for reached in range(2, len(accepted) + 1):
        target.release_one(path)
        await wait_for_requests(target, path, reached, within=PROMPTLY)
    target.release_one(path)

    for execution_id in accepted:
        assert (await wait_for_execution(api, execution_id))["status"] == "succeeded"
    assert arrivals(target, path) == accepted
    assert target.most_at_once(path) == 1
    state = await trigger_state(api, workflow_id)
    assert (state["running"], state["queued"], state["waiting"]) == (0, 0, [])


async def test_a_draining_queue_never_runs_more_than_the_limit_at_once(
    api: httpx.AsyncClient, target: TargetServer, queueing: Queueing
) -> None:
    workflow_id, path = await queueing.create("queue-limit-two", limit=2, queue_max=4)

    responses = await asyncio.gather(*(api.post(f"/workflows/{workflow_id}/trigger") for _ in range(6)))

    assert [r.status_code for r in responses] == [202] * 6, [r.text for r in responses]
    accepted = [r.json()["executionId"] for r in responses]
    await wait_for_requests(target, path, 2)
    state = await trigger_state(api, workflow_id)
    assert (state["running"], state["queued"]) == (2, 4)
    waiting = state["waiting"]
    holders = [state["executionId"], *state["holders"]]
    assert sorted(holders + waiting) == sorted(accepted)

    # Each release frees one slot while the other stays held: the head of the queue takes it, and only it.
    for reached in range(3, len(accepted) + 1):
        target.release_one(path)
        await wait_for_requests(target, path, reached, within=PROMPTLY)
    target.release(path)

    for execution_id in accepted:
        assert (await wait_for_execution(api, execution_id))["status"] == "succeeded"
    assert target.most_at_once(path) == 2
    arrived = arrivals(target, path)
    assert (sorted(arrived[:2]), arrived[2:]) == (sorted(holders), waiting)
    assert (await trigger_state(api, workflow_id))["running"] == 0


async def test_a_cancelled_waiting_execution_never_starts_and_the_queue_goes_on(
    api: httpx.AsyncClient, target: TargetServer, queueing: Queueing
) -> None:
    workflow_id, path = await queueing.create("queue-cancel", limit=1, queue_max=5)
    first = await trigger(api, workflow_id)
    doomed = await trigger(api, workflow_id)
    last = await trigger(api, workflow_id)
    await wait_for_requests(target, path, 1)

    cancelled = await api.post(f"/executions/{doomed}/cancel")

    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled"), cancelled.text
    state = await trigger_state(api, workflow_id)
    assert (state["executionId"], state["waiting"], state["queued"]) == (first, [last], 1)
    target.release(path)
    await wait_for_requests(target, path, 2, within=PROMPTLY)
    assert (await wait_for_execution(api, first))["status"] == "succeeded"
    assert (await wait_for_execution(api, last))["status"] == "succeeded"
    gone = await get_json(api, f"/executions/{doomed}")
    assert (gone["status"], gone["waiting"]) == ("cancelled", False)
    assert arrivals(target, path) == [first, last]


async def test_cancelling_the_running_execution_starts_the_next_waiting_one(
    api: httpx.AsyncClient, target: TargetServer, queueing: Queueing
) -> None:
    workflow_id, path = await queueing.create("queue-cancel-holder", limit=1, queue_max=5)
    first = await trigger(api, workflow_id)
    second = await trigger(api, workflow_id)
    await wait_for_requests(target, path, 1)

    cancelled = await api.post(f"/executions/{first}/cancel")

    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled"), cancelled.text
    # The first one's request is still held: the second started on the cancel, not on an end of the first's run.
    await wait_for_requests(target, path, 2, within=PROMPTLY)
    state = await trigger_state(api, workflow_id)
    assert (state["executionId"], state["queued"]) == (second, 0)
    target.release(path)
    assert (await wait_for_execution(api, second))["status"] == "succeeded"
    assert (await get_json(api, f"/executions/{first}"))["status"] == "cancelled"
    assert arrivals(target, path) == [first, second]


async def test_scheduled_fires_on_a_full_lock_wait_and_are_skipped_only_once_the_queue_is_full(
    api: httpx.AsyncClient, target: TargetServer, queueing: Queueing
) -> None:
    workflow_id, path = await queueing.create(
        "queue-periodic", limit=1, queue_max=2, trigger={"type": "periodic", "interval": "1s"}
    )

    full = await poll(
        lambda: trigger_state(api, workflow_id),
        lambda state: state["queued"] == 2 or state["skippedFires"] > 0,
        what="two fires waiting behind the held one",
        within=15.0,
        interval=0.1,
    )
    skipping = await poll(
        lambda: trigger_state(api, workflow_id),
        lambda state: state["skippedFires"] > 0,
        what="a fire skipped once the queue is full",
        within=10.0,
        interval=0.1,
    )

    assert (full["running"], full["queued"], full["firedFires"], full["skippedFires"]) == (1, 2, 3, 0), full
    assert (skipping["running"], skipping["waiting"]) == (1, full["waiting"]), skipping
    assert target.count(path) == 1
    for execution_id in full["waiting"]:
        execution = await get_json(api, f"/executions/{execution_id}")
        assert (execution["reason"], execution["status"], execution["waiting"]) == ("schedule", "queued", True)
