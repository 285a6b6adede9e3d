"""A runner killed in the middle of an execution: its work is taken over once its lease lapses, the execution
resumes at the action that was in flight, and the actions that had succeeded are not run again.

This module runs a stack of its own with short leases and sweeps, so that the takeover happens in seconds."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from tests.e2e.conftest import E2E_ENV, STACK_START_TIMEOUT, sibling_database
from tests.e2e.helpers import (
    create_workflow,
    get_json,
    http_action,
    log_action,
    manual_workflow,
    trigger,
    unique_id,
    wait_for_execution,
    wait_for_requests,
)
from tests.e2e.target import TargetServer

from wfa_devstack import ServiceStack, start_services

pytestmark = pytest.mark.e2e

SHORT_LEASES = {
    "WFA_LEASE_SECONDS": "3",
    "WFA_REPAIR_AFTER_SECONDS": "3",
    "WFA_REDISPATCH_AFTER_SECONDS": "3",
    "WFA_SWEEP_INTERVAL_SECONDS": "1",
}
TAKEOVER_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def crash_stack(
    mongo_url: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceStack]:
    stack = start_services(
        sibling_database(mongo_url, "_crash"),
        kafka_bootstrap,
        f"e2e-crash.{uuid.uuid4().hex[:12]}.",
        extra_env=E2E_ENV | SHORT_LEASES,
        log_dir=tmp_path_factory.mktemp("crash-services"),
        timeout=STACK_START_TIMEOUT,
    )
    with stack:
        yield stack


@pytest.fixture(scope="module")
async def crash_api(crash_stack: ServiceStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=crash_stack.api_url, timeout=15.0) as client:
        yield client


@dataclass(frozen=True)
class CrashedRun:
    execution: dict[str, Any]
    workflow_after: dict[str, Any]
    done_before_requests: int
    in_flight_requests: int


@pytest.fixture(scope="module")
async def crashed_run(crash_stack: ServiceStack, crash_api: httpx.AsyncClient, target: TargetServer) -> CrashedRun:
    done_before, in_flight = target.path("done-before"), target.path("in-flight")
    target.hold(in_flight)
    workflow_id = unique_id("crash")
    await create_workflow(
        crash_api,
        manual_workflow(
            workflow_id,
            http_action(target.url(done_before)),
            http_action(target.url(in_flight), timeout="30s"),
            log_action("after the crash"),
        ),
    )
    execution_id = await trigger(crash_api, workflow_id)
    await wait_for_requests(target, in_flight, 1)

    crash_stack.runner.kill()
    target.release(in_flight)
    crash_stack.runner.start().wait_ready(STACK_START_TIMEOUT)
    execution = await wait_for_execution(crash_api, execution_id, within=TAKEOVER_TIMEOUT)

    workflow_after = await get_json(crash_api, f"/workflows/{workflow_id}")
    return CrashedRun(execution, workflow_after, target.count(done_before), target.count(in_flight))


def test_execution_of_a_killed_runner_is_taken_over_and_succeeds(crashed_run: CrashedRun) -> None:
    assert crashed_run.execution["status"] == "succeeded", crashed_run.execution
    assert crashed_run.execution["attempt"] == 1


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
