"""What the e2e tests do over and over through the API: create workflows, trigger them, wait for an outcome."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
from tests.e2e.target import TargetServer

T = TypeVar("T")

FINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
DEFAULT_TIMEOUT = 30.0
PROBLEM_JSON = "application/problem+json"


def unique_id(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:10]}"


async def poll(
    fetch: Callable[[], Awaitable[T]],
    until: Callable[[T], bool],
    *,
    what: str,
    within: float = DEFAULT_TIMEOUT,
    interval: float = 0.1,
) -> T:
    """Call `fetch` until `until` holds for its result, and return that result; AssertionError with the last
    result after `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await fetch()
        if until(value):
            return value
        if loop.time() >= deadline:
            raise AssertionError(f"{what}: not reached within {within:g}s; last seen: {value!r}")
        await asyncio.sleep(interval)


async def get_json(api: httpx.AsyncClient, url: str, **params: Any) -> Any:
    response = await api.get(url, params=params)
    assert response.status_code == 200, f"GET {url}: {response.status_code} {response.text}"
    return response.json()


async def create_workflow(api: httpx.AsyncClient, definition: dict[str, Any]) -> dict[str, Any]:
    response = await api.post("/workflows", json=definition)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def create_manual_workflow(api: httpx.AsyncClient, stem: str, *actions: dict[str, Any], **fields: Any) -> str:
    """Create a manually triggered workflow with these actions under a fresh id made from `stem`; its id."""
    workflow_id = unique_id(stem)
    await create_workflow(api, manual_workflow(workflow_id, *actions, **fields))
    return workflow_id


async def trigger(api: httpx.AsyncClient, workflow_id: str, body: dict[str, Any] | None = None) -> str:
    """Trigger and return the new execution's id (asserting the 202)."""
    response = await api.post(f"/workflows/{workflow_id}/trigger", json=body)
    assert response.status_code == 202, response.text
    execution_id: str = response.json()["executionId"]
    return execution_id


async def wait_for_execution(
    api: httpx.AsyncClient,
    execution_id: str,
    statuses: frozenset[str] = FINAL_STATUSES,
    *,
    within: float = DEFAULT_TIMEOUT,
) -> dict[str, Any]:
    """The execution once its status is one of `statuses` (by default, once it has finished)."""
    execution: dict[str, Any] = await poll(
        lambda: get_json(api, f"/executions/{execution_id}"),
        lambda e: e["status"] in statuses,
        what=f"execution {execution_id} {'/'.join(sorted(statuses))}",
        within=within,
    )
    return execution


async def wait_for_idle(api: httpx.AsyncClient, workflow_id: str, *, within: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """The workflow once its lock is idle."""
    workflow: dict[str, Any] = await poll(
        lambda: get_json(api, f"/workflows/{workflow_id}"),
        lambda w: w["trigger"]["status"] == "idle",
        what=f"workflow {workflow_id} idle",
        within=within,
    )
    return workflow


async def run_to_end(api: httpx.AsyncClient, workflow_id: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Trigger, then wait until the execution has finished; the execution."""
    return await wait_for_execution(api, await trigger(api, workflow_id, body))


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status; its body."""
    assert response.status_code == status, f"{response.status_code} {response.text}"
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers["content-type"]
    problem: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= set(problem), problem
    assert problem["status"] == status
    return problem


def log_action(message: str, **fields: Any) -> dict[str, Any]:
    return {"type": "log", "message": message, **fields}


def http_action(url: str, method: str = "GET", **fields: Any) -> dict[str, Any]:
    return {"type": "http-request", "url": url, "method": method, **fields}


def manual_workflow(workflow_id: str, *actions: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"workflowId": workflow_id, "trigger": {"type": "manual"}, "actions": list(actions), **fields}


async def wait_for_requests(target: TargetServer, path: str, count: int, *, within: float = DEFAULT_TIMEOUT) -> None:
    """Return once the target server has received `count` requests to `path`."""

    async def seen() -> int:
        return target.count(path)

    await poll(seen, lambda n: n >= count, what=f"{count} request(s) to {path}", within=within)
