"""A runner killed (SIGKILL) in the middle of an execution: its work is taken over once its lease lapses, the
execution resumes at the action that was in flight, the actions that had succeeded are not run again, and the
trigger still has exactly one execution record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from tests.e2e.conftest import STACK_START_TIMEOUT
from tests.e2e.failures.conftest import RECOVERY_TIMEOUT, Rig
from tests.e2e.helpers import (
    create_manual_workflow,
    get_json,
    http_action,
    log_action,
    trigger,
    wait_for_execution,
    wait_for_requests,
)
from tests.e2e.target import TargetServer

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class CrashedRun:
    execution: dict[str, Any]
    workflow_after: dict[str, Any]
    records: list[dict[str, Any]]
    runner_exit: int | None
    done_before_requests: int
    in_flight_requests: int


@pytest.fixture(scope="module")
async def crashed_run(rig: Rig, rig_api: httpx.AsyncClient, target: TargetServer) -> CrashedRun:
    done_before, in_flight = target.path("done-before"), target.path("in-flight")
    target.hold(in_flight)
    workflow_id = await create_manual_workflow(
        rig_api,
        "crash",
        http_action(target.url(done_before)),
        http_action(target.url(in_flight), timeout="30s"),
        log_action("after the crash"),
    )
    execution_id = await trigger(rig_api, workflow_id)
    await wait_for_requests(target, in_flight, 1)

    runner_exit = rig.stack.runner.kill()
    target.release(in_flight)
    rig.stack.runner.start().wait_ready(STACK_START_TIMEOUT)
    execution = await wait_for_execution(rig_api, execution_id, within=RECOVERY_TIMEOUT)

    workflow_after = await get_json(rig_api, f"/workflows/{workflow_id}")
    records = (await get_json(rig_api, f"/workflows/{workflow_id}/executions"))["items"]
    return CrashedRun(
        execution, workflow_after, records, runner_exit, target.count(done_before), target.count(in_flight)
    )


def test_the_runner_really_died_of_sigkill(crashed_run: CrashedRun) -> None:
    assert crashed_run.runner_exit == -9


def test_execution_of_a_killed_runner_is_taken_over_and_succeeds(crashed_run: CrashedRun) -> None:
    assert crashed_run.execution["status"] == "succeeded", crashed_run.execution
    assert crashed_run.execution["attempt"] == 1


def test_the_trigger_has_exactly_one_execution_record(crashed_run: CrashedRun) -> None:
    assert [record["executionId"] for record in crashed_run.records] == [crashed_run.execution["executionId"]]


def test_action_that_succeeded_before_the_crash_is_not_run_again(crashed_run: CrashedRun) -> None:
    actions = crashed_run.execution["actions"]

    assert crashed_run.done_before_requests == 1
    assert (actions[0]["status"], actions[0]["attempts"]) == ("succeeded", 1)


def test_action_in_flight_at_the_crash_is_run_again(crashed_run: CrashedRun) -> None:
    actions = crashed_run.execution["actions"]

    assert crashed_run.in_flight_requests == 2
    assert [(a["status"], a["attempts"]) for a in actions[1:]] == [("succeeded", 2), ("succeeded", 1)]


def test_lock_is_idle_after_the_taken_over_execution(crashed_run: CrashedRun) -> None:
    trigger = crashed_run.workflow_after["trigger"]

    assert (trigger["status"], trigger["executionId"]) == ("idle", None)
