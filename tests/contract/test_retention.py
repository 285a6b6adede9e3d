"""ExecutionRepository: what retention reads and removes (finished executions by finishedAt, a workflow's
keep-last boundary, removal that only ever takes final executions)."""

from __future__ import annotations

import asyncio
from datetime import datetime

from tests.contract.builders import T0, ms, pending, running, seconds, stored, workflow

from wfa.domain.errors import ExecutionNotFound
from wfa.domain.workflow import Workflow
from wfa.ports.repositories import ExecutionFilter, ExecutionPosition, ExecutionRepository, FinishedPosition

DAY = seconds(86_400)


async def finished(
    executions: ExecutionRepository, of: Workflow, execution_id: str, *, created: datetime, at: datetime
) -> None:
    """A stored execution created at `created` and cancelled (final) at `at`."""
    await stored(executions, of, execution_id, now=created)
    await executions.cancel(execution_id, now=at)


async def succeeded(
    executions: ExecutionRepository, of: Workflow, execution_id: str, *, created: datetime, at: datetime
) -> None:
    execution = await running(executions, of, execution_id, now=created)
    execution.succeed(at)
    assert await executions.save_progress(execution, owner="runner-1", lease_until=at + seconds(30))


async def ids_finished_before(executions: ExecutionRepository, before: datetime, *, limit: int = 100) -> list[str]:
    page = await executions.find_finished_before(before=before, limit=limit)
    return [item.execution_id for item in page.items]


async def still_there(executions: ExecutionRepository, *execution_ids: str) -> list[str]:
    present = []
    for execution_id in execution_ids:
        try:
            await executions.get(execution_id)
        except ExecutionNotFound:
            continue
        present.append(execution_id)
    return present


async def test_finished_before_lists_final_executions_oldest_finish_first(executions: ExecutionRepository) -> None:
    wf = workflow("wf")
    await finished(executions, wf, "late", created=T0, at=T0 + seconds(3))
    await succeeded(executions, wf, "early", created=T0 + seconds(1), at=T0 + seconds(2))
    await finished(executions, workflow("other"), "other", created=T0, at=T0 + seconds(4))
    await finished(executions, wf, "recent", created=T0, at=T0 + seconds(10))

    page = await executions.find_finished_before(before=T0 + seconds(10), limit=10)

    assert [item.execution_id for item in page.items] == ["early", "late", "other"]
    assert page.resume_after is None
    first = page.items[0]
    assert (first.workflow_id, first.created_at, first.finished_at) == ("wf", T0 + seconds(1), T0 + seconds(2))


async def test_finished_before_never_lists_a_queued_running_or_pending_execution(
    executions: ExecutionRepository,
) -> None:
    wf = workflow("wf")
    await stored(executions, wf, "queued", now=T0)
    await running(executions, wf, "running", now=T0)
    await pending(executions, wf, "pending", now=T0)
    await finished(executions, wf, "done", created=T0, at=T0 + ms(1))

    assert await ids_finished_before(executions, T0 + DAY * 1000) == ["done"]


async def test_finished_before_excludes_its_bound(executions: ExecutionRepository) -> None:
    wf = workflow("wf")
    await finished(executions, wf, "before", created=T0, at=T0 + ms(999))
    await finished(executions, wf, "at", created=T0, at=T0 + seconds(1))

    assert await ids_finished_before(executions, T0 + seconds(1)) == ["before"]


async def test_finished_before_pages_resume_strictly_after_the_last_one_read(executions: ExecutionRepository) -> None:
    wf = workflow("wf")
    # Three finish in the same millisecond: the id orders them, and no page loses or repeats one.
    for execution_id, at in [("a", T0 + ms(1)), ("c", T0 + ms(2)), ("b", T0 + ms(2)), ("d", T0 + ms(2))]:
        await finished(executions, wf, execution_id, created=T0, at=at)
    await finished(executions, wf, "e", created=T0, at=T0 + ms(3))
    before = T0 + seconds(1)

    first = await executions.find_finished_before(before=before, limit=2)
    second = await executions.find_finished_before(before=before, after=first.resume_after, limit=2)
    third = await executions.find_finished_before(before=before, after=second.resume_after, limit=2)

    assert [[item.execution_id for item in page.items] for page in (first, second, third)] == [
        ["a", "b"],
        ["c", "d"],
        ["e"],
    ]
    assert first.resume_after == FinishedPosition(T0 + ms(2), "b")
    assert third.resume_after is None


async def test_keep_last_boundary_is_the_workflows_nth_newest_execution_whatever_its_status(
    executions: ExecutionRepository,
) -> None:
    wf = workflow("wf")
    await finished(executions, wf, "e1", created=T0, at=T0 + ms(5))
    await stored(executions, wf, "e2", now=T0 + ms(1))
    await finished(executions, wf, "e3b", created=T0 + ms(2), at=T0 + ms(6))
    await finished(executions, wf, "e3a", created=T0 + ms(2), at=T0 + ms(7))
    await running(executions, wf, "e4", now=T0 + ms(3))
    await finished(executions, workflow("other"), "x", created=T0 + ms(9), at=T0 + ms(9))

    assert await executions.keep_last_boundary("wf", keep_last=1) == ExecutionPosition(T0 + ms(3), "e4")
    assert await executions.keep_last_boundary("wf", keep_last=2) == ExecutionPosition(T0 + ms(2), "e3b")
    assert await executions.keep_last_boundary("wf", keep_last=3) == ExecutionPosition(T0 + ms(2), "e3a")
    assert await executions.keep_last_boundary("wf", keep_last=5) == ExecutionPosition(T0, "e1")


async def test_keep_last_boundary_is_none_while_the_workflow_has_fewer_executions(
    executions: ExecutionRepository,
) -> None:
    await finished(executions, workflow("wf"), "e1", created=T0, at=T0)
    assert await executions.keep_last_boundary("wf", keep_last=2) is None
    assert await executions.keep_last_boundary("none", keep_last=1) is None


async def test_remove_finished_removes_final_executions_finished_before_the_bound(
    executions: ExecutionRepository,
) -> None:
    wf = workflow("wf")
    await finished(executions, wf, "old", created=T0, at=T0 + seconds(1))
    await succeeded(executions, wf, "old-succeeded", created=T0, at=T0 + seconds(2))
    await finished(executions, wf, "at-bound", created=T0, at=T0 + seconds(5))

    removed = await executions.remove_finished(["old", "old-succeeded", "at-bound"], finished_before=T0 + seconds(5))

    assert removed == 2
    assert await still_there(executions, "old", "old-succeeded", "at-bound") == ["at-bound"]
    page = await executions.newest_first(ExecutionFilter(workflow_id="wf"), limit=10, cursor=None)
    assert [e.execution_id for e in page.items] == ["at-bound"]


async def test_remove_finished_never_removes_an_execution_that_is_not_final(executions: ExecutionRepository) -> None:
    wf = workflow("wf")
    await stored(executions, wf, "queued", now=T0)
    await running(executions, wf, "running", now=T0)
    await pending(executions, wf, "pending", now=T0)

    removed = await executions.remove_finished(["queued", "running", "pending", "unknown"], finished_before=T0 + DAY)

    assert removed == 0
    assert await still_there(executions, "queued", "running", "pending") == ["queued", "running", "pending"]


async def test_remove_finished_twice_or_at_once_removes_each_execution_once(executions: ExecutionRepository) -> None:
    wf = workflow("wf")
    ids = [f"e{i}" for i in range(6)]
    for i, execution_id in enumerate(ids):
        await finished(executions, wf, execution_id, created=T0, at=T0 + ms(i))
    bound = T0 + seconds(1)

    together = await asyncio.gather(*(executions.remove_finished(ids, finished_before=bound) for _ in range(3)))
    again = await executions.remove_finished(ids, finished_before=bound)

    assert (sum(together), again) == (6, 0)
    assert await still_there(executions, *ids) == []


async def test_removed_executions_leave_the_statistics(executions: ExecutionRepository) -> None:
    wf = workflow("wf")
    await finished(executions, wf, "old", created=T0, at=T0 + seconds(1))
    await finished(executions, wf, "new", created=T0 + DAY, at=T0 + DAY)

    await executions.remove_finished(["old"], finished_before=T0 + seconds(2))

    everything = await executions.statistics(workflow_id="wf", since=T0, until=T0 + DAY)
    assert everything.executions == 1
    assert everything.by_status.cancelled == 1
