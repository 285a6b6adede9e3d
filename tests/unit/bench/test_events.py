import json

import pytest
from bench.events import final_event_of


def event(**fields: object) -> bytes:
    return json.dumps({"schemaVersion": 1, "workflowId": "wf", "attempt": 1, **fields}).encode()


@pytest.mark.parametrize("kind", ["execution.succeeded", "execution.failed", "execution.cancelled"])
def test_a_final_event_gives_its_execution_and_type(kind: str) -> None:
    assert final_event_of(event(type=kind, executionId="e1")) == ("e1", kind)


@pytest.mark.parametrize("kind", ["execution.started", "execution.pending", "action.succeeded", "action.failed"])
def test_other_events_are_not_final(kind: str) -> None:
    assert final_event_of(event(type=kind, executionId="e1")) is None


@pytest.mark.parametrize("raw", [None, b"", b"not json", b"[1, 2]", event(type="execution.succeeded")])
def test_unreadable_messages_are_ignored(raw: bytes | None) -> None:
    assert final_event_of(raw) is None
