"""WorkflowRepository: storing, reading, listing, replacing, deleting and pausing workflows."""

from __future__ import annotations

import pytest
from tests.contract.builders import T0, added, every_field_workflow, forged, manual_workflow, seconds, workflow

from wfa.domain.errors import ValidationFailed, VersionMismatch, WorkflowAlreadyExists, WorkflowNotFound
from wfa.domain.workflow import TriggerStatus
from wfa.ports.repositories import WorkflowRepository


async def test_a_stored_workflow_reads_back_equal_in_every_field(workflows: WorkflowRepository) -> None:
    original = every_field_workflow()
    await workflows.add(original)
    assert await workflows.get(original.workflow_id) == original


async def test_add_refuses_an_id_that_exists(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf"))
    with pytest.raises(WorkflowAlreadyExists):
        await workflows.add(workflow("wf", trigger={"type": "manual"}))
    assert (await workflows.get("wf")).trigger.type == "periodic"


async def test_get_of_an_unknown_id_raises_not_found(workflows: WorkflowRepository) -> None:
    with pytest.raises(WorkflowNotFound):
        await workflows.get("nope")


@pytest.mark.parametrize("probe", ['{"$ne": null}', "$ne", "$where", "a.*", ".*"])
async def test_ids_are_compared_as_plain_strings(workflows: WorkflowRepository, probe: str) -> None:
    await added(workflows, workflow("a.b"), workflow("x"))
    assert (await workflows.get("a.b")).workflow_id == "a.b"
    assert not await workflows.ever_existed(probe)
    with pytest.raises(WorkflowNotFound):
        await workflows.get(probe)


async def test_list_returns_live_workflows_in_id_order_page_by_page(workflows: WorkflowRepository) -> None:
    await added(workflows, *(workflow(i) for i in ["c", "a", "e", "b", "d"]))
    first = await workflows.list(limit=2, cursor=None)
    second = await workflows.list(limit=2, cursor=first.next_cursor)
    third = await workflows.list(limit=2, cursor=second.next_cursor)
    assert [[w.workflow_id for w in page.items] for page in (first, second, third)] == [["a", "b"], ["c", "d"], ["e"]]
    assert third.next_cursor is None


async def test_list_of_exactly_one_page_has_no_next_cursor(workflows: WorkflowRepository) -> None:
    await added(workflows, workflow("a"), workflow("b"))
    page = await workflows.list(limit=2, cursor=None)
    assert [w.workflow_id for w in page.items] == ["a", "b"]
    assert page.next_cursor is None


async def test_list_of_no_workflows_is_an_empty_page(workflows: WorkflowRepository) -> None:
    page = await workflows.list(limit=10, cursor=None)
    assert page.items == []
    assert page.next_cursor is None


async def test_list_leaves_deleted_workflows_out(workflows: WorkflowRepository) -> None:
    await added(workflows, workflow("a"), workflow("b"), workflow("c"))
    await workflows.delete("b", now=T0)
    page = await workflows.list(limit=10, cursor=None)
    assert [w.workflow_id for w in page.items] == ["a", "c"]


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        forged({}),
        forged([1]),
        forged({"after": 1}),
        forged({"after": {"$gt": ""}}),
        forged({"createdAt": "2026-05-01T08:00:00+00:00", "executionId": "x"}),
    ],
)
async def test_list_rejects_a_cursor_it_did_not_hand_out(workflows: WorkflowRepository, cursor: str) -> None:
    await workflows.add(workflow("a"))
    with pytest.raises(ValidationFailed):
        await workflows.list(limit=10, cursor=cursor)


async def test_replace_definition_stores_the_new_definition_and_keeps_the_lock(
    workflows: WorkflowRepository,
) -> None:
    await workflows.add(workflow("wf"))
    await workflows.try_acquire_trigger_lock("wf", execution_id="ex-1", now=T0 + seconds(1))
    stored = await workflows.get("wf")
    update = workflow(
        "wf",
        trigger={"type": "periodic", "interval": "1m"},
        actions=[{"type": "http-request", "url": "https://example.com", "body": {"v": 2}}],
        now=T0 + seconds(5),
    ).model_copy(update={"version": 2, "created_at": T0 + seconds(5), "enabled": False})

    replaced = await workflows.replace_definition(update, expected_version=1, reschedule=True)

    assert replaced == await workflows.get("wf")
    assert replaced.definition() == update.definition()
    assert (replaced.version, replaced.updated_at) == (2, T0 + seconds(5))
    assert replaced.trigger.next_run_at == T0 + seconds(15)
    assert (replaced.trigger.status, replaced.trigger.execution_id, replaced.trigger.locked_at) == (
        TriggerStatus.BUSY,
        "ex-1",
        T0 + seconds(1),
    )
    assert (replaced.enabled, replaced.created_at) == (stored.enabled, stored.created_at)


async def test_replace_definition_keeps_the_count_of_skipped_fires(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf", next_run_at=T0))
    await workflows.try_acquire_trigger_lock("wf", execution_id="ex-1", now=T0)
    await workflows.claim_schedule_slot("wf", slot=T0, next_run_at=T0 + seconds(10), execution_id="ex-2", now=T0)
    update = workflow("wf", now=T0 + seconds(1)).model_copy(update={"version": 2})
    replaced = await workflows.replace_definition(update, expected_version=1, reschedule=True)
    assert replaced.trigger.skipped_fires == 1


async def test_replace_definition_at_a_stale_version_raises_version_mismatch(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf"))
    first = workflow("wf", now=T0 + seconds(1)).model_copy(update={"version": 2})
    await workflows.replace_definition(first, expected_version=1, reschedule=True)
    stale = workflow("wf", now=T0 + seconds(2)).model_copy(update={"version": 2})

    with pytest.raises(VersionMismatch) as raised:
        await workflows.replace_definition(stale, expected_version=1, reschedule=True)

    assert (raised.value.expected, raised.value.actual) == (1, 2)
    assert (await workflows.get("wf")).updated_at == T0 + seconds(1)


async def test_replace_definition_of_an_unknown_workflow_raises_not_found(workflows: WorkflowRepository) -> None:
    with pytest.raises(WorkflowNotFound):
        await workflows.replace_definition(workflow("nope"), expected_version=1, reschedule=True)


async def test_a_deleted_workflow_is_gone_but_ever_existed(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf"))
    await workflows.delete("wf", now=T0 + seconds(1))
    with pytest.raises(WorkflowNotFound):
        await workflows.get("wf")
    assert await workflows.ever_existed("wf")


async def test_ever_existed_is_true_for_a_live_workflow_and_false_for_an_unknown_one(
    workflows: WorkflowRepository,
) -> None:
    await workflows.add(workflow("wf"))
    assert await workflows.ever_existed("wf")
    assert not await workflows.ever_existed("other")


async def test_delete_of_an_unknown_or_deleted_workflow_raises_not_found(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf"))
    await workflows.delete("wf", now=T0)
    with pytest.raises(WorkflowNotFound):
        await workflows.delete("wf", now=T0 + seconds(1))
    with pytest.raises(WorkflowNotFound):
        await workflows.delete("never", now=T0)


async def test_a_deleted_workflows_id_can_be_used_again(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf"))
    await workflows.try_acquire_trigger_lock("wf", execution_id="ex-old", now=T0)
    await workflows.delete("wf", now=T0 + seconds(1))
    again = manual_workflow("wf", now=T0 + seconds(2))

    await workflows.add(again)

    assert await workflows.get("wf") == again
    assert (await workflows.get("wf")).trigger.status is TriggerStatus.IDLE


async def test_a_deleted_workflow_cannot_be_changed(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf"))
    await workflows.delete("wf", now=T0)
    with pytest.raises(WorkflowNotFound):
        await workflows.replace_definition(
            workflow("wf").model_copy(update={"version": 2}), expected_version=1, reschedule=True
        )
    with pytest.raises(WorkflowNotFound):
        await workflows.set_enabled("wf", enabled=False, next_run_at=None, now=T0)
    with pytest.raises(WorkflowNotFound):
        await workflows.try_acquire_trigger_lock("wf", execution_id="ex", now=T0)


async def test_set_enabled_pauses_and_resumes(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf"))

    paused = await workflows.set_enabled("wf", enabled=False, next_run_at=None, now=T0 + seconds(1))
    assert (paused.enabled, paused.trigger.next_run_at, paused.updated_at) == (False, None, T0 + seconds(1))
    assert await workflows.get("wf") == paused

    resumed = await workflows.set_enabled("wf", enabled=True, next_run_at=T0 + seconds(20), now=T0 + seconds(12))
    assert (resumed.enabled, resumed.trigger.next_run_at, resumed.updated_at) == (
        True,
        T0 + seconds(20),
        T0 + seconds(12),
    )
    assert await workflows.get("wf") == resumed


async def test_set_enabled_of_an_unknown_workflow_raises_not_found(workflows: WorkflowRepository) -> None:
    with pytest.raises(WorkflowNotFound):
        await workflows.set_enabled("nope", enabled=True, next_run_at=None, now=T0)


async def test_reads_return_copies_that_do_not_change_the_store(workflows: WorkflowRepository) -> None:
    await workflows.add(workflow("wf"))
    copy = await workflows.get("wf")
    copy.trigger.status = TriggerStatus.BUSY
    copy.actions.clear()
    stored = await workflows.get("wf")
    assert stored.trigger.status is TriggerStatus.IDLE
    assert len(stored.actions) == 1
