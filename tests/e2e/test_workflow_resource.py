"""Creating a workflow through the real API: the contract's seed payload, as it stands, is a valid definition."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

SEED: dict[str, Any] = {
    "workflowId": "recurrent-workflow",
    "trigger": {"type": "periodic", "interval": "10s"},
    "actions": [{"type": "http-request", "url": "https://example.com", "method": "GET"}],
}
DEFAULTED_TOP_LEVEL: dict[str, Any] = {
    "workflowId": "recurrent-workflow",
    "name": None,
    "description": None,
    "version": 1,
    "enabled": True,
    "retry": {"maxAttempts": 3, "initialInterval": "2s", "backoffRate": 2.0, "maxInterval": "5m"},
}
DEFAULTED_ACTION: dict[str, Any] = {
    "name": "action-1",
    "type": "http-request",
    "url": "https://example.com",
    "method": "GET",
    "headers": {},
    "body": None,
    "timeout": "10s",
    "expectStatus": None,
    "retry": None,
}
IDLE_PERIODIC_TRIGGER: dict[str, Any] = {
    "type": "periodic",
    "interval": "10s",
    "cron": None,
    "timezone": None,
    "status": "idle",
    "executionId": None,
}


def picked(resource: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    """The fields of `resource` that `expected` names (a missing one shows up as "<absent>")."""
    return {key: resource.get(key, "<absent>") for key in expected}


@pytest.fixture(scope="module")
async def seed_created(api: httpx.AsyncClient) -> AsyncIterator[httpx.Response]:
    response = await api.post("/workflows", json=SEED)
    try:
        yield response
    finally:
        # Its first fire is 10 s away; it must not reach out to example.com from a test run.
        await api.delete(f"/workflows/{SEED['workflowId']}")


def test_seed_payload_is_created_with_201_and_its_location(seed_created: httpx.Response) -> None:
    assert seed_created.status_code == 201, seed_created.text
    assert seed_created.headers["location"].endswith("/workflows/recurrent-workflow")


def test_seed_resource_is_the_definition_with_every_default_filled_in(seed_created: httpx.Response) -> None:
    workflow = seed_created.json()

    assert picked(workflow, DEFAULTED_TOP_LEVEL) == DEFAULTED_TOP_LEVEL
    assert len(workflow["actions"]) == 1
    assert picked(workflow["actions"][0], DEFAULTED_ACTION) == DEFAULTED_ACTION
    assert workflow["createdAt"] == workflow["updatedAt"]


def test_seed_trigger_is_idle_and_first_fires_one_interval_after_creation(seed_created: httpx.Response) -> None:
    workflow = seed_created.json()
    trigger = workflow["trigger"]
    created_at = datetime.fromisoformat(workflow["createdAt"])

    assert picked(trigger, IDLE_PERIODIC_TRIGGER) == IDLE_PERIODIC_TRIGGER
    assert datetime.fromisoformat(trigger["nextRunAt"]) == created_at + timedelta(seconds=10)


async def test_seed_workflow_reads_back_as_it_was_created(api: httpx.AsyncClient, seed_created: httpx.Response) -> None:
    response = await api.get("/workflows/recurrent-workflow")

    assert response.status_code == 200
    assert response.json() == seed_created.json()
