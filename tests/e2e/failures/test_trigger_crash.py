"""A process killed (SIGKILL) between taking a workflow's lock and publishing the execution request: no lock is
left stuck and no stored trigger is lost. The test-only hook WFA_TEST_CRASH_AT makes the process kill itself at
exactly that point (wfa.entrypoints.fault_injection), so the window is hit every time.

- after_lock: the lock is held by an execution that was never stored; the repair sweep releases it.
- after_store: the execution is stored (queued) but its request never left; the repair sweep publishes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from tests.e2e.conftest import STACK_START_TIMEOUT
from tests.e2e.failures.conftest import RECOVERY_TIMEOUT, Rig, log_lines, wait_for_log
from tests.e2e.helpers import (
    create_manual_workflow,
    create_workflow,
    get_json,
    http_action,
    poll,
    run_to_end,
    unique_id,
    wait_for_execution,
    wait_for_idle,
)
from tests.e2e.target import TargetServer

from wfa_devstack import ServiceProcess, wait_until

pytestmark = pytest.mark.e2e

CRASH_AT = "WFA_TEST_CRASH_AT"


@contextmanager
def crashing_at(process: ServiceProcess, step: str) -> Iterator[None]:
    """Run `process` with the crash hook armed at `step` for the block; by its end the process must have
    killed itself there. It is then started again without the hook."""
    process.env[CRASH_AT] = step
    try:
        process.restart(STACK_START_TIMEOUT)
        yield
        wait_until(lambda: process.returncode is not None, RECOVERY_TIMEOUT, what=f"{process.script} crashed")
        assert process.exit_reason() == "killed by SIGKILL", process.exit_reason()
        assert log_lines(process, "fault_injection.crashing", f"crash_at={step}"), process.log_tail()
    finally:
        del process.env[CRASH_AT]
        process.terminate()
        process.start().wait_ready(STACK_START_TIMEOUT)


async def _trigger_into_the_crash(api: httpx.AsyncClient, workflow_id: str) -> None:
    with pytest.raises(httpx.TransportError):
        await api.post(f"/workflows/{workflow_id}/trigger")


async def _executions(api: httpx.AsyncClient, workflow_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await get_json(api, f"/workflows/{workflow_id}/executions"))["items"]
    return items


async def test_workflows_service_killed_after_the_lock_leaves_no_stuck_lock(
    rig: Rig, rig_api: httpx.AsyncClient, target: TargetServer
) -> None:
    path = target.path("after-lock")
    workflow_id = await create_manual_workflow(rig_api, "after-lock", http_action(target.url(path)))

    with crashing_at(rig.stack.workflows, "after_lock"):
        await _trigger_into_the_crash(rig_api, workflow_id)
    repaired = await wait_for_log(rig.stack.scheduler, "repair.lock_released", f"workflow_id={workflow_id}")
    await wait_for_idle(rig_api, workflow_id, within=RECOVERY_TIMEOUT)
    after = await run_to_end(rig_api, workflow_id)

    assert "execution missing" in repaired
    assert after["status"] == "succeeded", after
    assert [execution["executionId"] for execution in await _executions(rig_api, workflow_id)] == [after["executionId"]]
    assert target.count(path) == 1


async def test_workflows_service_killed_after_the_store_loses_no_trigger(
    rig: Rig, rig_api: httpx.AsyncClient, target: TargetServer
) -> None:
    path = target.path("after-store")
    workflow_id = await create_manual_workflow(rig_api, "after-store", http_action(target.url(path)))

    with crashing_at(rig.stack.workflows, "after_store"):
        await _trigger_into_the_crash(rig_api, workflow_id)
    (stored,) = await _executions(rig_api, workflow_id)
    republished = await wait_for_log(rig.stack.scheduler, "repair.republished", f"execution_id={stored['executionId']}")
    finished = await wait_for_execution(rig_api, stored["executionId"], within=RECOVERY_TIMEOUT)
    workflow = await wait_for_idle(rig_api, workflow_id)

    assert "request not consumed" in republished
    assert (finished["status"], finished["attempt"]) == ("succeeded", 1), finished
    assert len(await _executions(rig_api, workflow_id)) == 1
    assert target.count(path) == 1
    assert workflow["trigger"]["executionId"] is None


async def test_scheduler_killed_after_the_lock_of_a_fire_leaves_no_stuck_lock(
    rig: Rig, rig_api: httpx.AsyncClient, target: TargetServer
) -> None:
    path = target.path("fire-after-lock")
    workflow_id = unique_id("fire-after-lock")
    definition: dict[str, Any] = {
        "workflowId": workflow_id,
        "trigger": {"type": "periodic", "interval": "2s"},
        "actions": [http_action(target.url(path))],
    }

    with crashing_at(rig.stack.scheduler, "after_lock"):
        await create_workflow(rig_api, definition)
    # The restarted scheduler's sweep frees the lock, and a later slot fires and runs.
    repaired = await wait_for_log(rig.stack.scheduler, "repair.lock_released", f"workflow_id={workflow_id}")
    await poll(
        lambda: get_json(rig_api, f"/workflows/{workflow_id}/executions", status="succeeded"),
        lambda page: bool(page["items"]),
        what=f"a fire of {workflow_id} succeeded after the crash",
        within=RECOVERY_TIMEOUT,
    )
    await rig_api.post(f"/workflows/{workflow_id}/pause")
    await wait_for_idle(rig_api, workflow_id, within=RECOVERY_TIMEOUT)
    executions = await _executions(rig_api, workflow_id)

    assert "execution missing" in repaired
    assert {(execution["reason"], execution["status"]) for execution in executions} == {("schedule", "succeeded")}
    assert target.count(path) == len(executions)
