"""What changed between two versions of a definition: the list of paths, the RFC 6902 patch and the YAML diff."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import jsonpatch

from wfa.domain.versions import MAX_CHANGES, WorkflowVersion, changed_paths, diff_definitions
from wfa.domain.workflow import Workflow, WorkflowDefinition

SEED: dict[str, Any] = {
    "workflowId": "wf",
    "trigger": {"type": "periodic", "interval": "10s"},
    "actions": [
        {"type": "log", "message": "hello"},
        {"type": "http-request", "url": "https://example.com"},
    ],
}
T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def _normalised(**overrides: Any) -> dict[str, Any]:
    return WorkflowDefinition.model_validate({**copy.deepcopy(SEED), **overrides}).model_dump(
        mode="json", by_alias=True
    )


def test_changes_name_the_paths_that_differ_with_list_indexes() -> None:
    before = _normalised()
    after = _normalised(
        trigger={"type": "periodic", "interval": "5m"},
        actions=[{"type": "log", "message": "hello"}, {"type": "http-request", "url": "https://example.org"}],
    )
    assert changed_paths(before, after) == ["trigger.interval", "actions[1].url"]


def test_an_added_or_removed_list_entry_is_one_change() -> None:
    before = _normalised()
    after = _normalised(actions=[*SEED["actions"], {"type": "log", "message": "bye"}])
    assert changed_paths(before, after) == ["actions[2]"]
    assert changed_paths(after, before) == ["actions[2]"]


def test_keys_that_are_not_plain_names_are_quoted() -> None:
    before = _normalised(labels={"app.kubernetes.io/name": "a"})
    after = _normalised(labels={"app.kubernetes.io/name": "b", "team": "x"})
    assert changed_paths(before, after) == ['labels["app.kubernetes.io/name"]', "labels.team"]


def test_a_value_of_another_json_type_is_a_change() -> None:
    before = _normalised(actions=[{"type": "http-request", "url": "https://e.com", "body": {"n": 1}}])
    after = _normalised(actions=[{"type": "http-request", "url": "https://e.com", "body": {"n": True}}])
    assert changed_paths(before, after) == ["actions[0].body.n"]


def test_identical_definitions_have_no_changes() -> None:
    assert changed_paths(_normalised(), _normalised()) == []


def test_the_list_of_changes_is_bounded() -> None:
    body_before = {f"k{i}": i for i in range(MAX_CHANGES * 2)}
    body_after = {f"k{i}": i + 1 for i in range(MAX_CHANGES * 2)}
    before = _normalised(actions=[{"type": "http-request", "url": "https://e.com", "body": body_before}])
    after = _normalised(actions=[{"type": "http-request", "url": "https://e.com", "body": body_after}])
    assert len(changed_paths(before, after)) == MAX_CHANGES


def test_the_patch_turns_one_definition_into_the_other() -> None:
    before = _normalised()
    after = _normalised(description="now described", actions=[{"type": "log", "message": "only"}])
    diff = diff_definitions(before, after, from_name="wf@1", to_name="wf@2")
    assert jsonpatch.apply_patch(before, diff.patch) == after


def test_the_text_is_a_unified_diff_of_the_yaml() -> None:
    before = _normalised()
    after = _normalised(trigger={"type": "periodic", "interval": "5m"})
    text = diff_definitions(before, after, from_name="wf@1", to_name="wf@2").text
    assert text.startswith("--- wf@1\n+++ wf@2\n")
    assert "-  interval: 10s\n" in text
    assert "+  interval: 5m\n" in text


def test_a_diff_from_nothing_adds_everything() -> None:
    after = _normalised()
    diff = diff_definitions(None, after, from_name="(none)", to_name="wf@1")
    assert jsonpatch.apply_patch({}, diff.patch) == after
    assert all(line.startswith(("+", "@@", "---")) for line in diff.text.splitlines())


def test_a_version_is_the_workflows_definition_with_who_changed_it_and_when() -> None:
    definition = WorkflowDefinition.model_validate(SEED)
    workflow = Workflow.create(definition, now=T0, next_run_at=None)
    workflow.version = 3
    workflow.changed_by = "ci"
    version = WorkflowVersion.of(workflow)
    assert (version.workflow_id, version.version, version.updated_at, version.changed_by) == ("wf", 3, T0, "ci")
    assert version.created_at == T0
    assert version.document() == definition.model_dump(mode="json", by_alias=True)
