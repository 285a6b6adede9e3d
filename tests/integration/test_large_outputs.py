"""Large action outputs on a real server: the execution record stays far below MongoDB's 16 MiB document limit
however many actions return 256 KiB (WFA_ACTION_OUTPUT_MAX_BYTES), and every read gives the outputs back whole:
the repository's, the API's, and retention removes them with their execution."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import bson
import httpx
import pytest
from prometheus_client import CollectorRegistry
from tests.unit.fakes import RecordingPublisher
from tests.unit.runner.fakes import RecordingEvents

from wfa.adapters.mongo import MongoStore
from wfa.adapters.mongo.side_outputs import INLINE_MAX_BYTES, SideOutputs
from wfa.domain.clock import FakeClock
from wfa.domain.execution import Execution, ExecutionStatus
from wfa.domain.templates import TemplateContext
from wfa.domain.workflow import MAX_ACTIONS, Workflow, WorkflowDefinition
from wfa.ports.repositories import ExecutionFilter
from wfa.service_layer.triggering import Triggering, trigger_manually
from wfa_runner.actions.base import ActionSpec, Output
from wfa_runner.execution_runner import ExecutionRunner, RunOutcome
from wfa_runner.lifecycle_events import LifecycleEvents
from wfa_scheduler.metrics import SchedulerMetrics
from wfa_scheduler.retention import Retention
from wfa_workflows.api.auth import parse_api_keys
from wfa_workflows.app import ApiDependencies, create_app
from wfa_workflows.use_cases import WorkflowUseCases

pytestmark = pytest.mark.integration

NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
OUTPUT_BYTES = 256 * 1024
MONGO_DOCUMENT_LIMIT = 16 * 1024 * 1024


class LargeOutputs:
    """Every action returns an http-request output of about OUTPUT_BYTES, its JSON body different per action."""

    async def run(self, action: ActionSpec, context: TemplateContext) -> Output:
        name = action.name or ""
        return {
            "status": 200,
            "headers": {"content-type": "application/json"},
            "body": {"action": name, "items": [{"n": n, "text": f"{name}:{n:06d}" + "x" * 1000} for n in range(255)]},
        }


def _workflow(workflow_id: str, actions: int) -> Workflow:
    definition = WorkflowDefinition.model_validate(
        {
            "workflowId": workflow_id,
            "trigger": {"type": "manual"},
            "actions": [{"type": "log", "name": f"a{n:03d}", "message": "hi"} for n in range(actions)],
        }
    )
    return Workflow.create(definition, now=NOW - timedelta(days=90), next_run_at=None)


async def _run(store: MongoStore, clock: FakeClock, workflow_id: str, *, actions: int = MAX_ACTIONS) -> Execution:
    """Trigger and run one execution of `actions` actions, as the services do."""
    await store.workflows.add(_workflow(workflow_id, actions))
    publisher = RecordingPublisher()
    deps = Triggering(workflows=store.workflows, executions=store.executions, publisher=publisher, clock=clock)
    await trigger_manually(deps, workflow_id)
    runner = ExecutionRunner(
        workflows=store.workflows,
        executions=store.executions,
        actions={"log": LargeOutputs()},
        events=LifecycleEvents(RecordingEvents()),
        clock=clock,
        owner="runner-test",
        lease=timedelta(seconds=30),
    )
    (request,) = publisher.sent
    assert await runner.run(request) is RunOutcome.SUCCEEDED
    return await store.executions.get(request.execution_id)


def _output_size(output: Any) -> int:
    return len(bson.encode({"output": output}))


async def test_a_hundred_actions_of_256_kib_outputs_are_stored_and_read_back_whole(store: MongoStore) -> None:
    clock = FakeClock(NOW)

    started = time.perf_counter()
    execution = await _run(store, clock, "big")
    elapsed = time.perf_counter() - started

    assert execution.status is ExecutionStatus.SUCCEEDED
    expected = [await LargeOutputs().run(_workflow("big", MAX_ACTIONS).actions[n], {}) for n in range(MAX_ACTIONS)]
    assert [run.output for run in execution.actions] == expected
    assert all(_output_size(output) > OUTPUT_BYTES for output in expected)
    # Listed, the outputs come back whole too.
    (listed,) = (await store.executions.newest_first(ExecutionFilter(workflow_id="big"), limit=10, cursor=None)).items
    assert listed == execution

    record = await store.executions_collection.find_one({"_id": execution.execution_id})
    assert record is not None
    record_bytes = len(bson.encode(record))
    outputs_bytes = sum(_output_size(output) for output in expected)
    side = await store.outputs_collection.count_documents({"executionId": execution.execution_id})
    print(
        f"\n{MAX_ACTIONS} actions, outputs {outputs_bytes / 2**20:.1f} MiB in all: record {record_bytes} bytes, "
        f"{side} side outputs, run and stored in {elapsed:.2f}s"
    )
    assert side == MAX_ACTIONS
    assert record_bytes < MAX_ACTIONS * INLINE_MAX_BYTES < MONGO_DOCUMENT_LIMIT


async def test_small_outputs_stay_inside_the_record(store: MongoStore) -> None:
    class Small:
        async def run(self, action: ActionSpec, context: TemplateContext) -> Output:
            return {"message": "x" * (INLINE_MAX_BYTES // 2)}

    await store.workflows.add(_workflow("small", 3))
    publisher = RecordingPublisher()
    clock = FakeClock(NOW)
    deps = Triggering(workflows=store.workflows, executions=store.executions, publisher=publisher, clock=clock)
    await trigger_manually(deps, "small")
    runner = ExecutionRunner(
        workflows=store.workflows,
        executions=store.executions,
        actions={"log": Small()},
        events=LifecycleEvents(RecordingEvents()),
        clock=clock,
        owner="runner-test",
        lease=timedelta(seconds=30),
    )
    (request,) = publisher.sent

    await runner.run(request)

    assert await store.outputs_collection.count_documents({}) == 0
    execution = await store.executions.get(request.execution_id)
    assert [run.output for run in execution.actions] == [{"message": "x" * (INLINE_MAX_BYTES // 2)}] * 3


async def test_the_api_serves_an_execution_with_its_large_outputs_whole(store: MongoStore) -> None:
    clock = FakeClock(NOW)
    execution = await _run(store, clock, "api", actions=3)
    triggering = Triggering(
        workflows=store.workflows, executions=store.executions, publisher=RecordingPublisher(), clock=clock
    )
    app = create_app(
        ApiDependencies(use_cases=WorkflowUseCases(triggering, store.versions), api_keys=parse_api_keys([]))
    )

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api.test") as client:
        response = await client.get(f"/executions/{execution.execution_id}")
        listed = await client.get("/workflows/api/executions")

    assert response.status_code == 200
    outputs = [run["output"] for run in response.json()["actions"]]
    assert outputs == [run.output for run in execution.actions]
    assert all(_output_size(output) > OUTPUT_BYTES for output in outputs)
    assert [run["output"] for run in listed.json()["items"][0]["actions"]] == outputs


async def test_retention_removes_the_large_outputs_of_the_executions_it_removes(store: MongoStore) -> None:
    clock = FakeClock(NOW - timedelta(days=40))
    old = await _run(store, clock, "old", actions=2)
    clock.set(NOW)
    recent = await _run(store, clock, "recent", actions=2)
    retention = Retention(
        store.executions,
        clock,
        metrics=SchedulerMetrics(CollectorRegistry()),
        retention=timedelta(days=30),
        keep_last=0,
        batch=100,
        interval=timedelta(seconds=60),
    )

    result = await retention.run_once(clock.now())

    assert result.removed == 1
    assert await store.outputs_collection.count_documents({"executionId": old.execution_id}) == 0
    assert await store.outputs_collection.count_documents({"executionId": recent.execution_id}) == 2
    assert await store.executions.get(recent.execution_id) == recent


def _stored_output(size: int, tag: str) -> str:
    """An output as stored: its JSON text."""
    return '{"body":"' + tag + "x" * size + '"}'


async def test_every_list_of_runs_is_set_aside_and_put_back_and_a_missing_list_is_skipped(store: MongoStore) -> None:
    outputs = SideOutputs(store.outputs_collection)
    big, small = _stored_output(INLINE_MAX_BYTES, "big"), _stored_output(10, "small")
    document = {
        "_id": "ex",
        "actions": [{"name": "a", "output": big}, {"name": "b", "output": small}, {"name": "c", "output": None}],
        "compensations": [{"name": "undo-a", "output": _stored_output(INLINE_MAX_BYTES, "undo")}],
        "onFailure": None,
    }

    stored = await outputs.set_aside("ex", document)

    assert stored["actions"][1:] == document["actions"][1:]
    assert isinstance(stored["actions"][0]["output"], dict) and isinstance(stored["compensations"][0]["output"], dict)
    assert stored["onFailure"] is None
    assert await store.outputs_collection.count_documents({"executionId": "ex"}) == 2
    await outputs.put_back([stored])
    assert stored == document


async def test_an_output_set_aside_again_by_another_process_is_stored_once(store: MongoStore) -> None:
    document = {"_id": "ex", "actions": [{"name": "a", "output": _stored_output(INLINE_MAX_BYTES, "a")}]}
    first = await SideOutputs(store.outputs_collection).set_aside("ex", document)

    # A runner that took the execution over knows nothing of what the first one wrote.
    again = await SideOutputs(store.outputs_collection).set_aside("ex", document)

    assert again == first
    assert await store.outputs_collection.count_documents({}) == 1
