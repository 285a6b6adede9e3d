"""A trigger cut short between its writes: at the checkpoints (the test-only crash points of WFA_TEST_CRASH_AT),
where each one is reached and what is stored by then; and when storing the execution fails, whether the lock is
kept for the repair sweep (an outage: the insert may have landed) or released (a refusal)."""

from __future__ import annotations

import os
import signal
from itertools import count

import pytest
from tests.unit.fakes import START

from wfa.adapters.memory import InMemoryExecutionRepository, InMemoryWorkflowRepository
from wfa.domain.clock import FakeClock
from wfa.domain.errors import DependencyUnavailable, ExecutionNotFound
from wfa.domain.execution import Execution, ExecutionPlan, ExecutionStatus
from wfa.domain.schedule import first_fire
from wfa.domain.workflow import TriggerStatus, Workflow, WorkflowDefinition
from wfa.entrypoints.fault_injection import crash_at
from wfa.events import ExecutionRequest
from wfa.service_layer.triggering import Triggering, TriggerStep, no_checkpoint, trigger_manually


class Crashed(Exception):
    """Stands in for the SIGKILL: nothing after the checkpoint runs."""


class RecordingPublisher:
    def __init__(self) -> None:
        self.sent: list[ExecutionRequest] = []

    async def publish(self, request: ExecutionRequest) -> None:
        self.sent.append(request)


def _deps(crash: TriggerStep | None, publisher: RecordingPublisher) -> Triggering:
    ids = count(1)

    def checkpoint(step: TriggerStep) -> None:
        if step is crash:
            raise Crashed(step.value)

    return Triggering(
        workflows=InMemoryWorkflowRepository(),
        executions=InMemoryExecutionRepository(),
        publisher=publisher,
        clock=FakeClock(START),
        new_id=lambda: f"e{next(ids)}",
        checkpoint=checkpoint,
    )


async def _add_manual(deps: Triggering) -> None:
    definition = WorkflowDefinition.model_validate(
        {"workflowId": "w", "trigger": {"type": "manual"}, "actions": [{"type": "log", "message": "hi"}]}
    )
    await deps.workflows.add(Workflow.create(definition, now=START, next_run_at=first_fire(definition.trigger, START)))


async def test_a_crash_after_the_lock_leaves_a_held_lock_and_no_execution() -> None:
    publisher = RecordingPublisher()
    deps = _deps(TriggerStep.AFTER_LOCK, publisher)
    await _add_manual(deps)

    with pytest.raises(Crashed):
        await trigger_manually(deps, "w")

    workflow = await deps.workflows.get("w")
    assert (workflow.trigger.status, workflow.trigger.execution_id) == (TriggerStatus.BUSY, "e1")
    with pytest.raises(ExecutionNotFound):
        await deps.executions.get("e1")
    assert publisher.sent == []


async def test_a_crash_after_the_store_leaves_a_queued_execution_never_published() -> None:
    publisher = RecordingPublisher()
    deps = _deps(TriggerStep.AFTER_STORE, publisher)
    await _add_manual(deps)

    with pytest.raises(Crashed):
        await trigger_manually(deps, "w")

    assert (await deps.executions.get("e1")).status is ExecutionStatus.QUEUED
    assert (await deps.workflows.get("w")).trigger.execution_id == "e1"
    assert publisher.sent == []


async def test_without_a_crash_point_the_trigger_publishes() -> None:
    publisher = RecordingPublisher()
    deps = _deps(None, publisher)
    await _add_manual(deps)

    await trigger_manually(deps, "w")

    assert [request.execution_id for request in publisher.sent] == ["e1"]


def test_no_crash_point_is_the_production_checkpoint() -> None:
    assert crash_at(None) is no_checkpoint


def test_an_armed_crash_point_kills_the_process_only_at_its_step(monkeypatch: pytest.MonkeyPatch) -> None:
    kills: list[tuple[int, int]] = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: kills.append((pid, sig)))
    checkpoint = crash_at(TriggerStep.AFTER_STORE)

    checkpoint(TriggerStep.AFTER_LOCK)
    assert kills == []
    checkpoint(TriggerStep.AFTER_STORE)
    assert kills == [(os.getpid(), signal.SIGKILL)]


class FailingStore(InMemoryExecutionRepository):
    """Stores the execution, then raises `error` as if the answer had been lost (or raises before storing)."""

    def __init__(self, error: Exception, *, lands: bool) -> None:
        super().__init__()
        self.error = error
        self.lands = lands

    async def add(self, execution: Execution, plan: ExecutionPlan, *, idempotency_key: str | None) -> None:
        if self.lands:
            await super().add(execution, plan, idempotency_key=idempotency_key)
        raise self.error


async def _trigger_with_store(store: FailingStore) -> tuple[Triggering, RecordingPublisher]:
    publisher = RecordingPublisher()
    deps = Triggering(
        workflows=InMemoryWorkflowRepository(),
        executions=store,
        publisher=publisher,
        clock=FakeClock(START),
        new_id=lambda: "e1",
    )
    await _add_manual(deps)
    with pytest.raises(type(store.error)):
        await trigger_manually(deps, "w")
    return deps, publisher


async def test_an_outage_while_storing_keeps_the_lock_for_the_repair_sweep() -> None:
    # The insert landed but its answer was lost: the lock must stay with the execution the sweep will publish.
    deps, publisher = await _trigger_with_store(FailingStore(DependencyUnavailable("mongodb", "timeout"), lands=True))

    workflow = await deps.workflows.get("w")
    assert (workflow.trigger.status, workflow.trigger.execution_id) == (TriggerStatus.BUSY, "e1")
    assert (await deps.executions.get("e1")).status is ExecutionStatus.QUEUED
    assert publisher.sent == []


async def test_a_refused_store_releases_the_lock_at_once() -> None:
    deps, _ = await _trigger_with_store(FailingStore(ValueError("stored twice"), lands=False))

    workflow = await deps.workflows.get("w")
    assert (workflow.trigger.status, workflow.trigger.execution_id) == (TriggerStatus.IDLE, None)
