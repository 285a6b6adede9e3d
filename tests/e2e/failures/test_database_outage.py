"""MongoDB stopped: the API answers 503 problems (reads and triggers alike, no lock taken), /readyz answers 503
naming MongoDB, and once the server is back every service recovers by itself, without a restart."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from tests.e2e.conftest import STACK_START_TIMEOUT
from tests.e2e.failures.conftest import Rig
from tests.e2e.helpers import (
    assert_problem,
    create_manual_workflow,
    get_json,
    http_action,
    poll,
    run_to_end,
)
from tests.e2e.target import TargetServer

from wfa_devstack import ServiceProcess

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Outage:
    read: httpx.Response
    trigger: httpx.Response
    readiness: dict[str, tuple[int, str]]
    pids_before: list[int | None]
    pids_after: list[int | None]
    workflow_after: dict[str, Any]
    executions_after: list[dict[str, Any]]
    execution: dict[str, Any]
    requests: int


async def _not_ready(process: ServiceProcess) -> tuple[int, str]:
    async def readyz() -> tuple[int, str]:
        return await asyncio.to_thread(process.readyz)

    answer: tuple[int, str] = await poll(
        readyz, lambda answer: answer[0] == 503, what=f"{process.script} /readyz 503 while MongoDB is down"
    )
    return answer


@pytest.fixture(scope="module")
async def outage(rig: Rig, rig_api: httpx.AsyncClient, target: TargetServer) -> Outage:
    path = target.path("db-outage")
    workflow_id = await create_manual_workflow(rig_api, "db-outage", http_action(target.url(path)))
    pids_before = [process.pid for process in rig.stack]

    await asyncio.to_thread(rig.stop_server, rig.mongo)
    read = await rig_api.get(f"/workflows/{workflow_id}")
    trigger = await rig_api.post(f"/workflows/{workflow_id}/trigger")
    readiness = {process.script: await _not_ready(process) for process in rig.stack}
    await asyncio.to_thread(rig.start_server, rig.mongo)

    await asyncio.to_thread(rig.stack.wait_ready, STACK_START_TIMEOUT)
    workflow_after = await get_json(rig_api, f"/workflows/{workflow_id}")
    executions_after = (await get_json(rig_api, f"/workflows/{workflow_id}/executions"))["items"]
    execution = await run_to_end(rig_api, workflow_id)
    return Outage(
        read=read,
        trigger=trigger,
        readiness=readiness,
        pids_before=pids_before,
        pids_after=[process.pid for process in rig.stack],
        workflow_after=workflow_after,
        executions_after=executions_after,
        execution=execution,
        requests=target.count(path),
    )


def test_a_read_is_a_503_problem_while_mongodb_is_down(outage: Outage) -> None:
    problem = assert_problem(outage.read, 503)

    assert problem["type"] == "urn:wfa:problem:dependency-unavailable"
    assert outage.read.headers["retry-after"] == "1"


def test_a_trigger_is_a_503_problem_while_mongodb_is_down(outage: Outage) -> None:
    problem = assert_problem(outage.trigger, 503)

    assert problem["type"] == "urn:wfa:problem:dependency-unavailable"


def test_every_service_reports_mongodb_down(outage: Outage) -> None:
    for script, (status, body) in outage.readiness.items():
        assert status == 503
        assert json.loads(body)["down"] == ["mongodb"], (script, body)


def test_the_refused_trigger_left_no_lock_and_no_execution(outage: Outage) -> None:
    assert (outage.workflow_after["trigger"]["status"], outage.workflow_after["trigger"]["executionId"]) == (
        "idle",
        None,
    )
    assert outage.executions_after == []


def test_the_services_recover_without_a_restart(outage: Outage) -> None:
    assert outage.pids_after == outage.pids_before
    assert outage.execution["status"] == "succeeded", outage.execution
    assert outage.requests == 1
