"""The scenarios: what the processes do before recovery, and what each scenario expects of its executions.

`writes` is the number of writes a scenario makes when nothing fails (test_fault_free_run checks it): the
boundaries k = 1..writes the suite strikes at, one test each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tests.integration.fault_injection.faults import component
from tests.integration.fault_injection.world import LEASE, Gates, Hang, Script, Step, World, succeed

from wfa.domain.errors import ActionFailed
from wfa.domain.execution import ActionStatus, Execution, ExecutionStatus

Expect = Callable[[World, list[Execution]], list[str]]


@dataclass(frozen=True)
class Scenario:
    name: str
    writes: int
    body: dict[str, Any]
    act: Callable[[World], Awaitable[None]]
    expect: Expect
    script: Script = succeed

    def __str__(self) -> str:
        return self.name


def _log(name: str) -> dict[str, Any]:
    return {"type": "log", "name": name, "message": name}


def _http(name: str) -> dict[str, Any]:
    return {"type": "http-request", "name": name, "url": f"https://example.com/{name}"}


MANUAL = {"type": "manual"}
RETRY = {"maxAttempts": 3, "initialInterval": "1s", "backoffRate": 2.0, "maxInterval": "5s"}


def _all(status: ExecutionStatus, actions: list[ActionStatus]) -> Expect:
    def expect(world: World, executions: list[Execution]) -> list[str]:
        return [
            f"{e.execution_id} ended {e.status.value} {[run.status.value for run in e.actions]}, "
            f"expected {status.value} {[a.value for a in actions]}"
            for e in executions
            if (e.status, [run.status for run in e.actions]) != (status, actions)
        ]

    return expect


SUCCEEDED = [ActionStatus.SUCCEEDED, ActionStatus.SUCCEEDED]
THREE_SUCCEEDED = [ActionStatus.SUCCEEDED] * 3


# -- (1) a manual trigger, run to success -------------------------------------------------------------------


async def manual_trigger(world: World) -> None:
    await world.trigger("api")
    await world.deliver_new("runner-1")


# -- (2) a scheduled fire, run to success -------------------------------------------------------------------


async def scheduled_fire(world: World) -> None:
    slot = (await world.store.workflows.get("wf")).trigger.next_run_at
    assert slot is not None
    world.clock.set(slot)
    await world.call("scheduler", world.fire_due())
    await world.deliver_new("runner-1")


# -- (3) an attempt failing retryably, retried by the scheduler, then succeeding ------------------------------


def fails_once(gates: Gates, execution_id: str, action: str, run: int) -> Step:
    if action == "a2" and run == 1:
        return ActionFailed("503 from upstream", kind="http_status", retryable=True)
    return {"ok": action}


async def retried(world: World) -> None:
    await world.trigger("api")
    await world.deliver_new("runner-1")
    world.clock.advance(LEASE / 30)  # the 1 s backoff of the first failure
    await world.call("scheduler", world.retries().run_once(world.clock.now()))
    await world.deliver_new("runner-2")


# -- (4) an attempt failing for good ------------------------------------------------------------------------


def fails_for_good(gates: Gates, execution_id: str, action: str, run: int) -> Step:
    if action == "a2":
        return ActionFailed("404 from upstream", kind="http_status", retryable=False)
    return {"ok": action}


# -- (5) a cancel while an action is in flight --------------------------------------------------------------


def gated_first_execution(gates: Gates, execution_id: str, action: str, run: int) -> Step:
    """The first execution's actions wait for the scenario; any other execution's run at once."""
    return gates[action] if execution_id == "e1" and run == 1 else {"ok": action}


async def cancel_in_flight(world: World) -> None:
    accepted = await world.trigger("api-trigger")
    first = world.start_delivery("runner-1")
    if first is not None:
        await world.eventually(lambda: world.actions.running("e1", "a1") or first.done(), "e1.a1 in flight")
    if accepted is not None:
        await world.cancel("api-cancel", accepted.execution.execution_id)
    world.actions.gates["a1"].set()
    if first is not None:
        # The runner either saw the cancel at its save after a1 and stopped, or (no cancel recorded) runs a2.
        await world.eventually(lambda: world.actions.running("e1", "a2") or first.done(), "e1 stopped or at a2")
    # Another client triggers the workflow now: refused while e1 holds the lock, accepted once it let go.
    await world.trigger("api-trigger-again")
    second = world.start_delivery("runner-2")
    if second is not None:
        await world.eventually(second.done, "the second execution run")
    world.actions.gates["a2"].set()


def cancelled_or_ran(world: World, executions: list[Execution]) -> list[str]:
    problems = []
    for e in executions:
        if e.execution_id in world.cancelled and e.status is not ExecutionStatus.CANCELLED:
            problems.append(f"{e.execution_id}: the cancel returned, yet it ended {e.status.value}")
        elif e.status is ExecutionStatus.CANCELLED:
            if e.execution_id != "e1":
                problems.append(f"{e.execution_id} ended cancelled, only e1 was")
        elif (e.status, [run.status for run in e.actions]) != (ExecutionStatus.SUCCEEDED, SUCCEEDED):
            problems.append(f"{e.execution_id} ended {e.status.value} {[r.status.value for r in e.actions]}")
    return problems


# -- (6) a runner killed in flight; the repair sweep republishes it and another runner takes over -------------


def hangs_first_time(gates: Gates, execution_id: str, action: str, run: int) -> Step:
    """e1.a2 hangs on the runner the scenario kills; it runs at once wherever else it runs (that runner may have
    died before reaching it)."""
    return Hang() if (execution_id, action, component.get()) == ("e1", "a2", "runner-1") else {"ok": action}


async def taken_over(world: World) -> None:
    await world.trigger("api")
    first = world.start_delivery("runner-1")
    if first is not None:
        await world.eventually(lambda: world.actions.running("e1", "a2") or first.done(), "e1.a2 in flight")
        await world.kill(first)
    world.clock.advance(LEASE + LEASE / 30)
    await world.call("scheduler", world.repair().run_once(world.clock.now()))
    await world.deliver_new("runner-2")


# -- (7) a final failure: compensation and onFailure run once each, the execution ends failed ----------------

SAGA = {
    "trigger": MANUAL,
    "retry": RETRY,
    "actions": [{**_log("a1"), "compensate": _http("undo-a1")}, _http("a2")],
    "onFailure": [_http("notify")],
}


def _failed_after_handlers(world: World, executions: list[Execution]) -> list[str]:
    expected = (
        ExecutionStatus.FAILED,
        [ActionStatus.SUCCEEDED, ActionStatus.FAILED],
        [ActionStatus.SUCCEEDED],
        [ActionStatus.SUCCEEDED],
    )
    problems = []
    for e in executions:
        seen = (
            e.status,
            [run.status for run in e.actions],
            [run.status for run in e.compensations or []],
            [run.status for run in e.on_failure or []],
        )
        if seen != expected:
            problems.append(f"{e.execution_id} ended {seen}, expected {expected}")
        if e.error is None or e.error.action != "a2":
            problems.append(f"{e.execution_id}: the error is not a2's: {e.error}")
    return problems


# -- (8) the runner killed while the compensation is in flight; another runner finishes the handlers ----------


def a2_fails_and_undo_hangs_first_time(gates: Gates, execution_id: str, action: str, run: int) -> Step:
    if action == "a2":
        return ActionFailed("404 from upstream", kind="http_status", retryable=False)
    if (execution_id, action, component.get()) == ("e1", "undo-a1", "runner-1"):
        return Hang()
    return {"ok": action}


async def compensation_taken_over(world: World) -> None:
    await world.trigger("api")
    first = world.start_delivery("runner-1")
    if first is not None:
        await world.eventually(lambda: world.actions.running("e1", "undo-a1") or first.done(), "undo-a1 in flight")
        await world.kill(first)
    world.clock.advance(LEASE + LEASE / 30)
    await world.call("scheduler", world.repair().run_once(world.clock.now()))
    await world.deliver_new("runner-2")


# -- (9) concurrency limit 2: three triggers (two win), both run at once, then one more -----------------------


async def limited_to_two(world: World) -> None:
    for who in ("api-1", "api-2", "api-3"):
        await world.trigger(who)
    requests = world.bus.undelivered()
    await asyncio.gather(
        *(world.call(f"runner-{n}", world.runner(f"runner-{n}").run(request)) for n, request in enumerate(requests))
    )
    await world.trigger("api-4")
    await world.deliver_new("runner-3")


def _at_most_two_at_once(world: World, executions: list[Execution]) -> list[str]:
    problems = _all(ExecutionStatus.SUCCEEDED, SUCCEEDED)(world, executions)
    if not world.failures and len(executions) != 3:
        problems.append(f"{len(executions)} executions from 4 triggers on limit 2 without a fault, not 3")
    return problems


# -- (10) whenBusy: queue on limit 1: four triggers (three wait), run in turn; a fifth joins after the first run --


def _queue(limit: int) -> dict[str, Any]:
    return {"limit": limit, "whenBusy": "queue", "queueMax": 10}


async def queued_in_turn(world: World) -> None:
    for who in ("api-1", "api-2", "api-3", "api-4"):
        await world.trigger(who)
    await world.deliver_new("runner-1")
    # Without a fault e2 holds the slot by now and this one waits behind e3 and e4; should runner-1 have died after
    # freeing the slot but before starting e2, this trigger finds the slot free and the queue not empty: it joins
    # the queue all the same, and starts its head.
    await world.trigger("api-5")
    await _deliver_in_turn(world, first=2)


async def _deliver_in_turn(world: World, *, first: int) -> None:
    """Each request as it is published (an execution's end publishes the next one's), a runner process each, one
    after the other (so that the writes come in one order, and write k is the same write in every run); once one
    died, the rest wait for recovery. Recovery runs them side by side."""
    n = first
    while fresh := world.bus.undelivered():
        for request in fresh:
            owner = f"runner-{n}"
            n += 1
            if await world.call(owner, world.runner(owner).run(request)) is None:
                return


def _ran_after_waiting(*, triggers: int, waited: set[str], in_order: bool, cancelled: str | None = None) -> Expect:
    """Every execution succeeded, but `cancelled` (the one the scenario cancels while it waits) may end cancelled,
    having run nothing, and must once its cancel returned (invariants.py checks that none is left waiting and none
    was overtaken). Without a fault, one execution per trigger, and `waited` were seen waiting for a slot.
    `in_order` (limit 1): an execution's first action starts only once the one before it in the queue released the
    slot, so executions start in the order their triggers were decided (`World.issued`), every stored one included
    (one whose trigger's reply was lost holds its place all the same). Above limit 1 a later execution may well
    start first (an earlier one took its slot first, and its runner died): only the order in which slots are taken
    is kept, which the invariant checks."""

    def expect(world: World, executions: list[Execution]) -> list[str]:
        problems = []
        for e in executions:
            runs = [run.status for run in e.actions]
            if e.execution_id in world.cancelled and e.status is not ExecutionStatus.CANCELLED:
                problems.append(f"{e.execution_id}: the cancel returned, yet it ended {e.status.value}")
            elif e.status is ExecutionStatus.CANCELLED:
                if e.execution_id != cancelled:
                    problems.append(f"{e.execution_id} ended cancelled, only {cancelled} was")
                elif ran := sorted(action for execution_id, action in world.actions.runs if execution_id == cancelled):
                    problems.append(f"{e.execution_id} was cancelled while it waited, yet ran {ran}")
            elif (e.status, runs) != (ExecutionStatus.SUCCEEDED, SUCCEEDED):
                problems.append(f"{e.execution_id} ended {e.status.value} {[run.value for run in runs]}")
        first_runs: list[str] = []
        for start in world.actions.starts:
            if start.execution_id not in first_runs:
                first_runs.append(start.execution_id)
        decided = [execution_id for execution_id in world.issued if execution_id in first_runs]
        if in_order and first_runs != decided:
            problems.append(f"executions started in the order {first_runs}, not in the order they joined: {decided}")
        if not world.failures:
            if len(executions) != triggers:
                problems.append(f"{len(executions)} executions from {triggers} triggers without a fault")
            seen_waiting = {other for start in world.actions.starts for other in start.waiting}
            if seen_waiting != waited:
                problems.append(f"without a fault {sorted(waited)} waited for a slot, not {sorted(seen_waiting)}")
        return problems

    return expect


# -- (11) whenBusy: queue on limit 2: five triggers (two take the slots, three wait), the fourth cancelled while it
# waits, the rest run in turn ------------------------------------------------------------------------------------


async def queued_on_two(world: World) -> None:
    accepted = [await world.trigger(who) for who in ("api-1", "api-2", "api-3", "api-4", "api-5")]
    fourth = accepted[3]
    if fourth is not None:
        await world.cancel("api-cancel", fourth.execution.execution_id)
    await _deliver_in_turn(world, first=1)


SCENARIOS = [
    Scenario(
        "manual",
        writes=7,
        body={"trigger": MANUAL, "actions": [_log("a1"), _http("a2")]},
        act=manual_trigger,
        expect=_all(ExecutionStatus.SUCCEEDED, SUCCEEDED),
    ),
    Scenario(
        "scheduled",
        writes=7,
        body={"trigger": {"type": "periodic", "interval": "10m"}, "actions": [_log("a1"), _http("a2")]},
        act=scheduled_fire,
        expect=_all(ExecutionStatus.SUCCEEDED, SUCCEEDED),
    ),
    Scenario(
        "retried",
        writes=13,
        body={"trigger": MANUAL, "retry": RETRY, "actions": [_log("a1"), _http("a2")]},
        act=retried,
        expect=_all(ExecutionStatus.SUCCEEDED, SUCCEEDED),
        script=fails_once,
    ),
    Scenario(
        "failed",
        writes=7,
        body={"trigger": MANUAL, "retry": RETRY, "actions": [_log("a1"), _http("a2")]},
        act=manual_trigger,
        expect=_all(ExecutionStatus.FAILED, [ActionStatus.SUCCEEDED, ActionStatus.FAILED]),
        script=fails_for_good,
    ),
    Scenario(
        "cancelled",
        writes=16,
        body={"trigger": MANUAL, "actions": [_http("a1"), _http("a2")]},
        act=cancel_in_flight,
        expect=cancelled_or_ran,
        script=gated_first_execution,
    ),
    Scenario(
        "taken_over",
        writes=11,
        body={"trigger": MANUAL, "actions": [_log("a1"), _http("a2"), _log("a3")]},
        act=taken_over,
        expect=_all(ExecutionStatus.SUCCEEDED, THREE_SUCCEEDED),
        script=hangs_first_time,
    ),
    Scenario(
        "compensated",
        writes=10,
        body=SAGA,
        act=manual_trigger,
        expect=_failed_after_handlers,
        script=fails_for_good,
    ),
    Scenario(
        "compensation_taken_over",
        writes=13,
        body=SAGA,
        act=compensation_taken_over,
        expect=_failed_after_handlers,
        script=a2_fails_and_undo_hangs_first_time,
    ),
    Scenario(
        "limited",
        writes=22,
        body={"trigger": MANUAL, "concurrency": {"limit": 2}, "actions": [_log("a1"), _http("a2")]},
        act=limited_to_two,
        expect=_at_most_two_at_once,
    ),
    Scenario(
        "queued",
        writes=47,
        body={"trigger": MANUAL, "concurrency": _queue(1), "actions": [_log("a1"), _http("a2")]},
        act=queued_in_turn,
        expect=_ran_after_waiting(triggers=5, waited={"e2", "e3", "e4", "e5"}, in_order=True),
    ),
    Scenario(
        "queued_on_two",
        writes=40,
        body={"trigger": MANUAL, "concurrency": _queue(2), "actions": [_log("a1"), _http("a2")]},
        act=queued_on_two,
        expect=_ran_after_waiting(triggers=5, waited={"e3", "e5"}, in_order=False, cancelled="e4"),
    ),
]
