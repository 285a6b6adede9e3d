"""Executions newest first on the real MongoDB-wire server: every filter combination the API offers, first page and
next, is served by an index (explain of the very find commands the repository sent), and what a page costs as the
collection grows (printed, not asserted: timings on 2 shared cores are not a verdict)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import product
from typing import Any

import pytest
from bench.history import finished_execution_documents
from tests.integration.conftest import FindRecorder

from wfa.adapters.mongo import MongoStore
from wfa.adapters.mongo.documents import Document
from wfa.domain.execution import ExecutionStatus, Reason
from wfa.ports.repositories import ExecutionFilter

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 1, tzinfo=UTC)
DAYS = 10.0
WORKFLOWS = 20
WORKFLOW = "h-0003"


def _history(count: int, *, seed: int) -> Iterator[Document]:
    """Succeeded executions, manual or scheduled, with some failed and some retries among them."""
    for n, document in enumerate(
        finished_execution_documents(count, workflows=WORKFLOWS, now=NOW, days=DAYS, prefix="h", seed=seed)
    ):
        if n % 3 == 0:
            document["status"] = ExecutionStatus.FAILED.value
        if n % 4 == 0:
            document["reason"] = Reason.RETRY.value
        yield document


def _filters() -> list[ExecutionFilter]:
    """Every combination of the equality filters, each alone and within a window."""
    filters = []
    for workflow_id, status, reason, windowed in product(
        [None, WORKFLOW], [None, ExecutionStatus.FAILED], [None, Reason.RETRY], [False, True]
    ):
        since, until = (NOW - timedelta(days=6), NOW - timedelta(days=2)) if windowed else (None, None)
        filters.append(ExecutionFilter(workflow_id=workflow_id, status=status, reason=reason, since=since, until=until))
    return filters


def _name(where: ExecutionFilter) -> str:
    parts = [
        f"{label}={value}"
        for label, value in [("workflowId", where.workflow_id), ("status", where.status), ("reason", where.reason)]
        if value is not None
    ]
    return ",".join(parts + (["window"] if where.since else [])) or "none"


def _stages(plan: Any) -> Iterator[str]:
    if isinstance(plan, dict):
        if isinstance(plan.get("stage"), str):
            yield plan["stage"]
        for value in plan.values():
            yield from _stages(value)
    elif isinstance(plan, list):
        for value in plan:
            yield from _stages(value)


@pytest.fixture
def recorded(recording_store: MongoStore, finds: FindRecorder) -> tuple[MongoStore, FindRecorder]:
    return recording_store, finds


async def _insert(store: MongoStore, documents: Iterator[Document]) -> None:
    batch = list(documents)
    for start in range(0, len(batch), 1000):
        await store.executions_collection.insert_many(batch[start : start + 1000], ordered=False)


async def test_every_filter_combination_runs_on_an_index(recorded: tuple[MongoStore, FindRecorder]) -> None:
    store, recorder = recorded
    await _insert(store, _history(3000, seed=1))
    unserved: dict[str, list[str]] = {}
    for where in _filters():
        recorder.sent.clear()
        first = await store.executions.newest_first(where, limit=2, cursor=None)
        assert first.next_cursor is not None, f"{_name(where)}: the history should hold more than a page"
        await store.executions.newest_first(where, limit=2, cursor=first.next_cursor)
        assert len(recorder.sent) >= 2
        for find in recorder.sent:
            command = {key: find[key] for key in ("find", "filter", "sort", "limit") if key in find}
            explained = await store.executions_collection.database.command("explain", command)
            stages = set(_stages(explained["queryPlanner"]["winningPlan"]))
            if "IXSCAN" not in stages or "COLLSCAN" in stages:
                unserved.setdefault(_name(where), []).append(f"{command['filter']}: {sorted(stages)}")
    assert unserved == {}


async def test_what_a_page_costs_as_the_collection_grows(recorded: tuple[MongoStore, FindRecorder]) -> None:
    store, _ = recorded
    filters = [where for where in _filters() if where.since is None] + [
        ExecutionFilter(since=NOW - timedelta(hours=12), until=NOW - timedelta(hours=6))
    ]

    async def measure() -> dict[str, float]:
        figures = {}
        for where in filters:
            samples = []
            for _ in range(3):
                started = time.perf_counter()
                await store.executions.newest_first(where, limit=50, cursor=None)
                samples.append(time.perf_counter() - started)
            figures[_name(where)] = statistics.median(samples) * 1000
        return figures

    await _insert(store, _history(2000, seed=2))
    small = await measure()
    await _insert(store, _history(6000, seed=3))
    large = await measure()

    print(f"\n{'filter':48} {'2,000 ms':>9} {'8,000 ms':>9} {'ratio':>6}")
    for name in small:
        print(f"{name:48} {small[name]:9.1f} {large[name]:9.1f} {large[name] / small[name]:6.2f}")
