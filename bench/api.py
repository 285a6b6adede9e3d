"""The few calls of the workflows REST API (docs/api.md) the scenarios make, and reading executions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import httpx

Execution = dict[str, Any]
Workflow = dict[str, Any]

#: Statuses an execution never leaves.
FINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})


class BenchError(RuntimeError):
    """The system did not do what a scenario needs (an unexpected status code, a failed execution...)."""


def log_workflow(workflow_id: str) -> dict[str, Any]:
    """A manual workflow with one `log` action: the cheapest thing the runner can run."""
    return {
        "workflowId": workflow_id,
        "trigger": {"type": "manual"},
        "actions": [{"type": "log", "message": "bench"}],
    }


def periodic_log_workflow(workflow_id: str, interval_seconds: int) -> dict[str, Any]:
    """A periodic workflow with one `log` action: what the scheduler fires costs the runner next to nothing."""
    return {
        "workflowId": workflow_id,
        "trigger": {"type": "periodic", "interval": f"{interval_seconds}s"},
        "actions": [{"type": "log", "message": "bench"}],
    }


def parse_timestamp(value: str) -> datetime:
    """An ISO-8601 timestamp of the API (`...Z` or `...+00:00`); it must carry its offset."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp without a UTC offset: {value!r}")
    return parsed


def server_latency_ms(execution: Execution) -> float:
    """`finishedAt - createdAt` of a finished execution in milliseconds: the trigger-to-end time the server saw."""
    created, finished = execution.get("createdAt"), execution.get("finishedAt")
    if not isinstance(created, str) or not isinstance(finished, str):
        raise BenchError(f"execution {execution.get('executionId')} has no createdAt/finishedAt: {execution}")
    return (parse_timestamp(finished) - parse_timestamp(created)).total_seconds() * 1000


def finished_at(execution: Execution) -> datetime:
    value = execution.get("finishedAt")
    if not isinstance(value, str):
        raise BenchError(f"execution {execution.get('executionId')} has no finishedAt: {execution}")
    return parse_timestamp(value)


def require_succeeded(execution: Execution) -> Execution:
    if execution.get("status") != "succeeded":
        raise BenchError(f"execution {execution.get('executionId')} ended {execution.get('status')}: {execution}")
    return execution


class WorkflowsApi:
    """A thin async client of the workflows service; any unexpected answer raises BenchError with its body."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def create_log_workflow(self, workflow_id: str) -> None:
        response = await self._client.post("/workflows", json=log_workflow(workflow_id))
        _expect(response, 201)

    async def create_periodic_log_workflow(self, workflow_id: str, interval_seconds: int) -> Workflow:
        response = await self._client.post("/workflows", json=periodic_log_workflow(workflow_id, interval_seconds))
        _expect(response, 201)
        created: Workflow = response.json()
        return created

    async def pause(self, workflow_id: str) -> Workflow:
        response = await self._while_unavailable(lambda: self._client.post(f"/workflows/{workflow_id}/pause"))
        _expect(response, 200)
        paused: Workflow = response.json()
        return paused

    async def executions_of(self, workflow_id: str) -> list[Execution]:
        """Every execution of the workflow, newest first (all pages)."""
        executions: list[Execution] = []
        params: dict[str, Any] = {"limit": 500}
        while True:
            response = await self._while_unavailable(
                lambda: self._client.get(f"/workflows/{workflow_id}/executions", params=dict(params))
            )
            _expect(response, 200)
            page = response.json()
            executions.extend(page["items"])
            if page.get("nextCursor") is None:
                return executions
            params["cursor"] = page["nextCursor"]

    async def executions_since(self, workflow_id: str, since: datetime) -> list[Execution]:
        """The workflow's executions created after `since`, newest first: pages are read only until one reaches
        back to `since`, so a long history costs nothing to skip."""
        executions: list[Execution] = []
        params: dict[str, Any] = {"limit": 100}
        while True:
            response = await self._while_unavailable(
                lambda: self._client.get(f"/workflows/{workflow_id}/executions", params=dict(params))
            )
            _expect(response, 200)
            page = response.json()
            for execution in page["items"]:
                if parse_timestamp(execution["createdAt"]) <= since:
                    return executions
                executions.append(execution)
            if page.get("nextCursor") is None:
                return executions
            params["cursor"] = page["nextCursor"]

    async def _while_unavailable(self, send: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
        """`send()` again after each 503, for up to UNAVAILABLE_FOR_SECONDS; for idempotent calls only."""
        deadline = time.monotonic() + UNAVAILABLE_FOR_SECONDS
        while True:
            response = await send()
            if response.status_code != 503 or time.monotonic() >= deadline:
                return response
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))

    async def trigger(self, workflow_id: str) -> str:
        """Trigger `workflow_id`; return the new executionId."""
        response = await self._client.post(f"/workflows/{workflow_id}/trigger")
        _expect(response, 202)
        execution_id = response.json().get("executionId")
        if not isinstance(execution_id, str):
            raise BenchError(f"trigger of {workflow_id} answered without an executionId: {response.text}")
        return execution_id

    async def execution(self, execution_id: str) -> Execution:
        response = await self._client.get(f"/executions/{execution_id}")
        _expect(response, 200)
        body: Execution = response.json()
        return body

    async def wait_finished(self, execution_id: str, *, interval: float, timeout: float) -> Execution:  # noqa: ASYNC109
        """Poll GET /executions/{id} every `interval` seconds until the execution is final (BenchError after
        `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            execution = await self.execution(execution_id)
            if execution.get("status") in FINAL_STATUSES:
                return execution
            if time.monotonic() >= deadline:
                raise BenchError(f"execution {execution_id} not finished within {timeout:.0f}s: {execution}")
            await asyncio.sleep(interval)


#: How long an idempotent call is repeated while the API answers 503 (its MongoDB saturated, as the schedule
#: scenario's load leaves the embedded server for a while).
UNAVAILABLE_FOR_SECONDS = 300.0


def _expect(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        raise BenchError(
            f"{response.request.method} {response.request.url.path} answered {response.status_code}, "
            f"expected {status}: {response.text[:2000]}"
        )
