"""The execution runner on the in-memory repositories, a fake clock, scripted actions and recording publishers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from itertools import count
from typing import Any

import pytest
from tests.unit.runner.fakes import START, CallLog, RecordingEvents, RecordingRequests, ScriptedActions

from wfa.adapters.memory import InMemoryExecutionRepository, InMemoryWorkflowRepository
from wfa.domain.clock import FakeClock
from wfa.domain.execution import Execution
from wfa.domain.workflow import Workflow
from wfa.events import ExecutionRequest
from wfa.service_layer.triggering import Triggering, start_waiting, trigger_manually
from wfa_runner.execution_runner import ExecutionRunner
from wfa_runner.lifecycle_events import LifecycleEvents

OWNER = "runner-test-1"
LEASE = timedelta(seconds=30)


@dataclass
class Harness:
    """Everything a runner test arranges and inspects."""

    clock: FakeClock
    workflows: InMemoryWorkflowRepository
    executions: InMemoryExecutionRepository
    requests: RecordingRequests
    events: RecordingEvents
    calls: list[str] = field(default_factory=list)  # repository calls, in order, across both repositories
    ids: Any = field(default_factory=lambda: count(1))

    def __post_init__(self) -> None:
        self.workflow_log = CallLog(self.workflows, self.calls, "workflows")
        self.execution_log = CallLog(self.executions, self.calls, "executions")
        self.lifecycle = LifecycleEvents(self.events)
        self.triggering = Triggering(
            workflows=self.workflows,
            executions=self.executions,
            publisher=self.requests,
            clock=self.clock,
            new_id=lambda: f"e{next(self.ids)}",
        )

    def runner(self, actions: ScriptedActions, *, lease: timedelta = LEASE, owner: str = OWNER) -> ExecutionRunner:
        return ExecutionRunner(
            workflows=self.workflow_log,
            executions=self.execution_log,
            actions={"log": actions, "http-request": actions},
            events=self.lifecycle,
            clock=self.clock,
            owner=owner,
            lease=lease,
            write_retry_delays=(0.0,),
            start_waiting=partial(
                start_waiting,
                Triggering(
                    workflows=self.workflow_log,
                    executions=self.execution_log,
                    publisher=self.requests,
                    clock=self.clock,
                ),
            ),
        )

    async def trigger(self, workflow: Workflow, input: dict[str, Any] | None = None) -> ExecutionRequest:
        """Store the workflow and trigger it as the API would; the request the runner gets."""
        await self.workflows.add(workflow)
        await trigger_manually(self.triggering, workflow.workflow_id, input=input)
        self.calls.clear()
        return self.requests.sent[-1]

    async def execution(self, execution_id: str) -> Execution:
        return await self.executions.get(execution_id)

    async def retry_due(self, execution_id: str) -> ExecutionRequest:
        """Do what the scheduler does when the retry is due: re-queue it, lock busy again, a new request."""
        pending = await self.executions.get(execution_id)
        assert pending.next_retry_at is not None
        self.clock.set(pending.next_retry_at)
        claimed = await self.executions.claim_retry(execution_id, now=self.clock.now())
        assert claimed is not None
        assert await self.workflows.mark_trigger_busy(claimed.workflow_id, execution_id=execution_id)
        self.calls.clear()
        return ExecutionRequest.for_execution(claimed, self.clock.now())

    async def published_events(self) -> list[str]:
        assert await self.lifecycle.drain(5.0)
        return self.events.types()


@pytest.fixture
def harness() -> Harness:
    return Harness(
        clock=FakeClock(START),
        workflows=InMemoryWorkflowRepository(),
        executions=InMemoryExecutionRepository(),
        requests=RecordingRequests(),
        events=RecordingEvents(),
    )
