"""The guarantees checked after recovery, whatever the fault: each returns what it found broken, in words."""

from __future__ import annotations

from collections import Counter

from tests.integration.fault_injection.world import WORKFLOW_ID, World

from wfa.domain.errors import ExecutionNotFound
from wfa.domain.execution import Execution
from wfa.domain.workflow import TriggerStatus


async def broken_guarantees(world: World, executions: list[Execution]) -> list[str]:
    problems = list(world.actions.violations)  # no overlap; no action run again after its success was recorded
    if not world.settled:
        problems.append("recovery did not settle: the state still changed after the last round")
    problems += _succeeded_actions_run_once(world)
    problems += _nothing_overtook_a_waiting_execution(world)
    problems += await _lock_free_or_held_by_live_execution(world)
    problems += _accepted_triggers_finished(world, executions)
    problems += _one_execution_per_trigger_and_slot(world, executions)
    problems += [
        f"{e.execution_id} still {e.status.value}{' (waiting for a slot)' if e.waiting else ''} after recovery"
        for e in executions
        if not e.status.is_final or e.waiting
    ]
    return problems


def _succeeded_actions_run_once(world: World) -> list[str]:
    """An action may run again only when a fault or a kill interrupted the run before its outcome was stored (at
    least once for the action in flight): never more often than that, and never once it succeeded and was
    recorded (TrackedActions notes that as it happens)."""
    interruptions = 1 + world.kills
    # A run after a failed one is the retry policy at work; a run after one that succeeded or was killed is a
    # run again.
    again = {key: sum(earlier != "failed" for earlier in runs[:-1]) for key, runs in world.actions.runs.items()}
    reruns = {key: n for key, n in again.items() if n}
    problems = []
    if sum(reruns.values()) > interruptions:
        problems.append(f"actions ran again {reruns} after {interruptions} interruption(s)")
    return problems


def _nothing_overtook_a_waiting_execution(world: World) -> list[str]:
    """whenBusy: queue is first come, first served: an execution runs an action only once every execution that
    joined the queue before it has left it (taken a slot, or been cancelled), whatever crashed. An entry whose
    execution was never stored holds its place too: it reaches a slot, and the sweep frees that slot later. Checked
    against the queue as read while each run was in flight, hence after its execution took its slot."""
    order = {execution_id: n for n, execution_id in enumerate(world.issued)}
    problems = []
    for start in world.actions.starts:
        if start.execution_id not in order:
            continue  # a backlog slot's execution (its id is derived from the slot): it never waits in the queue
        ahead = [other for other in start.waiting if order.get(other, len(order)) < order[start.execution_id]]
        if ahead:
            problems.append(f"{start.execution_id}.{start.action} ran while {ahead}, queued before it, still waited")
    return problems


async def _lock_free_or_held_by_live_execution(world: World) -> list[str]:
    lock = (await world.store.workflows.get(WORKFLOW_ID)).trigger
    problems = []
    if lock.waiting:
        problems.append(f"{lock.waiting} still wait for a slot after recovery")
    if lock.status is not TriggerStatus.IDLE and lock.execution_id is None:
        problems.append(f"lock {lock.status.value} without a holder")
    if lock.running > world.actions.limit:
        problems.append(f"{lock.running} slots held, beyond the limit of {world.actions.limit}")
    first = [lock.execution_id] if lock.status is not TriggerStatus.IDLE and lock.execution_id is not None else []
    for holder in [*first, *lock.holders]:
        try:
            execution = await world.store.executions.get(holder)
        except ExecutionNotFound:
            problems.append(f"lock {lock.status.value} held by {holder}, which does not exist")
            continue
        if execution.status.is_final:
            problems.append(f"lock {lock.status.value} held by {holder}, which is {execution.status.value}")
        else:
            problems.append(
                f"lock {lock.status.value} still held by {holder} ({execution.status.value}) after recovery"
            )
    return problems


def _accepted_triggers_finished(world: World, executions: list[Execution]) -> list[str]:
    stored = {e.execution_id: e for e in executions}
    problems = []
    for execution_id in world.accepted:
        execution = stored.get(execution_id)
        if execution is None:
            problems.append(f"trigger accepted {execution_id}, which was never stored")
    return problems


def _one_execution_per_trigger_and_slot(world: World, executions: list[Execution]) -> list[str]:
    problems = []
    manual = [e for e in executions if e.scheduled_for is None]
    if len(manual) > world.trigger_calls:
        problems.append(f"{len(manual)} executions from {world.trigger_calls} trigger call(s)")
    slots = Counter(e.scheduled_for for e in executions if e.scheduled_for is not None)
    problems += [f"slot {slot.isoformat()} has {n} executions" for slot, n in slots.items() if n > 1]
    return problems
