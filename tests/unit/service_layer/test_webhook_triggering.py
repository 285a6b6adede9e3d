"""A verified webhook request starts an execution as a manual trigger does (the same path: lock, key, 409s), with
reason `webhook`; a workflow that takes no webhooks is not found, whether it exists or not."""

from __future__ import annotations

import pytest
from tests.unit.fakes import RecordingPublisher, add_workflow

from wfa.domain.errors import TriggerLocked, WebhookNotFound
from wfa.domain.execution import Reason
from wfa.domain.workflow import TriggerStatus
from wfa.ports.repositories import ExecutionFilter
from wfa.service_layer.triggering import Triggering, trigger_by_webhook

HOOK = {"type": "webhook", "secret": "{{ secrets.HOOK }}"}


async def test_a_webhook_starts_an_execution_with_its_input_and_reason_webhook(deps: Triggering) -> None:
    await add_workflow(deps, HOOK)

    result = await trigger_by_webhook(deps, "w", input={"ref": "main"})

    assert result.created
    assert (result.execution.reason, result.execution.input) == (Reason.WEBHOOK, {"ref": "main"})
    assert isinstance(deps.publisher, RecordingPublisher)
    assert [(r.execution_id, r.reason) for r in deps.publisher.sent] == [("e1", Reason.WEBHOOK)]


async def test_an_unknown_workflow_is_not_found(deps: Triggering) -> None:
    with pytest.raises(WebhookNotFound):
        await trigger_by_webhook(deps, "nope")


async def test_a_workflow_without_a_webhook_is_not_found_and_stays_unlocked(deps: Triggering) -> None:
    await add_workflow(deps, {"type": "manual"})

    with pytest.raises(WebhookNotFound):
        await trigger_by_webhook(deps, "w")

    workflow = await deps.workflows.get("w")
    assert (workflow.trigger.status, workflow.trigger.execution_id) == (TriggerStatus.IDLE, None)
    assert (await deps.executions.newest_first(ExecutionFilter(workflow_id="w"), limit=10, cursor=None)).items == []


async def test_a_webhook_while_busy_is_locked_as_a_trigger_is(deps: Triggering) -> None:
    await add_workflow(deps, HOOK)
    first = await trigger_by_webhook(deps, "w")

    with pytest.raises(TriggerLocked) as caught:
        await trigger_by_webhook(deps, "w")

    assert (caught.value.reason, caught.value.execution_id) == ("busy", first.execution.execution_id)


async def test_a_repeated_idempotency_key_returns_the_first_execution(deps: Triggering) -> None:
    await add_workflow(deps, HOOK)
    first = await trigger_by_webhook(deps, "w", input={"n": 1}, idempotency_key="delivery-1")

    again = await trigger_by_webhook(deps, "w", input={"n": 1}, idempotency_key="delivery-1")

    assert not again.created
    assert again.execution.execution_id == first.execution.execution_id
