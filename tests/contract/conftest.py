"""One repository suite, two implementations: every test here runs against the in-memory repositories and against
MongoDB (a real server: the session's SecantusDB or mongo container, a fresh database per test)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from tests.contract.builders import T0

from wfa.adapters.memory import InMemoryExecutionRepository, InMemoryWorkflowRepository
from wfa.adapters.memory_versions import InMemoryVersionRepository
from wfa.adapters.mongo import MongoStore
from wfa.domain.clock import FakeClock
from wfa.ports.repositories import ExecutionRepository, WorkflowRepository, WorkflowVersionRepository

MONGO_TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class Repositories:
    workflows: WorkflowRepository
    executions: ExecutionRepository
    versions: WorkflowVersionRepository


@pytest.fixture(params=["memory", pytest.param("mongodb", marks=pytest.mark.integration)])
async def repositories(request: pytest.FixtureRequest) -> AsyncIterator[Repositories]:
    if request.param == "memory":
        yield Repositories(InMemoryWorkflowRepository(), InMemoryExecutionRepository(), InMemoryVersionRepository())
        return
    store = MongoStore.from_url(request.getfixturevalue("fresh_mongo_url"), timeout_ms=MONGO_TIMEOUT_MS)
    await store.ensure_indexes()
    try:
        yield Repositories(store.workflows, store.executions, store.versions)
    finally:
        await store.close()


@pytest.fixture
def workflows(repositories: Repositories) -> WorkflowRepository:
    return repositories.workflows


@pytest.fixture
def executions(repositories: Repositories) -> ExecutionRepository:
    return repositories.executions


@pytest.fixture
def versions(repositories: Repositories) -> WorkflowVersionRepository:
    return repositories.versions


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)
