"""SIGTERM to a runner with an action in flight: it stops taking work, lets the action finish within its grace
period, records the execution, commits and exits 0; nothing runs twice. The next request waits for a runner.
The workflows service and the scheduler exit 0 on SIGTERM too."""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from tests.e2e.conftest import STACK_START_TIMEOUT
from tests.e2e.failures.conftest import RECOVERY_TIMEOUT, Rig, wait_for_log
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
class Shutdown:
    exit_code: int | None
    in_flight: dict[str, Any]  # read once the runner had exited, before any other runner started
    arrived_meanwhile: dict[str, Any]
    arrived_meanwhile_after_restart: dict[str, Any]
    held_requests: int
    later_requests: int


@pytest.fixture(scope="module")
async def shutdown(rig: Rig, rig_api: httpx.AsyncClient, target: TargetServer) -> Shutdown:
    held, later = target.path("drained"), target.path("after-sigterm")
    target.hold(held)
    draining_id = await create_manual_workflow(
        rig_api, "drained", http_action(target.url(held), timeout="30s"), log_action("after the drain")
    )
    later_id = await create_manual_workflow(rig_api, "after-sigterm", http_action(target.url(later)))
    in_flight_id = await trigger(rig_api, draining_id)
    await wait_for_requests(target, held, 1)

    runner = rig.stack.runner
    runner.send_signal(signal.SIGTERM)
    await wait_for_log(runner, "runner.draining")
    later_execution_id = await trigger(rig_api, later_id)
    target.release(held)
    exit_code = await asyncio.to_thread(runner.wait_stopped, RECOVERY_TIMEOUT)
    in_flight = await get_json(rig_api, f"/executions/{in_flight_id}")
    arrived_meanwhile = await get_json(rig_api, f"/executions/{later_execution_id}")

    runner.start().wait_ready(STACK_START_TIMEOUT)
    after_restart = await wait_for_execution(rig_api, later_execution_id, within=RECOVERY_TIMEOUT)
    return Shutdown(exit_code, in_flight, arrived_meanwhile, after_restart, target.count(held), target.count(later))


def test_the_runner_exits_0_after_draining(shutdown: Shutdown) -> None:
    assert shutdown.exit_code == 0


def test_the_action_in_flight_finished_and_the_execution_was_recorded_before_the_exit(shutdown: Shutdown) -> None:
    execution = shutdown.in_flight

    assert execution["status"] == "succeeded", execution
    assert [(a["status"], a["attempts"]) for a in execution["actions"]] == [("succeeded", 1), ("succeeded", 1)]
    assert shutdown.held_requests == 1


def test_a_draining_runner_takes_no_new_work(shutdown: Shutdown) -> None:
    assert shutdown.arrived_meanwhile["status"] == "queued", shutdown.arrived_meanwhile


def test_work_that_arrived_during_the_drain_runs_once_on_the_next_runner(shutdown: Shutdown) -> None:
    assert shutdown.arrived_meanwhile_after_restart["status"] == "succeeded"
    assert shutdown.later_requests == 1


@pytest.mark.parametrize("script", ["workflows-svc", "scheduler-svc"])
async def test_the_other_services_exit_0_on_sigterm(rig: Rig, script: str) -> None:
    process = rig.stack.processes[script]

    exit_code = await asyncio.to_thread(process.terminate, RECOVERY_TIMEOUT)
    last_words = process.log_tail()
    process.start().wait_ready(STACK_START_TIMEOUT)

    assert exit_code == 0, last_words
