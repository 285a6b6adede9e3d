from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from wfa.domain.workflow import (
    HttpRequestAction,
    TriggerSpec,
    Workflow,
    WorkflowDefinition,
    strip_server_managed,
)

SEED: dict[str, Any] = {
    "workflowId": "recurrent-workflow",
    "trigger": {"type": "periodic", "interval": "10s"},
    "actions": [{"type": "http-request", "url": "https://example.com", "method": "GET"}],
}


def _definition(**overrides: Any) -> dict[str, Any]:
    return {**SEED, **overrides}


def test_seed_payload_is_valid_and_every_default_is_filled() -> None:
    definition = WorkflowDefinition.model_validate(SEED)
    dumped = definition.model_dump(by_alias=True, mode="json")
    assert dumped["actions"][0] == {
        "name": "action-1",
        "retry": None,
        "when": None,
        "continueOnError": False,
        "compensate": None,
        "type": "http-request",
        "url": "https://example.com",
        "method": "GET",
        "headers": {},
        "body": None,
        "timeout": "10s",
        "expectStatus": None,
    }
    assert dumped["retry"] == {"maxAttempts": 3, "initialInterval": "2s", "backoffRate": 2.0, "maxInterval": "5m"}
    assert dumped["trigger"] == {
        "type": "periodic",
        "interval": "10s",
        "cron": None,
        "timezone": None,
        "secret": None,
        "pauseAfterFailures": None,
        "catchup": "latest",
        "catchupWindow": "1h",
    }


def test_actions_are_named_by_position_unless_named() -> None:
    definition = WorkflowDefinition.model_validate(
        _definition(actions=[{"type": "log", "message": "a"}, {"type": "log", "message": "b", "name": "second"}])
    )
    assert [a.name for a in definition.actions] == ["action-1", "second"]


def test_method_defaults_to_get() -> None:
    definition = WorkflowDefinition.model_validate(_definition(actions=[{"type": "http-request", "url": "http://x"}]))
    action = definition.actions[0]
    assert isinstance(action, HttpRequestAction)
    assert action.method == "GET"


def test_cron_trigger_defaults_to_utc() -> None:
    trigger = TriggerSpec.model_validate({"type": "cron", "cron": "*/5 * * * *"})
    assert trigger.timezone == "UTC"


@pytest.mark.parametrize(
    "overrides",
    [
        {"workflowId": ""},
        {"workflowId": "a" * 129},
        {"workflowId": "has space"},
        {"workflowId": "a/b"},
        {"workflowId": {"$ne": None}},
        {"trigger": {"type": "periodic"}},
        {"trigger": {"type": "periodic", "interval": "0s"}},
        {"trigger": {"type": "periodic", "interval": "10x"}},
        {"trigger": {"type": "periodic", "interval": "10s", "cron": "* * * * *"}},
        {"trigger": {"type": "cron", "cron": "* * * * * *"}},
        {"trigger": {"type": "cron", "cron": "61 * * * *"}},
        {"trigger": {"type": "cron", "cron": "0 0 30 2 *"}},
        {"trigger": {"type": "cron", "cron": "0 0 31 2,4,6,9,11 *", "timezone": "America/New_York"}},
        {"trigger": {"type": "cron", "cron": "* * * * *", "timezone": "Mars/Olympus"}},
        {"trigger": {"type": "manual", "interval": "10s"}},
        {"trigger": {"type": "hourly"}},
        {"actions": []},
        {"actions": [{"type": "log", "message": "x"}] * 101},
        {"actions": [{"type": "log"}]},
        {"actions": [{"type": "log", "message": "x", "level": "fatal"}]},
        {"actions": [{"type": "shell", "command": "rm -rf /"}]},
        {"actions": [{"type": "http-request", "url": "ftp://example.com"}]},
        {"actions": [{"type": "http-request", "url": "https://"}]},
        {"actions": [{"type": "http-request", "url": "https://example.com", "method": "TRACE"}]},
        {"actions": [{"type": "http-request", "url": "https://example.com", "timeout": "2h"}]},
        {"actions": [{"type": "http-request", "url": "https://example.com", "expectStatus": [99]}]},
        {"actions": [{"type": "http-request", "url": "https://example.com", "headers": {"bad name": "x"}}]},
        {"actions": [{"type": "http-request", "url": "https://example.com", "headers": {"X": "a\r\nb"}}]},
        {"actions": [{"type": "log", "message": "x", "name": "n"}, {"type": "log", "message": "y", "name": "n"}]},
        {"actions": [{"type": "log", "message": "x", "extra": 1}]},
        {"retry": {"maxAttempts": 0}},
        {"retry": {"maxAttempts": 101}},
        {"retry": {"backoffRate": 0.5}},
        {"retry": {"backoffRate": 11}},
        {"retry": {"initialInterval": "366d"}},
        {"unknown": True},
    ],
)
def test_invalid_definitions_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        WorkflowDefinition.model_validate(_definition(**overrides))


def test_unnamed_action_colliding_with_a_default_name_is_refused() -> None:
    with pytest.raises(ValidationError):
        WorkflowDefinition.model_validate(
            _definition(actions=[{"type": "log", "message": "x"}, {"type": "log", "message": "y", "name": "action-1"}])
        )


def test_resource_round_trips_through_put_after_stripping_server_fields() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    workflow = Workflow.create(
        WorkflowDefinition.model_validate(SEED), now=now, next_run_at=now + timedelta(seconds=10)
    )
    as_returned = workflow.model_dump(by_alias=True, mode="json")
    again = WorkflowDefinition.model_validate(strip_server_managed(as_returned))
    assert again == workflow.definition()


def test_workflow_definition_view_drops_server_state() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    workflow = Workflow.create(WorkflowDefinition.model_validate(SEED), now=now, next_run_at=None)
    assert workflow.definition() == WorkflowDefinition.model_validate(SEED)
