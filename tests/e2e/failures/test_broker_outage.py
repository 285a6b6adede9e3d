"""Kafka stopped while triggers come in: the API still accepts them (202, the execution stays queued), readiness
says Kafka is down, and once the broker is back (empty: Tansu keeps its topics in memory) every accepted
trigger runs exactly once and every lock is released. Nothing waits for an operator: the services create the
topics again and the scheduler's repair sweep publishes the requests that could not be sent."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from tests.e2e.failures.conftest import RECOVERY_TIMEOUT, Rig
from tests.e2e.helpers import (
    create_manual_workflow,
    get_json,
    http_action,
    log_action,
    poll,
    wait_for_execution,
    wait_for_idle,
)
from tests.e2e.target import TargetServer

pytestmark = pytest.mark.e2e

WORKFLOWS = 3


@dataclass(frozen=True)
class Outage:
    workflow_ids: list[str]
    paths: list[str]
    readiness_while_down: dict[str, Any]
    triggers: list[httpx.Response]
    queued_while_down: list[dict[str, Any]]


@pytest.fixture(scope="module")
async def outage(rig: Rig, rig_api: httpx.AsyncClient, target: TargetServer) -> Outage:
    paths = [target.path("broker-outage") for _ in range(WORKFLOWS)]
    workflow_ids = [
        await create_manual_workflow(rig_api, "broker-outage", log_action("before"), http_action(target.url(path)))
        for path in paths
    ]

    await asyncio.to_thread(rig.stop_server, rig.kafka)
    readiness = await poll(
        lambda: rig_api.get("/readyz"), lambda r: r.status_code == 503, what="readyz 503 while Kafka is down"
    )
    # Side by side: each waits for the broker up to the publish bound before the API answers.
    triggers = await asyncio.gather(*(rig_api.post(f"/workflows/{w}/trigger") for w in workflow_ids))
    queued = [
        await get_json(rig_api, f"/executions/{response.json()['executionId']}")
        for response in triggers
        if response.status_code == 202
    ]
    await asyncio.to_thread(rig.start_server, rig.kafka)
    return Outage(workflow_ids, paths, readiness.json(), triggers, queued)


def test_readiness_names_kafka_while_it_is_down(outage: Outage) -> None:
    assert outage.readiness_while_down["down"] == ["kafka"], outage.readiness_while_down


def test_triggers_are_accepted_while_kafka_is_down(outage: Outage) -> None:
    assert [response.status_code for response in outage.triggers] == [202] * WORKFLOWS, [
        response.text for response in outage.triggers
    ]
    assert [execution["status"] for execution in outage.queued_while_down] == ["queued"] * WORKFLOWS


async def test_every_accepted_trigger_runs_exactly_once_when_kafka_is_back(
    outage: Outage, rig_api: httpx.AsyncClient, target: TargetServer
) -> None:
    finished = [
        await wait_for_execution(rig_api, response.json()["executionId"], within=RECOVERY_TIMEOUT)
        for response in outage.triggers
    ]
    records = [(await get_json(rig_api, f"/workflows/{w}/executions"))["items"] for w in outage.workflow_ids]

    assert [execution["status"] for execution in finished] == ["succeeded"] * WORKFLOWS, finished
    assert [[record["executionId"] for record in items] for items in records] == [
        [response.json()["executionId"]] for response in outage.triggers
    ]
    assert [target.count(path) for path in outage.paths] == [1] * WORKFLOWS


async def test_no_lock_stays_held_after_the_outage(outage: Outage, rig_api: httpx.AsyncClient) -> None:
    for workflow_id in outage.workflow_ids:
        workflow = await wait_for_idle(rig_api, workflow_id, within=RECOVERY_TIMEOUT)
        assert workflow["trigger"]["executionId"] is None
