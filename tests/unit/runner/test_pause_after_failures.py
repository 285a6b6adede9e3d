"""The runner and trigger.pauseAfterFailures: the execution that makes N failures in a row pauses its workflow in
the lock's release, and `workflow.paused` follows the execution's own `execution.failed`."""

from __future__ import annotations

from tests.unit.runner.conftest import Harness
from tests.unit.runner.fakes import (
    START,
    ScriptedActions,
    http_action,
)

from wfa.domain.errors import ActionFailed
from wfa.domain.workflow import PausedReason, Workflow, WorkflowDefinition
from wfa.events import WorkflowEvent
from wfa.service_layer.triggering import trigger_manually
from wfa_runner.execution_runner import RunOutcome


def fragile(pause_after: int) -> Workflow:
    definition = WorkflowDefinition.model_validate(
        {
            "workflowId": "w",
            "trigger": {"type": "manual", "pauseAfterFailures": pause_after},
            "actions": [http_action("a")],
            "retry": {"maxAttempts": 1},
        }
    )
    return Workflow.create(definition, now=START, next_run_at=None)


def refused() -> ActionFailed:
    return ActionFailed("404 from upstream", kind="http_status", retryable=False)


async def run_once(harness: Harness, actions: ScriptedActions) -> RunOutcome:
    await trigger_manually(harness.triggering, "w", input=None)
    return await harness.runner(actions).run(harness.requests.sent[-1])


async def test_the_nth_failure_in_a_row_pauses_the_workflow_and_tells_it_after_the_failure(harness: Harness) -> None:
    await harness.workflows.add(fragile(pause_after=2))

    assert await run_once(harness, ScriptedActions(a=[refused()])) is RunOutcome.FAILED
    assert (await harness.workflows.get("w")).enabled
    assert await run_once(harness, ScriptedActions(a=[refused()])) is RunOutcome.FAILED

    stored = await harness.workflows.get("w")
    assert (stored.enabled, stored.paused_reason, stored.trigger.consecutive_failures) == (
        False,
        PausedReason.FAILURES,
        2,
    )
    types = await harness.published_events()
    assert types[-2:] == ["execution.failed", "workflow.paused"]
    paused = harness.events.events[-1]
    assert isinstance(paused, WorkflowEvent)
    assert (paused.workflow_id, paused.reason, paused.consecutive_failures, paused.execution_id) == (
        "w",
        "failures",
        2,
        "e2",
    )
    assert paused.to_json().startswith(b'{"schemaVersion":1,"type":"workflow.paused","workflowId":"w"')


async def test_a_success_between_failures_starts_the_count_again(harness: Harness) -> None:
    await harness.workflows.add(fragile(pause_after=2))

    await run_once(harness, ScriptedActions(a=[refused()]))
    await run_once(harness, ScriptedActions())
    await run_once(harness, ScriptedActions(a=[refused()]))

    stored = await harness.workflows.get("w")
    assert (stored.enabled, stored.trigger.consecutive_failures) == (True, 1)
    assert "workflow.paused" not in await harness.published_events()
