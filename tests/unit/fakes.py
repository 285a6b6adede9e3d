"""Fakes more than one unit suite needs: a start time for fake clocks, a recording publisher, and a way to store a
workflow as the API would."""

from __future__ import annotations

from datetime import UTC, datetime

from wfa.domain.errors import DependencyUnavailable
from wfa.domain.schedule import first_fire
from wfa.domain.workflow import Workflow, WorkflowDefinition
from wfa.events import ExecutionRequest
from wfa.service_layer.triggering import Triggering

START = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


class RecordingPublisher:
    """Keeps what was published; `down` makes it fail as a broker outage would."""

    def __init__(self) -> None:
        self.sent: list[ExecutionRequest] = []
        self.down = False

    async def publish(self, request: ExecutionRequest) -> None:
        if self.down:
            raise DependencyUnavailable("kafka", "test broker is down")
        self.sent.append(request)


async def add_workflow(deps: Triggering, trigger: dict[str, str], workflow_id: str = "w") -> Workflow:
    """Store a workflow created now, as the API would: its first slot computed from its creation time."""
    definition = WorkflowDefinition.model_validate(
        {"workflowId": workflow_id, "trigger": trigger, "actions": [{"type": "log", "message": "hi"}]}
    )
    now = deps.clock.now()
    workflow = Workflow.create(definition, now=now, next_run_at=first_fire(definition.trigger, now))
    await deps.workflows.add(workflow)
    return workflow
