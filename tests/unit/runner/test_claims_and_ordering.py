"""The runner's guarantees under crashes and duplicate claims: one claim, one runner; a succeeded action never
runs again, whatever write a crash interrupts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from tests.unit.runner.conftest import LEASE, Harness
from tests.unit.runner.fakes import ScriptedActions, eventually, http_action, log_action, workflow

from wfa.domain.execution import ActionStatus, ExecutionStatus
from wfa.domain.workflow import TriggerStatus
from wfa_runner.actions.base import Output
from wfa_runner.execution_runner import RunOutcome


class Crash(BaseException):
    """The process dies here: nothing after this point runs (a BaseException, so no `except Exception` sees it)."""


def crash_on(harness: Harness, repository: str, method: str) -> None:
    """Make `repository.method` kill the 'process' before it writes anything."""
    target = harness.workflows if repository == "workflows" else harness.executions
    original = getattr(target, method)

    async def crashing(*args: object, **kwargs: object) -> object:
        setattr(target, method, original)  # only the first call dies: the process that takes over is new
        raise Crash(f"{repository}.{method}")

    setattr(target, method, crashing)


@pytest.mark.parametrize("actions", [["a"], ["a", "b"]])
async def test_a_crash_before_the_lock_is_released_never_runs_a_succeeded_action_again(
    harness: Harness, actions: list[str]
) -> None:
    request = await harness.trigger(workflow([log_action(name) for name in actions]))
    crash_on(harness, "workflows", "conclude_trigger_lock")
    first = ScriptedActions()

    with pytest.raises(Crash):
        await harness.runner(first).run(request)

    stored = await harness.execution(request.execution_id)
    assert [run.status for run in stored.actions] == [ActionStatus.SUCCEEDED] * len(actions)
    harness.clock.advance(LEASE + timedelta(seconds=1))
    takeover = ScriptedActions()
    assert await harness.runner(takeover, owner="runner-test-2").run(request) is RunOutcome.SUCCEEDED
    assert takeover.calls == []
    execution = await harness.execution(request.execution_id)
    assert execution.status is ExecutionStatus.SUCCEEDED
    assert [run.attempts for run in execution.actions] == [1] * len(actions)


async def test_a_failed_attempts_result_is_durable_before_the_lock_turns_pending(harness: Harness) -> None:
    from tests.unit.runner.test_execution_runner import RETRY, retryable

    request = await harness.trigger(workflow([http_action("a")], retry=RETRY))
    crash_on(harness, "workflows", "mark_trigger_pending")

    with pytest.raises(Crash):
        await harness.runner(ScriptedActions(a=[retryable()])).run(request)

    stored = await harness.execution(request.execution_id)
    assert stored.status is ExecutionStatus.PENDING
    assert stored.actions[0].status is ActionStatus.FAILED


async def test_a_second_claim_in_the_same_process_stops_the_first(harness: Harness) -> None:
    """A republished request reaching the process whose lease lapsed unnoticed: the second claim wins, and the
    first run must not go on to record anything (with one owner id per process, both passed every check)."""
    request = await harness.trigger(workflow([http_action("a")]))
    gates = [asyncio.Event(), asyncio.Event()]
    started = [asyncio.Event(), asyncio.Event()]

    def hangs(n: int) -> Callable[[], Awaitable[Output]]:
        async def action() -> Output:
            started[n].set()
            await gates[n].wait()
            return {"run": n}

        return action

    runner = harness.runner(ScriptedActions(a=[hangs(0), hangs(1)]))
    first = asyncio.create_task(runner.run(request))
    await started[0].wait()
    harness.clock.advance(LEASE + timedelta(seconds=1))  # the first run's lease lapsed before any renewal
    second = asyncio.create_task(runner.run(request))
    await asyncio.wait_for(started[1].wait(), 5.0)

    gates[0].set()
    first_outcome = await asyncio.wait_for(first, 5.0)
    gates[1].set()
    second_outcome = await asyncio.wait_for(second, 5.0)

    assert (first_outcome, second_outcome) == (RunOutcome.STOPPED, RunOutcome.SUCCEEDED)
    execution = await harness.execution(request.execution_id)
    assert execution.actions[0].output == {"run": 1}


async def test_an_action_whose_lease_lapses_without_renewal_is_stopped_before_a_takeover(harness: Harness) -> None:
    request = await harness.trigger(workflow([http_action("a")]))
    harness.execution_log.fail("renew_lease", times=1_000)  # the database is unreachable for renewals
    running = 0
    most = 0
    stopped = asyncio.Event()

    async def long_action() -> Output:
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            stopped.set()
            raise
        finally:
            running -= 1
        return {}

    lease = timedelta(seconds=0.3)
    first = asyncio.create_task(harness.runner(ScriptedActions(a=[long_action]), lease=lease).run(request))
    await eventually(lambda: running == 1, "the action running")
    harness.clock.advance(lease)  # the lease ran out while every renewal failed

    await asyncio.wait_for(stopped.wait(), 5.0)
    harness.execution_log.failures.clear()
    takeover = await harness.runner(ScriptedActions(), owner="runner-test-2", lease=lease).run(request)

    assert takeover is RunOutcome.SUCCEEDED
    assert await asyncio.wait_for(first, 5.0) is RunOutcome.STOPPED
    assert most == 1


async def test_the_lock_moves_only_after_the_final_record_of_every_action(harness: Harness) -> None:
    request = await harness.trigger(workflow([log_action("a"), log_action("b")]))

    await harness.runner(ScriptedActions()).run(request)

    release = harness.calls.index("workflows.conclude_trigger_lock")
    assert "executions.save_progress" in harness.calls[:release]
    assert harness.calls[release + 1 :] == ["executions.save_progress"]
    lock = (await harness.workflows.get("w")).trigger
    assert lock.status is TriggerStatus.IDLE
