"""Webhook triggers in a definition: `trigger: {"type": "webhook", "secret": "{{ secrets.NAME }}"}`, or a `webhook`
object beside another trigger. The secret is a reference, never a value."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from wfa.domain.schedule import first_fire
from wfa.domain.workflow import TriggerType, Workflow, WorkflowDefinition

ACTIONS = [{"type": "log", "message": "hello"}]


def definition(**fields: Any) -> WorkflowDefinition:
    return WorkflowDefinition.model_validate({"workflowId": "w", "actions": ACTIONS, **fields})


def test_a_webhook_trigger_names_its_secret() -> None:
    model = definition(trigger={"type": "webhook", "secret": "{{ secrets.HOOK_SECRET }}"})

    assert model.trigger.type is TriggerType.WEBHOOK
    assert model.webhook_secret_name() == "HOOK_SECRET"


def test_a_webhook_trigger_is_not_scheduled() -> None:
    model = definition(trigger={"type": "webhook", "secret": "{{ secrets.HOOK_SECRET }}"})

    assert not model.trigger.is_scheduled
    assert first_fire(model.trigger, datetime(2026, 1, 1, tzinfo=UTC)) is None


def test_a_cron_workflow_may_also_take_webhooks() -> None:
    model = definition(trigger={"type": "cron", "cron": "0 3 * * *"}, webhook={"secret": "{{ secrets.HOOK }}"})

    assert model.trigger.is_scheduled
    assert model.webhook is not None and model.webhook.type == "webhook"
    assert model.webhook_secret_name() == "HOOK"
    assert definition(trigger={"type": "manual"}, webhook={"type": "webhook", "secret": "{{secrets.HOOK}}"})


def test_a_workflow_without_a_webhook_names_no_secret() -> None:
    assert definition(trigger={"type": "manual"}).webhook_secret_name() is None


@pytest.mark.parametrize(
    "secret",
    [
        "hunter2",  # a value, not a reference
        "{{ secrets.HOOK }} ",
        "Bearer {{ secrets.HOOK }}",
        "{{ secrets.HOOK }}{{ secrets.OTHER }}",
        "{{ secret.HOOK }}",
        "{{ secrets.9HOOK }}",
        "{{ input.token }}",
        "",
    ],
)
def test_the_secret_must_be_exactly_one_secret_reference(secret: str) -> None:
    with pytest.raises(ValidationError) as caught:
        definition(trigger={"type": "webhook", "secret": secret})

    assert caught.value.errors()[0]["loc"][:2] == ("trigger", "secret")
    assert "hunter2" not in caught.value.errors()[0]["msg"]  # a value given by mistake is not repeated back


def test_a_webhook_trigger_needs_a_secret() -> None:
    with pytest.raises(ValidationError, match="secret"):
        definition(trigger={"type": "webhook"})


@pytest.mark.parametrize("extra", [{"interval": "10s"}, {"cron": "* * * * *"}, {"timezone": "UTC"}])
def test_a_webhook_trigger_takes_no_schedule(extra: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="does not apply"):
        definition(trigger={"type": "webhook", "secret": "{{ secrets.HOOK }}", **extra})


def test_other_triggers_take_no_secret() -> None:
    with pytest.raises(ValidationError, match="'secret' does not apply"):
        definition(trigger={"type": "manual", "secret": "{{ secrets.HOOK }}"})


def test_a_webhook_trigger_with_a_webhook_beside_it_is_refused() -> None:
    with pytest.raises(ValidationError, match="webhook"):
        definition(trigger={"type": "webhook", "secret": "{{ secrets.A }}"}, webhook={"secret": "{{ secrets.B }}"})


def test_the_webhook_object_takes_only_its_type_and_secret() -> None:
    with pytest.raises(ValidationError):
        definition(trigger={"type": "manual"}, webhook={"secret": "{{ secrets.B }}", "interval": "10s"})
    with pytest.raises(ValidationError):
        definition(trigger={"type": "manual"}, webhook={"type": "cron", "secret": "{{ secrets.B }}"})


def test_the_stored_workflow_keeps_the_reference_and_reads_back() -> None:
    model = definition(trigger={"type": "webhook", "secret": "{{ secrets.HOOK }}"})
    workflow = Workflow.create(model, now=datetime(2026, 1, 1, tzinfo=UTC), next_run_at=None)

    dumped = workflow.model_dump(by_alias=True, mode="json")

    assert dumped["trigger"]["secret"] == "{{ secrets.HOOK }}"
    assert dumped["webhook"] is None
    assert Workflow.model_validate(dumped).definition() == model
