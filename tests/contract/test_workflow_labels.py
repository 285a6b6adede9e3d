"""Listing workflows by label: every selector must match, in workflowId order, page by page."""

from __future__ import annotations

from tests.contract.builders import added, workflow

from wfa.domain.workflow import Workflow
from wfa.ports.repositories import WorkflowRepository


def _labelled(workflow_id: str, **labels: str) -> Workflow:
    item = workflow(workflow_id)
    item.labels = {key.replace("__", "."): value for key, value in labels.items()}
    return item


async def _ids(workflows: WorkflowRepository, *selectors: tuple[str, str], limit: int = 2) -> list[str]:
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = await workflows.list(limit=limit, cursor=cursor, labels=selectors)
        seen.extend(w.workflow_id for w in page.items)
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


async def test_labels_are_stored_and_read_back(workflows: WorkflowRepository) -> None:
    original = _labelled("a", app__kubernetes__io="x=y", team="")
    await added(workflows, original)
    assert (await workflows.get("a")).labels == {"app.kubernetes.io": "x=y", "team": ""}


async def test_list_filters_on_every_selector_page_by_page(workflows: WorkflowRepository) -> None:
    await added(
        workflows,
        _labelled("a", env="prod", team="x"),
        _labelled("b", env="dev", team="x"),
        _labelled("c", env="prod"),
        _labelled("d", env="prod", team="x"),
        _labelled("e", env="prod", team="x", extra="1"),
        workflow("f"),
    )
    assert await _ids(workflows, ("env", "prod")) == ["a", "c", "d", "e"]
    assert await _ids(workflows, ("env", "prod"), ("team", "x")) == ["a", "d", "e"]
    assert await _ids(workflows, ("env", "staging")) == []
    assert await _ids(workflows, ("env", "prod"), ("env", "dev")) == []
    assert await _ids(workflows) == ["a", "b", "c", "d", "e", "f"]


async def test_a_key_with_dots_is_not_read_as_a_path(workflows: WorkflowRepository) -> None:
    await added(workflows, _labelled("a", app__name="x"), _labelled("b", app="x"))
    assert await _ids(workflows, ("app.name", "x")) == ["a"]
    assert await _ids(workflows, ("app", "x")) == ["b"]


async def test_a_value_must_match_whole(workflows: WorkflowRepository) -> None:
    await added(workflows, _labelled("a", env="prod=1"), _labelled("b", env="prod"))
    assert await _ids(workflows, ("env", "prod")) == ["b"]
    assert await _ids(workflows, ("env", "prod=1")) == ["a"]


async def test_replacing_the_definition_replaces_the_labels(workflows: WorkflowRepository) -> None:
    original = _labelled("a", env="prod")
    await added(workflows, original)
    revised = original.model_copy(deep=True)
    revised.labels = {"env": "dev"}
    revised.version = 2
    await workflows.replace_definition(revised, expected_version=1, reschedule=False)
    assert await _ids(workflows, ("env", "prod")) == []
    assert await _ids(workflows, ("env", "dev")) == ["a"]


async def test_deleted_workflows_are_left_out(workflows: WorkflowRepository) -> None:
    await added(workflows, _labelled("a", env="prod"), _labelled("b", env="prod"))
    await workflows.delete("a", now=workflow("a").created_at)
    assert await _ids(workflows, ("env", "prod")) == ["b"]
