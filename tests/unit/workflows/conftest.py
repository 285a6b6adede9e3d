"""The API over in-memory repositories, a recording publisher and a fake clock, called in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from itertools import count
from typing import Any

import httpx
import pytest
from tests.unit.fakes import RecordingPublisher

from wfa.adapters.memory import InMemoryExecutionRepository, InMemoryWorkflowRepository
from wfa.adapters.memory_versions import InMemoryVersionRepository
from wfa.adapters.secrets import EnvironmentSecrets
from wfa.domain.clock import FakeClock
from wfa.entrypoints.ops_http import ReadinessCheck
from wfa.service_layer.triggering import Triggering
from wfa_workflows.api.auth import parse_api_keys
from wfa_workflows.app import ApiDependencies, create_app
from wfa_workflows.use_cases import WorkflowUseCases

BASE_URL = "http://api.test"

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def workflows() -> InMemoryWorkflowRepository:
    return InMemoryWorkflowRepository()


@pytest.fixture
def executions() -> InMemoryExecutionRepository:
    return InMemoryExecutionRepository()


@pytest.fixture
def make_client(
    clock: FakeClock,
    publisher: RecordingPublisher,
    workflows: InMemoryWorkflowRepository,
    executions: InMemoryExecutionRepository,
) -> ClientFactory:
    """An API client over the shared fakes; `workflows=`/`executions=` swap a repository, `api_keys=` sets keys,
    `secrets=` the service's secrets by name (as WFA_SECRET_<NAME> would)."""
    ids = count(1)

    @asynccontextmanager
    async def factory(
        *,
        api_keys: Sequence[str] = (),
        workflows_repo: Any = None,
        executions_repo: Any = None,
        readiness: Mapping[str, ReadinessCheck] | None = None,
        secrets: Mapping[str, str] | None = None,
    ) -> AsyncIterator[httpx.AsyncClient]:
        triggering = Triggering(
            workflows=workflows_repo if workflows_repo is not None else workflows,
            executions=executions_repo if executions_repo is not None else executions,
            publisher=publisher,
            clock=clock,
            new_id=lambda: f"e{next(ids):04d}",
        )
        app = create_app(
            ApiDependencies(
                use_cases=WorkflowUseCases(
                    triggering,
                    InMemoryVersionRepository(),
                    events=publisher,
                    secrets=EnvironmentSecrets({f"WFA_SECRET_{k}": v for k, v in (secrets or {}).items()}),
                ),
                api_keys=parse_api_keys(api_keys),
                readiness=readiness or {},
            )
        )
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE_URL) as client:
            yield client

    return factory


@pytest.fixture
async def client(make_client: ClientFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client() as api:
        yield api


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    return body
