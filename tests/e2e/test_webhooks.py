"""Webhooks on the real stack: a request signed with Python's hmac (as a sender would, knowing nothing of wfa)
starts an execution whose input reaches an http-request action; a bad signature starts nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest
from tests.e2e.conftest import WEBHOOK_SECRET_VALUE
from tests.e2e.helpers import assert_problem, create_workflow, get_json, http_action, unique_id, wait_for_execution
from tests.e2e.target import TargetServer

pytestmark = pytest.mark.e2e


def signed_headers(body: bytes, *, secret: str = WEBHOOK_SECRET_VALUE, **extra: str) -> dict[str, str]:
    timestamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Wfa-Timestamp": timestamp,
        "X-Wfa-Signature": f"sha256={digest}",
        **extra,
    }


async def create_hook_workflow(api: httpx.AsyncClient, target: TargetServer, stem: str) -> tuple[str, str]:
    workflow_id = unique_id(stem)
    path = target.path(stem)
    definition: dict[str, Any] = {
        "workflowId": workflow_id,
        "trigger": {"type": "webhook", "secret": "{{ secrets.E2E_WEBHOOK_SECRET }}"},
        "actions": [
            http_action(
                target.url(f"{path}?ref={{{{ input.ref }}}}"),
                "POST",
                body={"commit": "{{ input.after }}", "pusher": "{{ input.pusher.name }}", "n": "{{ input.n }}"},
            )
        ],
    }
    await create_workflow(api, definition)
    return workflow_id, path


async def test_a_signed_webhook_runs_the_workflow_with_the_body_as_input(
    api: httpx.AsyncClient, target: TargetServer
) -> None:
    workflow_id, path = await create_hook_workflow(api, target, "hook-push")
    body = json.dumps({"ref": "main", "after": "9fceb02", "pusher": {"name": "ada"}, "n": 7}).encode()

    response = await api.post(f"/hooks/{workflow_id}", content=body, headers=signed_headers(body))

    assert response.status_code == 202, response.text
    execution = await wait_for_execution(api, response.json()["executionId"])
    assert (execution["status"], execution["reason"]) == ("succeeded", "webhook")
    assert execution["input"] == {"ref": "main", "after": "9fceb02", "pusher": {"name": "ada"}, "n": 7}
    [received] = target.requests(path)
    assert received.query == "ref=main"
    assert received.json() == {"commit": "9fceb02", "pusher": "ada", "n": 7}
    resource = await get_json(api, f"/workflows/{workflow_id}")
    assert (resource["trigger"]["nextRunAt"], resource["trigger"]["secret"]) == (
        None,
        "{{ secrets.E2E_WEBHOOK_SECRET }}",
    )


async def test_a_badly_signed_webhook_is_401_and_starts_nothing(api: httpx.AsyncClient, target: TargetServer) -> None:
    workflow_id, path = await create_hook_workflow(api, target, "hook-forged")
    body = b'{"ref": "main"}'

    response = await api.post(f"/hooks/{workflow_id}", content=body, headers=signed_headers(body, secret="guess"))

    assert_problem(response, 401)
    assert (await get_json(api, f"/workflows/{workflow_id}/executions"))["items"] == []
    assert target.requests(path) == []


async def test_a_redelivery_with_its_idempotency_key_returns_the_first_execution(
    api: httpx.AsyncClient, target: TargetServer
) -> None:
    workflow_id, _ = await create_hook_workflow(api, target, "hook-redelivered")
    body = b'{"ref": "main", "after": "1", "pusher": {"name": "bo"}, "n": 1}'
    headers = signed_headers(body, **{"Idempotency-Key": "delivery-42"})

    first = await api.post(f"/hooks/{workflow_id}", content=body, headers=headers)
    again = await api.post(f"/hooks/{workflow_id}", content=body, headers=headers)

    assert (first.status_code, again.status_code) == (202, 200), again.text
    assert again.json()["executionId"] == first.json()["executionId"]
    await wait_for_execution(api, first.json()["executionId"])
