"""The runner and `whenBusy: queue`: the end of an execution hands its slot to the first waiting execution, whose
request is sent then; an execution of a workflow that does not queue costs no extra read at its end."""

from __future__ import annotations

from tests.unit.runner.conftest import Harness
from tests.unit.runner.fakes import START, ScriptedActions, http_action

from wfa.domain.errors import ActionFailed
from wfa.domain.workflow import Workflow, WorkflowDefinition
from wfa.service_layer.triggering import trigger_manually
from wfa_runner.execution_runner import RunOutcome


def queued_workflow(when_busy: str = "queue") -> Workflow:
    definition = WorkflowDefinition.model_validate(
        {
            "workflowId": "w",
            "trigger": {"type": "manual"},
            "actions": [http_action("a")],
            "retry": {"maxAttempts": 1},
            "concurrency": {"whenBusy": when_busy},
        }
    )
    return Workflow.create(definition, now=START, next_run_at=None)


async def test_the_end_of_an_execution_starts_the_first_waiting_one(harness: Harness) -> None:
    first = await harness.trigger(queued_workflow())
    await trigger_manually(harness.triggering, "w")
    await trigger_manually(harness.triggering, "w")
    harness.calls.clear()
    sent_before = [request.execution_id for request in harness.requests.sent]

    outcome = await harness.runner(ScriptedActions()).run(first)

    trigger = (await harness.workflows.get("w")).trigger
    assert outcome is RunOutcome.SUCCEEDED
    assert sent_before == ["e1"]
    assert [request.execution_id for request in harness.requests.sent] == ["e1", "e2"]
    assert (trigger.execution_id, trigger.waiting) == ("e2", ["e3"])
    assert (await harness.execution("e2")).waiting is False
    assert "workflows.get" in harness.calls  # what the end of an execution of a non-queueing workflow never does


async def test_a_failed_execution_hands_its_slot_on_too(harness: Harness) -> None:
    first = await harness.trigger(queued_workflow())
    await trigger_manually(harness.triggering, "w")

    outcome = await harness.runner(ScriptedActions(a=[ActionFailed("no", kind="http_status", retryable=False)])).run(
        first
    )

    assert outcome is RunOutcome.FAILED
    assert harness.requests.sent[-1].execution_id == "e2"


async def test_without_a_queue_the_end_reads_nothing_more(harness: Harness) -> None:
    first = await harness.trigger(queued_workflow("skip"))

    await harness.runner(ScriptedActions()).run(first)

    assert "workflows.get" not in harness.calls
