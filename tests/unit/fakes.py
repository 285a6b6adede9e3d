"""Fakes more than one unit suite needs: a start time for fake clocks, a recording publisher, a way to store a
workflow as the API would, and one to fail an execution as the runner would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from wfa.domain.errors import ActionFailed, DependencyUnavailable
from wfa.domain.execution import Execution
from wfa.domain.schedule import first_fire
from wfa.domain.workflow import Workflow, WorkflowDefinition
from wfa.events import Event, ExecutionRequest
from wfa.ports.repositories import ExecutionRepository, WorkflowRepository
from wfa.service_layer.finishing import finish
from wfa.service_layer.triggering import Triggering

START = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


class RecordingPublisher:
    """Keeps what was published (requests in `sent`, events in `events`); `down` makes a request fail as a broker
    outage would (events are best effort: they are dropped then)."""

    def __init__(self) -> None:
        self.sent: list[ExecutionRequest] = []
        self.events: list[Event] = []
        self.down = False

    async def publish_event(self, event: Event) -> None:
        if not self.down:
            self.events.append(event)

    async def publish(self, request: ExecutionRequest) -> None:
        if self.down:
            raise DependencyUnavailable("kafka", "test broker is down")
        self.sent.append(request)


async def add_workflow(
    deps: Triggering, trigger: dict[str, str], workflow_id: str = "w", *, concurrency: dict[str, Any] | None = None
) -> Workflow:
    """Store a workflow created now, as the API would: its first slot computed from its creation time."""
    definition = WorkflowDefinition.model_validate(
        {
            "workflowId": workflow_id,
            "trigger": trigger,
            "actions": [{"type": "log", "message": "hi"}],
            **({"concurrency": concurrency} if concurrency is not None else {}),
        }
    )
    now = deps.clock.now()
    workflow = Workflow.create(definition, now=now, next_run_at=first_fire(definition.trigger, now))
    await deps.workflows.add(workflow)
    return workflow


async def fail_as_the_runner_would(
    workflows: WorkflowRepository, executions: ExecutionRepository, execution_id: str, *, succeeded: int, now: datetime
) -> Execution:
    """Run the queued execution's first attempt: its first `succeeded` actions succeed (output `{"n": index}`), the
    next one fails for good; stored and the lock released as the runner finishes. The stored execution."""
    claimed = await executions.claim_for_run(
        execution_id, attempt=1, owner="fake-runner", lease_until=now + timedelta(minutes=1), now=now
    )
    assert claimed is not None, "the execution is not queued at attempt 1"
    execution = claimed.execution
    execution.start_attempt(now)
    for index in range(succeeded):
        execution.begin_action(index, now)
        execution.complete_action(index, {"n": index}, now)
    execution.begin_action(succeeded, now)
    failure = ActionFailed("refused", kind="http_status", retryable=False)
    execution.fail_action(succeeded, failure, claimed.plan, now)

    async def record() -> bool:
        return await executions.save_progress(execution, owner="fake-runner", lease_until=now)

    await finish(
        workflows,
        workflow_id=execution.workflow_id,
        execution_id=execution_id,
        status=execution.status,
        record=record,
    )
    return await executions.get(execution_id)
