"""While no runner is up, a triggered execution stays queued; cancelling it releases the lock, and the runner
that comes back later does not run it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.e2e.helpers import (
    create_manual_workflow,
    get_json,
    http_action,
    trigger,
    wait_for_execution,
)
from tests.e2e.target import TargetServer

from wfa_devstack import ServiceStack

pytestmark = pytest.mark.e2e

RUNNER_RESTART_TIMEOUT = 90.0


@pytest.fixture
def runner_stopped(services: ServiceStack) -> Iterator[ServiceStack]:
    services.runner.terminate()
    try:
        yield services
    finally:
        if not services.runner.is_running():
            services.runner.start().wait_ready(RUNNER_RESTART_TIMEOUT)


async def test_cancelling_a_queued_execution_releases_the_lock_and_it_never_runs(
    api: httpx.AsyncClient, target: TargetServer, runner_stopped: ServiceStack
) -> None:
    path = target.path("queued")
    workflow_id = await create_manual_workflow(api, "queued", http_action(target.url(path)))
    queued = await trigger(api, workflow_id)

    cancelled = await api.post(f"/executions/{queued}/cancel")
    workflow = await get_json(api, f"/workflows/{workflow_id}")
    runner_stopped.runner.start().wait_ready(RUNNER_RESTART_TIMEOUT)
    # Same workflow, so the same partition, behind the cancelled request: once this one has run, that one was seen.
    after = await wait_for_execution(api, await trigger(api, workflow_id), within=60.0)

    assert cancelled.status_code == 200, cancelled.text
    assert [cancelled.json()["status"], *(a["status"] for a in cancelled.json()["actions"])] == [
        "cancelled",
        "skipped",
    ]
    assert (workflow["trigger"]["status"], workflow["trigger"]["executionId"]) == ("idle", None)
    assert after["status"] == "succeeded"
    assert (await get_json(api, f"/executions/{queued}"))["status"] == "cancelled"
    assert target.count(path) == 1
