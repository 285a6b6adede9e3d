"""What one execution costs MongoDB, counted command by command on a real server: the trigger and the runner as
the services wire them (the Kafka hop left out: it sends no MongoDB command).

No command whose cost grows with stored history (findAndModify: the embedded server scans its whole collection
for one), and, under load, fewer commands than executions' worth of single writes: concurrent executions' writes
go together (group commit).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest
from tests.unit.fakes import RecordingPublisher
from tests.unit.runner.fakes import RecordingEvents, ScriptedActions

from wfa.adapters.mongo import MongoStore
from wfa.adapters.mongo.metrics import COMMANDS
from wfa.domain.clock import SystemClock
from wfa.domain.execution import ExecutionStatus
from wfa.domain.workflow import Workflow, WorkflowDefinition
from wfa.ports.repositories import ExecutionFilter
from wfa.service_layer.triggering import Triggering, trigger_manually
from wfa_runner.execution_runner import ExecutionRunner
from wfa_runner.lifecycle_events import LifecycleEvents

pytestmark = pytest.mark.integration


def commands() -> Counter[str]:
    return Counter(
        {
            sample.labels["command"]: int(sample.value)
            for metric in COMMANDS.collect()
            for sample in metric.samples
            if sample.name == "wfa_mongodb_commands_total"
        }
    )


async def _run_executions(store: MongoStore, count: int) -> Counter[str]:
    clock = SystemClock()
    publisher = RecordingPublisher()
    deps = Triggering(workflows=store.workflows, executions=store.executions, publisher=publisher, clock=clock)
    for n in range(count):
        definition = WorkflowDefinition.model_validate(
            {"workflowId": f"w{n}", "trigger": {"type": "manual"}, "actions": [{"type": "log", "message": "hi"}]}
        )
        await store.workflows.add(Workflow.create(definition, now=clock.now(), next_run_at=None))
    actions = ScriptedActions()
    runner = ExecutionRunner(
        workflows=store.workflows,
        executions=store.executions,
        actions={"log": actions},
        events=LifecycleEvents(RecordingEvents()),
        clock=clock,
        owner="runner-test",
        lease=timedelta(seconds=30),
    )
    before = commands()

    async def one(n: int) -> None:
        await trigger_manually(deps, f"w{n}")

    await asyncio.gather(*(one(n) for n in range(count)))
    await asyncio.gather(*(runner.run(request) for request in publisher.sent))
    sent = commands() - before
    for n in range(count):
        (execution,) = (
            await store.executions.newest_first(ExecutionFilter(workflow_id=f"w{n}"), limit=2, cursor=None)
        ).items
        assert execution.status is ExecutionStatus.SUCCEEDED
    return sent


async def test_one_execution_sends_these_commands_and_no_find_and_modify(store: MongoStore) -> None:
    sent = await _run_executions(store, 1)

    # Trigger: take the lock (update), read the workflow (find), store the execution (insert). Runner: claim
    # (update), read it with its plan (find), save the action's result (update), release the lock (update),
    # store the final status (update).
    assert sent == Counter({"update": 5, "find": 2, "insert": 1})


async def test_under_load_an_execution_costs_at_most_three_commands(store: MongoStore) -> None:
    count = 60

    sent = await _run_executions(store, count)

    assert "findAndModify" not in sent
    assert sum(sent.values()) / count <= 3, sent
