"""The API's observability: statistics endpoints, HTTP metrics by route template, cancellations counted and
announced, and the execution's trace context kept out of its resource."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from tests.unit.fakes import START, RecordingPublisher
from tests.unit.workflows.conftest import BASE_URL, assert_problem
from tests.unit.workflows.fakes import manual_workflow

from wfa.adapters.memory import InMemoryExecutionRepository, InMemoryWorkflowRepository
from wfa.adapters.memory_versions import InMemoryVersionRepository
from wfa.domain.clock import FakeClock
from wfa.domain.errors import ActionFailed
from wfa.events import LifecycleEvent
from wfa.service_layer.triggering import Triggering
from wfa_workflows.app import ApiDependencies, create_app
from wfa_workflows.metrics import ApiMetrics
from wfa_workflows.use_cases import WorkflowUseCases

OWNER = "runner-1"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class RecordingEvents:
    def __init__(self) -> None:
        self.sent: list[LifecycleEvent] = []

    async def publish_event(self, event: LifecycleEvent) -> None:
        self.sent.append(event)


@dataclass
class Api:
    client: httpx.AsyncClient
    clock: FakeClock
    workflows: InMemoryWorkflowRepository
    executions: InMemoryExecutionRepository
    registry: CollectorRegistry
    events: RecordingEvents

    def sample(self, name: str, **labels: str) -> float:
        value = self.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value

    async def create(self, workflow_id: str) -> None:
        response = await self.client.post("/workflows", json=manual_workflow(workflow_id))
        assert response.status_code == 201, response.text

    async def trigger(self, workflow_id: str) -> str:
        response = await self.client.post(f"/workflows/{workflow_id}/trigger")
        assert response.status_code == 202, response.text
        execution_id: str = response.json()["executionId"]
        return execution_id

    async def run(self, execution_id: str, *, took: timedelta, fail: bool = False) -> None:
        """Do what a runner does with the execution's one action, starting now and taking `took`."""
        start = self.clock.now()
        end = start + took
        claimed = await self.executions.claim_for_run(
            execution_id, attempt=1, owner=OWNER, lease_until=end + timedelta(minutes=1), now=start
        )
        assert claimed is not None
        execution = claimed.execution
        execution.start_attempt(start)
        execution.begin_action(0, start)
        if fail:
            failure = ActionFailed("no", kind="http_status", retryable=False)
            execution.fail_action(0, failure, claimed.plan, end)
        else:
            execution.complete_action(0, {"message": "hello"}, end)
            execution.succeed(end)
        await self.workflows.release_trigger_lock(execution.workflow_id, execution_id=execution_id)
        assert await self.executions.save_progress(execution, owner=OWNER, lease_until=end + timedelta(minutes=1))
        self.clock.set(end)


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    clock = FakeClock(START)
    workflows, executions = InMemoryWorkflowRepository(), InMemoryExecutionRepository()
    registry = CollectorRegistry()
    events = RecordingEvents()
    triggering = Triggering(
        workflows=workflows,
        executions=executions,
        publisher=RecordingPublisher(),
        clock=clock,
        trace_context=lambda: TRACEPARENT,  # as if every request came in a span
    )
    use_cases = WorkflowUseCases(triggering, InMemoryVersionRepository(), events=events, metrics=ApiMetrics(registry))
    app = create_app(ApiDependencies(use_cases=use_cases))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE_URL) as client:
        yield Api(client, clock, workflows, executions, registry, events)


def at(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def test_workflow_stats_count_rate_and_time_its_executions(api: Api) -> None:
    await api.create("wf")
    for took, fail in [(timedelta(milliseconds=100), False), (timedelta(milliseconds=300), True)]:
        await api.run(await api.trigger("wf"), took=took, fail=fail)
    await api.trigger("wf")  # queued

    response = await api.client.get("/workflows/wf/stats", params={"window": "1h"})

    assert response.status_code == 200, response.text
    body = response.json()
    assert {key: body[key] for key in ("workflowId", "window", "executions", "successRate", "errorRate")} == {
        "workflowId": "wf",
        "window": "1h",
        "executions": 3,
        "successRate": 0.5,
        "errorRate": 0.5,
    }
    assert body["byStatus"] == {"queued": 1, "running": 0, "pending": 0, "succeeded": 1, "failed": 1, "cancelled": 0}
    assert body["durationMs"] == {"count": 2, "avg": 200.0, "p50": 100.0, "p95": 300.0}
    assert body["until"] == at(api.clock.now())
    assert body["since"] == at(api.clock.now() - timedelta(hours=1))
    (action,) = body["actions"]
    assert action == {
        "workflowId": "wf",
        "name": "action-1",
        "type": "log",
        "runs": 2,
        "succeeded": 1,
        "failed": 1,
        "attempts": 2,
        "errorRate": 0.5,
        "durationMs": {"count": 2, "avg": 200.0, "p50": 100.0, "p95": 300.0},
    }
    assert body["slowestActions"] == [action]


async def test_stats_window_defaults_to_a_day_and_leaves_older_executions_out(api: Api) -> None:
    await api.create("wf")
    await api.run(await api.trigger("wf"), took=timedelta(milliseconds=10))
    api.clock.advance(timedelta(hours=25))
    await api.run(await api.trigger("wf"), took=timedelta(milliseconds=10))

    body = (await api.client.get("/workflows/wf/stats")).json()

    assert (body["window"], body["executions"]) == ("1d", 1)


async def test_stats_of_every_workflow_take_in_each_ones_executions(api: Api) -> None:
    for workflow_id in ("a", "b"):
        await api.create(workflow_id)
        await api.run(await api.trigger(workflow_id), took=timedelta(milliseconds=50))

    body = (await api.client.get("/stats", params={"window": "5m"})).json()

    assert (body["workflowId"], body["window"], body["executions"]) == (None, "5m", 2)
    assert [(a["workflowId"], a["name"]) for a in body["actions"]] == [("a", "action-1"), ("b", "action-1")]


async def test_stats_of_a_deleted_workflow_stay_readable(api: Api) -> None:
    await api.create("wf")
    await api.run(await api.trigger("wf"), took=timedelta(milliseconds=50))
    assert (await api.client.delete("/workflows/wf")).status_code == 204

    response = await api.client.get("/workflows/wf/stats")

    assert (response.status_code, response.json()["executions"]) == (200, 1)


async def test_stats_of_an_unknown_workflow_are_a_404_problem(api: Api) -> None:
    assert_problem(await api.client.get("/workflows/nope/stats"), 404)


@pytest.mark.parametrize("window", ["0s", "366d", "1w", "abc", "", "10"])
async def test_a_window_outside_the_duration_syntax_or_1s_to_365d_is_a_422_problem(api: Api, window: str) -> None:
    for url in ("/stats", "/workflows/x/stats"):
        body = assert_problem(await api.client.get(url, params={"window": window}), 422)
        assert [error["loc"] for error in body["errors"]] == [["query", "window"]]


async def test_an_execution_never_shows_its_trace_context(api: Api) -> None:
    await api.create("wf")
    execution_id = await api.trigger("wf")
    assert (await api.executions.get(execution_id)).traceparent == TRACEPARENT

    shown = (await api.client.get(f"/executions/{execution_id}")).json()
    page = (await api.client.get("/workflows/wf/executions")).json()
    schema = (await api.client.get("/openapi.json")).json()["components"]["schemas"]

    assert "traceparent" not in shown
    assert "traceparent" not in page["items"][0]
    assert not [name for name, item in schema.items() if "traceparent" in item.get("properties", {})]


async def test_a_cancel_is_counted_and_announced_on_the_events_topic(api: Api) -> None:
    await api.create("wf")
    execution_id = await api.trigger("wf")

    response = await api.client.post(f"/executions/{execution_id}/cancel")

    assert response.status_code == 200, response.text
    assert api.sample("wfa_executions_total", status="cancelled", reason="manual") == 1.0
    (event,) = api.events.sent
    assert (event.type, event.execution_id, event.workflow_id, event.status) == (
        "execution.cancelled",
        execution_id,
        "wf",
        "cancelled",
    )


async def test_http_requests_are_counted_and_timed_by_route_template(api: Api) -> None:
    await api.create("wf")
    await api.trigger("wf")
    await api.client.post("/workflows/wf/trigger")  # 409: busy
    await api.client.get("/workflows/unknown-1")
    await api.client.get("/workflows/unknown-2")
    await api.client.get("/no/such/url")

    trigger: dict[str, Any] = {"method": "POST", "route": "/workflows/{workflow_id}/trigger"}
    assert api.sample("wfa_http_requests_total", **trigger, status="202") == 1.0
    assert api.sample("wfa_http_requests_total", **trigger, status="409") == 1.0
    assert api.sample("wfa_http_request_duration_seconds_count", **trigger) == 2.0
    assert api.sample("wfa_http_requests_total", method="GET", route="/workflows/{workflow_id}", status="404") == 2.0
    assert api.sample("wfa_http_requests_total", method="GET", route="unmatched", status="404") == 1.0
    assert api.sample("wfa_http_requests_total", method="POST", route="/workflows", status="201") == 1.0
