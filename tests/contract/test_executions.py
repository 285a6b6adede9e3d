"""ExecutionRepository: storing and reading executions, pages newest first, idempotency keys."""

from __future__ import annotations

import pytest
from tests.contract.builders import (
    T0,
    every_field_execution,
    every_field_workflow,
    forged,
    ms,
    queued,
    seconds,
    stored,
    workflow,
)

from wfa.domain.errors import ExecutionNotFound, ValidationFailed
from wfa.domain.execution import (
    Execution,
    ExecutionPlan,
    ExecutionStatus,
    Reason,
)
from wfa.ports.repositories import ExecutionFilter, ExecutionRepository, WorkflowRepository


async def test_a_stored_execution_reads_back_equal_in_every_field(executions: ExecutionRepository) -> None:
    original = every_field_execution()
    await executions.add(original, ExecutionPlan.of(every_field_workflow()), idempotency_key="key-1")
    assert await executions.get(original.execution_id) == original


async def test_a_claimed_execution_carries_the_plan_frozen_at_its_creation(
    workflows: WorkflowRepository, executions: ExecutionRepository
) -> None:
    definition = every_field_workflow()
    await workflows.add(definition)
    execution = Execution.queued(execution_id="ex", workflow=definition, reason=Reason.MANUAL, input={"k": "v"}, now=T0)
    await executions.add(execution, ExecutionPlan.of(definition), idempotency_key=None)
    await workflows.replace_definition(
        workflow(definition.workflow_id).model_copy(update={"version": 5}), expected_version=4, reschedule=True
    )

    claimed = await executions.claim_for_run("ex", attempt=1, owner="r", lease_until=T0 + seconds(30), now=T0)

    assert claimed is not None
    assert claimed.plan == ExecutionPlan.of(definition)


async def test_get_plan_reads_the_plan_frozen_at_the_creation(
    workflows: WorkflowRepository, executions: ExecutionRepository
) -> None:
    definition = every_field_workflow()
    await workflows.add(definition)
    await executions.add(queued(definition, "ex"), ExecutionPlan.of(definition), idempotency_key=None)
    await workflows.replace_definition(
        workflow(definition.workflow_id).model_copy(update={"version": 5}), expected_version=4, reschedule=True
    )

    assert await executions.get_plan("ex") == ExecutionPlan.of(definition)


async def test_get_plan_of_an_unknown_execution_raises_not_found(executions: ExecutionRepository) -> None:
    with pytest.raises(ExecutionNotFound):
        await executions.get_plan("nope")


async def test_get_of_an_unknown_execution_raises_not_found(executions: ExecutionRepository) -> None:
    with pytest.raises(ExecutionNotFound):
        await executions.get("nope")


async def test_get_treats_the_id_as_a_plain_string(executions: ExecutionRepository) -> None:
    await stored(executions, workflow(), "ex-1")
    with pytest.raises(ExecutionNotFound):
        await executions.get('{"$ne": null}')


async def test_newest_first_of_a_workflow_is_newest_first_page_by_page(executions: ExecutionRepository) -> None:
    wf = workflow("wf")
    # Two share a creation time: the id breaks the tie, descending.
    for execution_id, created in [("e1", T0), ("e2", T0 + ms(1)), ("e3b", T0 + ms(2)), ("e3a", T0 + ms(2))]:
        await stored(executions, wf, execution_id, now=created)
    await stored(executions, wf, "e4", now=T0 + seconds(1))

    first = await executions.newest_first(ExecutionFilter(workflow_id="wf"), limit=2, cursor=None)
    second = await executions.newest_first(ExecutionFilter(workflow_id="wf"), limit=2, cursor=first.next_cursor)
    third = await executions.newest_first(ExecutionFilter(workflow_id="wf"), limit=2, cursor=second.next_cursor)

    assert [[e.execution_id for e in page.items] for page in (first, second, third)] == [
        ["e4", "e3b"],
        ["e3a", "e2"],
        ["e1"],
    ]
    assert third.next_cursor is None


async def test_newest_first_of_a_workflow_of_one_page_has_no_next_cursor(
    executions: ExecutionRepository,
) -> None:
    await stored(executions, workflow("wf"), "e1", now=T0)
    await stored(executions, workflow("wf"), "e2", now=T0 + ms(1))
    page = await executions.newest_first(ExecutionFilter(workflow_id="wf"), limit=2, cursor=None)
    assert [e.execution_id for e in page.items] == ["e2", "e1"]
    assert page.next_cursor is None


async def test_newest_first_of_a_workflow_holds_only_that_workflows_executions(executions: ExecutionRepository) -> None:
    await stored(executions, workflow("wf"), "mine")
    await stored(executions, workflow("other"), "theirs")
    page = await executions.newest_first(ExecutionFilter(workflow_id="wf"), limit=10, cursor=None)
    assert [e.execution_id for e in page.items] == ["mine"]
    empty = await executions.newest_first(ExecutionFilter(workflow_id="none"), limit=10, cursor=None)
    assert (empty.items, empty.next_cursor) == ([], None)


async def test_newest_first_of_a_workflow_filters_by_status_page_by_page(executions: ExecutionRepository) -> None:
    wf = workflow("wf")
    for i in range(5):
        await stored(executions, wf, f"e{i}", now=T0 + seconds(i))
    for i in (0, 2, 4):
        await executions.cancel(f"e{i}", now=T0 + seconds(10))

    first = await executions.newest_first(
        ExecutionFilter(workflow_id="wf", status=ExecutionStatus.CANCELLED), limit=2, cursor=None
    )
    second = await executions.newest_first(
        ExecutionFilter(workflow_id="wf", status=ExecutionStatus.CANCELLED), limit=2, cursor=first.next_cursor
    )
    queued = await executions.newest_first(
        ExecutionFilter(workflow_id="wf", status=ExecutionStatus.QUEUED), limit=10, cursor=None
    )

    assert [e.execution_id for e in first.items + second.items] == ["e4", "e2", "e0"]
    assert second.next_cursor is None
    assert [e.execution_id for e in queued.items] == ["e3", "e1"]


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        forged({"after": "x"}),
        forged({"createdAt": "2026-05-01T08:00:00", "executionId": "x"}),  # naive: we never hand one out
        forged({"createdAt": "today", "executionId": "x"}),
        forged({"createdAt": 1, "executionId": "x"}),
        forged({"createdAt": "2026-05-01T08:00:00+00:00", "executionId": {"$gt": ""}}),
        forged({"createdAt": "2026-05-01T08:00:00+00:00"}),
    ],
)
async def test_newest_first_of_a_workflow_rejects_a_cursor_it_did_not_hand_out(
    executions: ExecutionRepository, cursor: str
) -> None:
    await stored(executions, workflow("wf"), "e1")
    with pytest.raises(ValidationFailed):
        await executions.newest_first(ExecutionFilter(workflow_id="wf"), limit=10, cursor=cursor)


async def test_an_idempotency_key_finds_the_execution_created_with_it(executions: ExecutionRepository) -> None:
    await stored(executions, workflow("wf"), "e-plain", now=T0)
    created = await stored(executions, workflow("wf"), "e-keyed", now=T0 + seconds(1), idempotency_key="key-1")

    found = await executions.find_by_idempotency_key("wf", "key-1", since=T0)

    assert found == created


async def test_an_idempotency_key_belongs_to_one_workflow(executions: ExecutionRepository) -> None:
    await stored(executions, workflow("wf"), "e1", idempotency_key="key-1")
    assert await executions.find_by_idempotency_key("other", "key-1", since=T0) is None
    assert await executions.find_by_idempotency_key("wf", "key-2", since=T0) is None


async def test_an_idempotency_key_is_forgotten_before_since(executions: ExecutionRepository) -> None:
    await stored(executions, workflow("wf"), "e1", now=T0, idempotency_key="key-1")
    assert await executions.find_by_idempotency_key("wf", "key-1", since=T0) is not None
    assert await executions.find_by_idempotency_key("wf", "key-1", since=T0 + ms(1)) is None


async def test_an_idempotency_key_used_twice_finds_the_newest_execution(executions: ExecutionRepository) -> None:
    await stored(executions, workflow("wf"), "old", now=T0, idempotency_key="key-1")
    await stored(executions, workflow("wf"), "new", now=T0 + seconds(1), idempotency_key="key-1")
    found = await executions.find_by_idempotency_key("wf", "key-1", since=T0)
    assert found is not None
    assert found.execution_id == "new"


async def test_an_idempotency_key_finds_the_execution_in_its_current_state(executions: ExecutionRepository) -> None:
    await stored(executions, workflow("wf"), "e1", idempotency_key="key-1")
    cancelled = await executions.cancel("e1", now=T0 + seconds(1))
    assert await executions.find_by_idempotency_key("wf", "key-1", since=T0) == cancelled


async def test_an_execution_id_is_stored_only_once(executions: ExecutionRepository) -> None:
    await stored(executions, workflow("wf"), "e1")
    with pytest.raises(ValueError):
        await stored(executions, workflow("wf"), "e1", now=T0 + ms(1))
