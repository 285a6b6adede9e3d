"""Versions and label filters on a real server (SecantusDB, or mongo:8 with Docker): every read they send is
served by an index, and reading a page of versions does not slow down as a history grows."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.integration.conftest import FindRecorder

from wfa.adapters.mongo import MongoStore
from wfa.adapters.mongo.documents import Document, definition_to_document, workflow_to_document
from wfa.adapters.mongo.versions import version_key
from wfa.domain.versions import WorkflowVersion
from wfa.domain.workflow import Workflow, WorkflowDefinition

pytestmark = pytest.mark.integration

NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
SHORT_PAGE, LONG = 51, 2_000  # versions in the short history (one page and the one below) and the long one
LABELLED = 1_000  # workflows, one in ten carrying the label filtered on


@pytest.fixture
def store(recording_store: MongoStore) -> MongoStore:
    return recording_store


def _workflow(workflow_id: str, *, labels: dict[str, str] | None = None) -> Workflow:
    definition = WorkflowDefinition.model_validate(
        {
            "workflowId": workflow_id,
            "trigger": {"type": "manual"},
            "actions": [{"type": "log", "message": "hi"}],
            "labels": labels or {},
        }
    )
    return Workflow.create(definition, now=NOW, next_run_at=None)


def _history(workflow_id: str, count: int) -> list[Document]:
    base = _workflow(workflow_id)
    documents = []
    for number in range(1, count + 1):
        version = WorkflowVersion.of(base.model_copy(update={"version": number, "description": f"v{number}"}))
        documents.append(
            {
                "_id": version_key(workflow_id, NOW, number),
                "workflowId": workflow_id,
                "createdAt": NOW,
                "version": number,
                "updatedAt": NOW + timedelta(seconds=number),
                "changedBy": None,
                "definition": {"workflowId": workflow_id, **_definition_fields(version)},
            }
        )
    return documents


def _definition_fields(version: WorkflowVersion) -> Document:
    fields = definition_to_document(version.definition)
    fields.pop("workflowId", None)
    return fields


async def _explain(store: MongoStore, command: Document, *, verbosity: str = "queryPlanner") -> dict[str, Any]:
    query = {key: value for key, value in command.items() if key not in ("lsid", "$db", "$clusterTime")}
    reply: dict[str, Any] = await store.versions_collection.database.command("explain", query, verbosity=verbosity)
    return reply


def _stages(plan: Any) -> list[str]:
    if isinstance(plan, dict):
        own = [plan["stage"]] if isinstance(plan.get("stage"), str) else []
        return own + [stage for value in plan.values() for stage in _stages(value)]
    if isinstance(plan, list):
        return [stage for value in plan for stage in _stages(value)]
    return []


async def _assert_index_served(store: MongoStore, commands: list[Document]) -> None:
    assert commands
    for command in commands:
        plan = await _explain(store, command)
        stages = _stages(plan.get("queryPlanner", {}).get("winningPlan"))
        assert "COLLSCAN" not in stages, (command, plan)
        assert {"IXSCAN", "IDHACK", "EXPRESS_IXSCAN", "EXPRESS_IDHACK"} & set(stages), (command, plan)


async def _time(call: Any, repeat: int = 20) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        await call()
    return (time.perf_counter() - started) / repeat


async def test_version_reads_are_index_served_and_do_not_grow_with_the_history(
    store: MongoStore, finds: FindRecorder
) -> None:
    await store.versions_collection.insert_many(_history("short", SHORT_PAGE) + _history("long", LONG))
    versions = store.versions

    finds.sent.clear()
    page = await versions.list("long", created_at=NOW, newest=LONG, limit=50, cursor=None)
    middle = await versions.list("long", created_at=NOW, newest=LONG, limit=50, cursor=page.next_cursor)
    assert [v.version for v in middle.items] == list(range(LONG - 50, LONG - 100, -1))
    found = await versions.get("long", created_at=NOW, version=LONG // 2)
    assert found is not None and found.definition.description == f"v{LONG // 2}"
    await _assert_index_served(store, list(finds.sent))
    for command in finds.sent:
        plan = await _explain(store, command, verbosity="executionStats")
        assert plan["executionStats"]["totalKeysExamined"] <= 51, (command, plan["executionStats"])

    short = await _time(lambda: versions.list("short", created_at=NOW, newest=SHORT_PAGE, limit=50, cursor=None))
    long = await _time(lambda: versions.list("long", created_at=NOW, newest=LONG, limit=50, cursor=None))
    print(f"\na page of 50 versions: of {SHORT_PAGE}: {short * 1000:.1f} ms, of {LONG}: {long * 1000:.1f} ms")
    assert long < short * 3 + 0.01, (short, long)


async def test_label_filters_are_index_served(store: MongoStore, finds: FindRecorder) -> None:
    documents = [
        workflow_to_document(
            _workflow(
                f"wf-{n:05d}",
                labels={"app.kubernetes.io/name": "billing" if n % 10 == 0 else "other", "tier": str(n % 20)},
            )
        )
        for n in range(LABELLED)
    ]
    await store.workflows_collection.insert_many(documents)
    selector = [("app.kubernetes.io/name", "billing")]

    finds.sent.clear()
    started = time.perf_counter()
    page = await store.workflows.list(limit=20, cursor=None, labels=selector)
    elapsed = time.perf_counter() - started
    second = await store.workflows.list(limit=20, cursor=page.next_cursor, labels=selector)
    both = await store.workflows.list(limit=20, cursor=None, labels=[*selector, ("tier", "10")])
    assert [w.workflow_id for w in page.items] == [f"wf-{n:05d}" for n in range(0, 200, 10)]
    assert [w.workflow_id for w in second.items] == [f"wf-{n:05d}" for n in range(200, 400, 10)]
    assert [w.workflow_id for w in both.items] == [f"wf-{n:05d}" for n in range(10, 400, 20)]
    print(f"\na labelled page of 20 among {LABELLED} workflows ({LABELLED // 10} labelled): {elapsed * 1000:.1f} ms")
    await _assert_index_served(store, list(finds.sent))
