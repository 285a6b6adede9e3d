"""ExecutionRepository.newest_first across workflows: the order, the pages, and every filter combination."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import product

import pytest
from tests.contract.builders import T0, ms, queued, seconds, stored, workflow

from wfa.domain.execution import Execution, ExecutionPlan, ExecutionStatus, Reason
from wfa.ports.repositories import ExecutionFilter, ExecutionRepository


async def _all_pages(executions: ExecutionRepository, where: ExecutionFilter, *, limit: int) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        page = await executions.newest_first(where, limit=limit, cursor=cursor)
        pages.append([e.execution_id for e in page.items])
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


async def _grid(executions: ExecutionRepository) -> list[Execution]:
    """Two workflows x two reasons x two statuses, each twice, at distinct times (some cancelled)."""
    made: list[Execution] = []
    for n, (workflow_id, reason, cancelled, _copy) in enumerate(
        product(["a", "b"], [Reason.MANUAL, Reason.SCHEDULE], [False, True], [0, 1])
    ):
        execution = queued(workflow(workflow_id), f"e{n:02d}", now=T0 + ms(n * 7 % 16), reason=reason)
        await executions.add(execution, ExecutionPlan.of(workflow(workflow_id)), idempotency_key=None)
        if cancelled:
            execution = await executions.cancel(execution.execution_id, now=T0 + seconds(1))
        made.append(execution)
    return made


async def test_newest_first_spans_every_workflow_page_by_page(executions: ExecutionRepository) -> None:
    for execution_id, workflow_id, created in [("x1", "a", T0), ("x2", "b", T0 + ms(1)), ("x3", "a", T0 + ms(2))]:
        await stored(executions, workflow(workflow_id), execution_id, now=created)

    assert await _all_pages(executions, ExecutionFilter(), limit=2) == [["x3", "x2"], ["x1"]]


async def test_newest_first_pages_through_more_ties_than_a_page_holds(executions: ExecutionRepository) -> None:
    # Seven executions of several workflows created in the same millisecond: the cursor's tie-break is the id.
    for n in range(7):
        await stored(executions, workflow(f"w{n % 3}"), f"t{n}", now=T0 + ms(5))
    await stored(executions, workflow("w0"), "older", now=T0)

    pages = await _all_pages(executions, ExecutionFilter(), limit=2)

    assert pages == [["t6", "t5"], ["t4", "t3"], ["t2", "t1"], ["t0", "older"]]


@pytest.mark.parametrize(
    ("workflow_id", "status", "reason"),
    list(product([None, "a"], [None, ExecutionStatus.CANCELLED], [None, Reason.SCHEDULE])),
)
async def test_newest_first_holds_exactly_what_each_filter_combination_selects(
    executions: ExecutionRepository,
    workflow_id: str | None,
    status: ExecutionStatus | None,
    reason: Reason | None,
) -> None:
    made = await _grid(executions)
    where = ExecutionFilter(workflow_id=workflow_id, status=status, reason=reason)
    expected = sorted((e for e in made if where.matches(e)), key=lambda e: (e.created_at, e.execution_id))[::-1]

    pages = await _all_pages(executions, where, limit=3)

    assert [execution_id for page in pages for execution_id in page] == [e.execution_id for e in expected]
    assert all(len(page) == 3 for page in pages[:-1])


async def test_since_is_inclusive_and_until_exclusive(executions: ExecutionRepository) -> None:
    for n in range(4):
        await stored(executions, workflow("wf"), f"e{n}", now=T0 + ms(n))

    window = ExecutionFilter(since=T0 + ms(1), until=T0 + ms(3))
    one_workflow = ExecutionFilter(workflow_id="wf", since=T0 + ms(1), until=T0 + ms(3))

    assert await _all_pages(executions, window, limit=1) == [["e2"], ["e1"]]
    assert await _all_pages(executions, one_workflow, limit=10) == [["e2", "e1"]]
    assert await _all_pages(executions, ExecutionFilter(since=T0 + ms(3), until=T0 + ms(3)), limit=10) == [[]]


async def test_a_window_combines_with_the_other_filters(executions: ExecutionRepository) -> None:
    made = await _grid(executions)
    where = ExecutionFilter(status=ExecutionStatus.QUEUED, reason=Reason.MANUAL, since=T0 + ms(3), until=T0 + ms(12))
    expected = sorted((e for e in made if where.matches(e)), key=lambda e: (e.created_at, e.execution_id))[::-1]

    pages = await _all_pages(executions, where, limit=1)

    assert expected
    assert [execution_id for page in pages for execution_id in page] == [e.execution_id for e in expected]


async def test_a_filter_matching_nothing_is_one_empty_page(executions: ExecutionRepository) -> None:
    await stored(executions, workflow("wf"), "e1")

    page = await executions.newest_first(ExecutionFilter(reason=Reason.RETRY), limit=10, cursor=None)

    assert (page.items, page.next_cursor) == ([], None)


async def test_bounds_at_the_edges_of_the_date_range_leave_nothing_out(executions: ExecutionRepository) -> None:
    await stored(executions, workflow("wf"), "e1")
    edges = ExecutionFilter(since=datetime.min.replace(tzinfo=UTC), until=datetime.max.replace(tzinfo=UTC))

    assert await _all_pages(executions, edges, limit=10) == [["e1"]]
