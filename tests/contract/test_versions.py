"""The version store: every committed version of a workflow, by (workflowId, createdAt, version), kept for good."""

from __future__ import annotations

import pytest
from tests.contract.builders import T0, every_field_workflow, forged, seconds, workflow

from wfa.domain.errors import ValidationFailed
from wfa.domain.versions import WorkflowVersion
from wfa.domain.workflow import Workflow
from wfa.ports.repositories import WorkflowRepository, WorkflowVersionRepository

NEWEST = 7  # the current version the tests' reads name: their histories are shorter or as long


def _version(of: Workflow, number: int, *, changed_by: str | None = None) -> WorkflowVersion:
    revised = of.model_copy(deep=True)
    revised.version = number
    revised.updated_at = of.created_at + seconds(number)
    revised.changed_by = changed_by
    revised.description = f"version {number}"
    return WorkflowVersion.of(revised)


async def test_a_recorded_version_reads_back_equal_in_every_field(versions: WorkflowVersionRepository) -> None:
    original = WorkflowVersion.of(every_field_workflow())
    await versions.record(original)
    stored = await versions.get(original.workflow_id, created_at=original.created_at, version=original.version)
    assert stored == original


async def test_recording_a_version_again_keeps_one_record(versions: WorkflowVersionRepository) -> None:
    first = _version(workflow("wf"), 1, changed_by="ci")
    for _ in range(3):
        await versions.record(first)
    page = await versions.list("wf", created_at=T0, limit=10, cursor=None, newest=1)
    assert page.items == [first]


async def test_get_of_an_unknown_version_is_none(versions: WorkflowVersionRepository) -> None:
    await versions.record(_version(workflow("wf"), 1))
    assert await versions.get("wf", created_at=T0, version=2) is None
    assert await versions.get("other", created_at=T0, version=1) is None
    assert await versions.get("wf", created_at=T0 + seconds(1), version=1) is None


async def test_list_pages_newest_first(versions: WorkflowVersionRepository) -> None:
    base = workflow("wf")
    recorded = [_version(base, n) for n in range(1, 8)]
    for version in reversed(recorded[::2]):  # out of order: the store orders them
        await versions.record(version)
    for version in recorded[1::2]:
        await versions.record(version)
    seen: list[int] = []
    cursor: str | None = None
    while True:
        page = await versions.list("wf", created_at=T0, limit=3, cursor=cursor, newest=NEWEST)
        seen.extend(v.version for v in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [7, 6, 5, 4, 3, 2, 1]


async def test_histories_of_workflows_created_again_under_one_id_are_apart(
    versions: WorkflowVersionRepository,
) -> None:
    earlier = workflow("wf")
    later = workflow("wf", now=T0 + seconds(60))
    await versions.record(_version(earlier, 1))
    await versions.record(_version(earlier, 2))
    await versions.record(_version(later, 1))
    assert [v.version for v in (await versions.list("wf", created_at=T0, limit=10, cursor=None, newest=2)).items] == [
        2,
        1,
    ]
    later_page = await versions.list("wf", created_at=T0 + seconds(60), limit=10, cursor=None, newest=1)
    assert [(v.version, v.created_at) for v in later_page.items] == [(1, T0 + seconds(60))]


async def test_a_cursor_keeps_to_the_history_it_was_handed_out_for(versions: WorkflowVersionRepository) -> None:
    earlier = workflow("wf")
    for n in (1, 2, 3):
        await versions.record(_version(earlier, n))
    first = await versions.list("wf", created_at=T0, limit=2, cursor=None, newest=3)
    await versions.record(_version(workflow("wf", now=T0 + seconds(60)), 1))
    assert first.next_cursor is not None
    rest = await versions.list("wf", created_at=T0 + seconds(60), limit=2, cursor=first.next_cursor, newest=1)
    assert [(v.version, v.created_at) for v in rest.items] == [(1, T0)]


async def test_ids_are_compared_as_plain_strings(versions: WorkflowVersionRepository) -> None:
    await versions.record(_version(workflow("a.b"), 1))
    assert (await versions.list("a.*", created_at=T0, limit=10, cursor=None, newest=1)).items == []


async def test_list_reads_down_from_the_newest_version_it_is_given(versions: WorkflowVersionRepository) -> None:
    base = workflow("wf")
    for n in range(1, 6):
        await versions.record(_version(base, n))
    page = await versions.list("wf", created_at=T0, newest=4, limit=2, cursor=None)
    assert [v.version for v in page.items] == [4, 3]
    assert page.next_cursor is not None
    rest = await versions.list("wf", created_at=T0, newest=4, limit=2, cursor=page.next_cursor)
    assert ([v.version for v in rest.items], rest.next_cursor) == ([2, 1], None)


async def test_a_history_missing_its_first_versions_ends_where_its_records_do(
    versions: WorkflowVersionRepository,
) -> None:
    # Versions made before histories were kept were never recorded: the list ends at the oldest recorded one.
    base = workflow("wf")
    for n in (4, 5, 6):
        await versions.record(_version(base, n))
    page = await versions.list("wf", created_at=T0, newest=6, limit=3, cursor=None)
    assert ([v.version for v in page.items], page.next_cursor) == ([6, 5, 4], None)


async def test_find_latest_answers_for_a_live_or_a_deleted_workflow(workflows: WorkflowRepository) -> None:
    live = workflow("live")
    gone = workflow("gone")
    gone.version = 3
    await workflows.add(live)
    await workflows.add(gone)
    await workflows.delete("gone", now=T0 + seconds(1))

    found_live = await workflows.find_latest("live")
    found_gone = await workflows.find_latest("gone")

    assert found_live is not None and found_live.workflow_id == "live"
    assert found_gone is not None and (found_gone.version, found_gone.created_at) == (3, T0)
    assert await workflows.find_latest("never") is None


@pytest.mark.parametrize("cursor", ["garbage", forged({"createdAt": "2026-01-01T00:00:00", "before": "3"}), forged([])])
async def test_list_rejects_a_cursor_it_did_not_hand_out(versions: WorkflowVersionRepository, cursor: str) -> None:
    with pytest.raises(ValidationFailed):
        await versions.list("wf", created_at=T0, limit=10, cursor=cursor, newest=NEWEST)
