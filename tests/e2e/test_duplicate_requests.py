"""The runner as an idempotent consumer, through the real processes: copies of an execution's request, published
while it runs and after it finished, are consumed as no-ops. No action runs twice and no second execution
appears."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from tests.e2e.helpers import (
    create_manual_workflow,
    get_json,
    http_action,
    log_action,
    poll,
    trigger,
    wait_for_execution,
    wait_for_requests,
)
from tests.e2e.target import TargetServer

from wfa.domain.execution import Reason
from wfa.events import ExecutionRequest
from wfa_devstack import ServiceStack

pytestmark = pytest.mark.e2e

COPIES = 3


async def test_duplicated_requests_run_nothing_twice_and_create_no_execution(
    api: httpx.AsyncClient, services: ServiceStack, kafka_bootstrap: str, target: TargetServer
) -> None:
    held = target.path("duplicated")
    target.hold(held)
    workflow_id = await create_manual_workflow(
        api, "duplicated", log_action("once"), http_action(target.url(held), timeout="30s")
    )
    execution_id = await trigger(api, workflow_id)
    await wait_for_requests(target, held, 1)
    copy = ExecutionRequest(
        execution_id=execution_id,
        workflow_id=workflow_id,
        workflow_version=1,
        attempt=1,
        reason=Reason.MANUAL,
        requested_at=datetime.now(UTC),
    ).to_json()
    topic = f"{services.runner.env['WFA_TOPIC_PREFIX']}execution-requests"

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for _ in range(COPIES):  # while it runs
            await producer.send_and_wait(topic, copy, key=workflow_id.encode())
        await _no_ops(services, execution_id, COPIES)
        target.release(held)
        execution = await wait_for_execution(api, execution_id)
        for _ in range(COPIES):  # after it finished
            await producer.send_and_wait(topic, copy, key=workflow_id.encode())
        await _no_ops(services, execution_id, 2 * COPIES)
    finally:
        await producer.stop()
        target.release(held)

    assert execution["status"] == "succeeded", execution
    assert [a["attempts"] for a in execution["actions"]] == [1, 1]
    assert await get_json(api, f"/executions/{execution_id}") == execution
    assert [e["executionId"] for e in (await get_json(api, f"/workflows/{workflow_id}/executions"))["items"]] == [
        execution_id
    ]
    assert target.count(held) == 1


async def _no_ops(services: ServiceStack, execution_id: str, count: int) -> None:
    """Wait until the runner has logged `count` requests for the execution as not ours to run."""

    async def seen() -> int:
        lines = services.runner.log_text().splitlines()
        return sum(1 for line in lines if "execution.not_claimed" in line and execution_id in line)

    await poll(seen, lambda n: n >= count, what=f"{count} no-op requests for {execution_id}")
