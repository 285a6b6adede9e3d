"""Observability across the three processes: one trace id from the API call to the action's outbound request, log
lines that name their execution and trace, /metrics on every service, and statistics computed in MongoDB.

The client opens the trace itself (a W3C `traceparent` on the trigger request, which the API continues): every
hop after that, across Kafka and into the runner, must keep its trace id. No exporter is needed to see it: the
services log the trace id of each line, and the runner passes the context on in the action's HTTP request.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.e2e.helpers import (
    create_manual_workflow,
    create_workflow,
    get_json,
    http_action,
    log_action,
    manual_workflow,
    poll,
    run_to_end,
    unique_id,
    wait_for_execution,
)
from tests.e2e.target import TargetServer

from wfa_devstack import ServiceStack

pytestmark = pytest.mark.e2e

# A console log line: `<time> [<level>] <event>  key=value key='value with spaces' ...`; or a JSON one.
_FIELD = re.compile(r"(\w+)=('(?:[^'\\]|\\.)*'|\S+)")


async def runner_lines(services: ServiceStack, execution_id: str) -> list[tuple[str, dict[str, str]]]:
    """Every line of the runner's log that names `execution_id`, with its fields."""
    found = []
    for line in services.runner.log_text().splitlines():
        if line.startswith("{"):
            fields = {key: str(value) for key, value in json.loads(line).items()}
        else:
            fields = {key: value.strip("'") for key, value in _FIELD.findall(line)}
        if fields.get("execution_id") == execution_id:
            found.append((line, fields))
    return found


def new_traceparent() -> tuple[str, str]:
    trace_id = secrets.token_hex(16)
    return trace_id, f"00-{trace_id}-{secrets.token_hex(8)}-01"


async def test_one_trace_id_runs_from_the_api_call_through_the_runner_to_the_actions_request(
    api: httpx.AsyncClient, services: ServiceStack, target: TargetServer
) -> None:
    workflow_id = unique_id("traced")
    path = target.path("traced")
    target.respond(path, 200)
    await create_workflow(
        api, manual_workflow(workflow_id, log_action("before the call"), http_action(target.url(path)))
    )
    trace_id, traceparent = new_traceparent()

    response = await api.post(f"/workflows/{workflow_id}/trigger", headers={"traceparent": traceparent})
    assert response.status_code == 202, response.text
    execution_id = response.json()["executionId"]
    assert (await wait_for_execution(api, execution_id))["status"] == "succeeded"

    # The last line is logged just after the final status is stored.
    lines = await poll(
        lambda: runner_lines(services, execution_id),
        lambda found: any("execution.succeeded" in line for line, _ in found),
        what="the runner's execution.succeeded line",
    )
    assert len(lines) >= 3  # started, the log action's own line, succeeded (and more at debug level)
    for line, fields in lines:
        assert {key: fields.get(key) for key in ("workflow_id", "execution_id", "attempt", "trace_id")} == {
            "workflow_id": workflow_id,
            "execution_id": execution_id,
            "attempt": "1",
            "trace_id": trace_id,
        }, line
        assert re.fullmatch(r"[0-9a-f]{16}", fields.get("span_id", "")), line
    (received,) = target.requests(path)
    sent = {name.lower(): value for name, value in received.headers.items()}["traceparent"]
    assert sent.split("-")[1] == trace_id


def families(text: str) -> set[str]:
    """The metric names a /metrics text declares (`# TYPE <name> <type>`)."""
    return set(re.findall(r"^# TYPE (\S+) ", text, re.MULTILINE))


def value(text: str, name: str, **labels: str) -> float:
    """One sample's value; 0 when the series does not exist yet."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


async def scrape(services: ServiceStack) -> dict[str, str]:
    texts = {}
    async with httpx.AsyncClient(timeout=10.0) as client:
        for process in services:
            response = await client.get(f"{process.url}/metrics")
            assert response.status_code == 200, response.text
            texts[process.script] = response.text
    return texts


EXPECTED_FAMILIES = {
    "workflows-svc": {"wfa_http_requests_total", "wfa_http_request_duration_seconds", "wfa_executions_total"},
    "scheduler-svc": {"wfa_schedule_fires_total", "wfa_schedule_fire_lateness_seconds"},
    "runner-svc": {
        "wfa_executions_total",
        "wfa_execution_duration_seconds",
        "wfa_execution_attempts_total",
        "wfa_actions_total",
        "wfa_action_duration_seconds",
        "wfa_runner_in_flight_executions",
        "wfa_kafka_consumer_lag",
    },
}


async def test_every_service_serves_its_metrics_and_a_run_moves_them(
    api: httpx.AsyncClient, services: ServiceStack
) -> None:
    workflow_id = await create_manual_workflow(api, "metered", log_action("counted"))
    before = await scrape(services)

    assert (await run_to_end(api, workflow_id))["status"] == "succeeded"

    def moved(texts: dict[str, str]) -> bool:
        runner = texts["runner-svc"]
        return value(runner, "wfa_executions_total", reason="manual", status="succeeded") > value(
            before["runner-svc"], "wfa_executions_total", reason="manual", status="succeeded"
        )

    after = await poll(lambda: scrape(services), moved, what="the runner's execution counter")
    for process, names in EXPECTED_FAMILIES.items():
        assert names <= families(after[process]), process
    runner, api_text = after["runner-svc"], after["workflows-svc"]
    for name, labels in [
        ("wfa_actions_total", {"outcome": "succeeded", "type": "log"}),
        ("wfa_action_duration_seconds_count", {"outcome": "succeeded", "type": "log"}),
        ("wfa_execution_duration_seconds_count", {"status": "succeeded"}),
    ]:
        assert value(runner, name, **labels) > value(before["runner-svc"], name, **labels), name
    trigger = {"method": "POST", "route": "/workflows/{workflow_id}/trigger"}
    assert value(api_text, "wfa_http_requests_total", **trigger, status="202") >= 1
    assert value(api_text, "wfa_http_request_duration_seconds_count", **trigger) >= 1
    # The consumer lag is reported every few seconds, per partition the runner holds.
    lagging = await poll(
        lambda: scrape(services),
        lambda texts: "wfa_kafka_consumer_lag{" in texts["runner-svc"],
        what="the runner's consumer lag",
        within=20.0,
    )
    assert "partition=" in lagging["runner-svc"]


def _by_status(statuses: Iterable[str]) -> dict[str, int]:
    counts = dict.fromkeys(("queued", "running", "pending", "succeeded", "failed", "cancelled"), 0)
    for status in statuses:
        counts[status] += 1
    return counts


async def test_statistics_are_computed_by_the_database_over_a_window(
    api: httpx.AsyncClient, target: TargetServer
) -> None:
    workflow_id = unique_id("stats")
    path = target.path("stats")
    target.respond_in_turn(path, 200, 200, 404)
    await create_workflow(api, manual_workflow(workflow_id, http_action(target.url(path), name="call")))
    runs = [await run_to_end(api, workflow_id) for _ in range(3)]

    stats: dict[str, Any] = await get_json(api, f"/workflows/{workflow_id}/stats", window="1h")
    everything: dict[str, Any] = await get_json(api, "/stats", window="1h")

    assert [run["status"] for run in runs] == ["succeeded", "succeeded", "failed"]
    assert (stats["workflowId"], stats["window"], stats["executions"]) == (workflow_id, "1h", 3)
    assert stats["byStatus"] == _by_status(run["status"] for run in runs)
    assert (stats["successRate"], stats["errorRate"]) == pytest.approx((2 / 3, 1 / 3))
    durations = sorted(run["durationMs"] for run in runs)
    assert stats["durationMs"]["count"] == 3
    assert stats["durationMs"]["avg"] == pytest.approx(sum(durations) / 3)
    assert stats["durationMs"]["p50"] == durations[1]
    (call,) = stats["actions"]
    assert {key: call[key] for key in ("name", "type", "runs", "succeeded", "failed", "attempts")} == {
        "name": "call",
        "type": "http-request",
        "runs": 3,
        "succeeded": 2,
        "failed": 1,
        "attempts": 3,
    }
    assert stats["slowestActions"] == [call]
    assert everything["workflowId"] is None and everything["executions"] >= 3
    assert (workflow_id, "call") in {(a["workflowId"], a["name"]) for a in everything["actions"]}
