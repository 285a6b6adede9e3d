"""A workflow's execution history over the real API: newest first, filtered by status, and still readable after
the workflow is deleted."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
from tests.e2e.helpers import (
    create_manual_workflow,
    get_json,
    http_action,
    run_to_end,
)
from tests.e2e.target import TargetServer

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class History:
    workflow_id: str
    oldest_first: list[str]
    statuses: dict[str, str]


async def _history(api: httpx.AsyncClient, target: TargetServer, stem: str) -> History:
    """Three executions, one after the other: succeeded, failed (the target answers 500), succeeded."""
    path = target.path(stem)
    workflow_id = await create_manual_workflow(api, stem, http_action(target.url(path)), retry={"maxAttempts": 1})
    oldest_first: list[str] = []
    statuses: dict[str, str] = {}
    for status in (200, 500, 200):
        target.respond(path, status)
        execution = await run_to_end(api, workflow_id)
        oldest_first.append(execution["executionId"])
        statuses[execution["executionId"]] = execution["status"]
    assert list(statuses.values()) == ["succeeded", "failed", "succeeded"], statuses
    return History(workflow_id, oldest_first, statuses)


@pytest.fixture(scope="module")
async def history(api: httpx.AsyncClient, target: TargetServer) -> History:
    return await _history(api, target, "history")


async def test_executions_are_listed_newest_first(api: httpx.AsyncClient, history: History) -> None:
    page = await get_json(api, f"/workflows/{history.workflow_id}/executions")

    assert [e["executionId"] for e in page["items"]] == history.oldest_first[::-1]
    assert page["nextCursor"] is None


async def test_executions_are_filtered_by_status(api: httpx.AsyncClient, history: History) -> None:
    failed = await get_json(api, f"/workflows/{history.workflow_id}/executions", status="failed")
    succeeded = await get_json(api, f"/workflows/{history.workflow_id}/executions", status="succeeded")

    assert [e["executionId"] for e in failed["items"]] == [history.oldest_first[1]]
    assert [e["executionId"] for e in succeeded["items"]] == [history.oldest_first[2], history.oldest_first[0]]


async def test_executions_are_paged_with_a_cursor(api: httpx.AsyncClient, history: History) -> None:
    first = await get_json(api, f"/workflows/{history.workflow_id}/executions", limit=2)
    second = await get_json(api, f"/workflows/{history.workflow_id}/executions", limit=2, cursor=first["nextCursor"])

    assert [e["executionId"] for e in first["items"] + second["items"]] == history.oldest_first[::-1]
    assert second["nextCursor"] is None


async def test_deleted_workflow_is_gone_but_its_executions_stay_readable(
    api: httpx.AsyncClient, target: TargetServer
) -> None:
    deleted = await _history(api, target, "deleted")

    response = await api.delete(f"/workflows/{deleted.workflow_id}")

    assert response.status_code == 204
    assert (await api.get(f"/workflows/{deleted.workflow_id}")).status_code == 404
    page = await get_json(api, f"/workflows/{deleted.workflow_id}/executions")
    assert [e["executionId"] for e in page["items"]] == deleted.oldest_first[::-1]
    for execution_id, status in deleted.statuses.items():
        assert (await get_json(api, f"/executions/{execution_id}"))["status"] == status
