"""`concurrency.limit` over the real services: of many concurrent triggers on limit 2 exactly two are accepted and
both run at once (their requests are held by the target at the same time); a finished one frees its slot."""

from __future__ import annotations

import asyncio

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

CONCURRENT_TRIGGERS = 12


async def test_limit_two_runs_exactly_two_at_once_and_a_finished_one_frees_its_slot(
    api: httpx.AsyncClient, target: TargetServer
) -> None:
    path = target.path("limited")
    target.hold(path)
    try:
        workflow_id = await create_manual_workflow(
            api,
            "limited",
            http_action(target.url(path), timeout="60s"),
            retry={"maxAttempts": 1},
            concurrency={"limit": 2},
        )
        url = f"/workflows/{workflow_id}/trigger"

        responses = await asyncio.gather(*(api.post(url) for _ in range(CONCURRENT_TRIGGERS)))

        accepted = [r.json()["executionId"] for r in responses if r.status_code == 202]
        assert len(accepted) == 2, [(r.status_code, r.text) for r in responses]
        for refused in (r for r in responses if r.status_code != 202):
            assert assert_problem(refused, 409)["reason"] == "busy"
        # Both are in flight at the same moment: the target holds two requests unanswered.
        await wait_for_requests(target, path, 2)
        for execution_id in accepted:
            assert (await get_json(api, f"/executions/{execution_id}"))["status"] == "running"
        trigger_state = (await get_json(api, f"/workflows/{workflow_id}"))["trigger"]
        assert trigger_state["running"] == 2
        assert sorted([trigger_state["executionId"], *trigger_state["holders"]]) == sorted(accepted)
        assert_problem(await api.post(url), 409)
    finally:
        target.release(path)

    for execution_id in accepted:
        assert (await wait_for_execution(api, execution_id))["status"] == "succeeded"
    assert target.count(path) == 2
    third = await trigger(api, workflow_id)
    assert (await wait_for_execution(api, third))["status"] == "succeeded"
    assert (await get_json(api, f"/workflows/{workflow_id}"))["trigger"]["running"] == 0
