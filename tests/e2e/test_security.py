"""Safe by default, through the real services over MongoDB and Kafka: secrets reach the target and nothing else
(not the stored definition, the execution, the API or the logs), an unknown secret fails for good, and ids or
cursors holding query operators match nothing."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import httpx
import pytest
from tests.e2e.conftest import E2E_SECRET_VALUE
from tests.e2e.helpers import (
    assert_problem,
    create_manual_workflow,
    create_workflow,
    get_json,
    http_action,
    log_action,
    manual_workflow,
    run_to_end,
    unique_id,
)
from tests.e2e.target import TargetServer

from wfa_devstack import ServiceStack

pytestmark = pytest.mark.e2e

MASK = "[redacted]"
SECRET_FORMS = (E2E_SECRET_VALUE, quote(E2E_SECRET_VALUE, safe=""), quote(E2E_SECRET_VALUE))


def holds_the_secret(text: str) -> bool:
    return any(form in text for form in SECRET_FORMS)


async def test_a_secret_reaches_the_target_and_nothing_else(
    api: httpx.AsyncClient, target: TargetServer, services: ServiceStack
) -> None:
    echo, missing = target.path("secret-echo"), target.path("secret-404")
    target.respond(echo, 200, {"youSent": E2E_SECRET_VALUE})  # a server echoing what it got
    target.respond(missing, 404, {"error": "no such thing"})
    workflow_id = await create_manual_workflow(
        api,
        "secrets",
        http_action(
            target.url(echo) + "?key={{ secrets.E2E_TOKEN }}",
            "POST",
            headers={"Authorization": "Bearer {{ secrets.E2E_TOKEN }}"},
            body={"token": "{{ secrets.E2E_TOKEN }}"},
        ),
        http_action(target.url(missing) + "?key={{ secrets.E2E_TOKEN }}"),
    )

    execution = await run_to_end(api, workflow_id)

    (received,) = target.requests(echo)
    assert received.headers["authorization"] == f"Bearer {E2E_SECRET_VALUE}"
    assert received.json() == {"token": E2E_SECRET_VALUE}
    assert received.query == "key=" + quote(E2E_SECRET_VALUE, safe="/")
    assert execution["status"] == "failed"
    first, second = execution["actions"]
    assert first["status"] == "succeeded" and first["output"]["body"] == {"youSent": MASK}
    assert second["error"]["type"] == "http_status" and f"?key={MASK}" in second["error"]["message"]
    shown = [
        json.dumps(execution),
        json.dumps(await get_json(api, f"/workflows/{workflow_id}")),
        json.dumps(await get_json(api, f"/workflows/{workflow_id}/executions")),
    ]
    assert not any(holds_the_secret(text) for text in shown)
    assert "{{ secrets.E2E_TOKEN }}" in shown[1]
    for process in services:
        assert not holds_the_secret(process.log_path.read_text(errors="replace")), process.script


async def test_a_redirect_to_another_origin_takes_no_credential_or_secret_there(
    api: httpx.AsyncClient, target: TargetServer
) -> None:
    start, elsewhere = target.path("redirect-from"), target.path("redirect-to")
    # Another host name for the same server is another origin, and the one server records both requests.
    target.respond(start, 307, headers={"Location": target.url(elsewhere).replace("127.0.0.1", "localhost", 1)})
    target.respond(elsewhere, 200)
    workflow_id = await create_manual_workflow(
        api,
        "redirect-secrets",
        http_action(
            target.url(start),
            "POST",
            headers={
                "Authorization": "Bearer {{ secrets.E2E_TOKEN }}",
                "X-Api-Key": "literal-api-key",
                "X-Token": "{{ secrets.E2E_TOKEN }}",
                "X-Plain": "kept",
            },
            body={"token": "{{ secrets.E2E_TOKEN }}"},
        ),
    )

    execution = await run_to_end(api, workflow_id)

    assert execution["status"] == "succeeded"
    (first,) = target.requests(start)
    assert first.headers["authorization"] == f"Bearer {E2E_SECRET_VALUE}"
    (there,) = target.requests(elsewhere)
    assert there.headers["host"].startswith("localhost:")
    assert (there.method, there.body, there.headers["x-plain"]) == ("POST", b"", "kept")
    assert not {"authorization", "x-api-key", "x-token"} & there.headers.keys()
    assert not holds_the_secret(json.dumps(there.headers))


async def test_an_unknown_secret_fails_the_execution_for_good_naming_it(
    api: httpx.AsyncClient, target: TargetServer
) -> None:
    path = target.path("unknown-secret")
    workflow_id = await create_manual_workflow(
        api,
        "unknown-secret",
        http_action(target.url(path), headers={"X-Token": "{{ secrets.NOT_GIVEN }}"}),
        retry={"maxAttempts": 3, "initialInterval": "1s"},
    )

    execution = await run_to_end(api, workflow_id)

    assert (execution["status"], execution["attempt"]) == ("failed", 1)
    error = execution["actions"][0]["error"]
    assert (error["type"], error["retryable"]) == ("unknown_secret", False)
    assert "'NOT_GIVEN'" in error["message"]
    assert target.count(path) == 0


async def test_a_malformed_secret_reference_is_refused_at_definition_time(api: httpx.AsyncClient) -> None:
    definition = manual_workflow(unique_id("bad-ref"), http_action("https://example.com/?k={{ secrets.x-y }}"))

    problem = assert_problem(await api.post("/workflows", json=definition), 422)

    assert "'{{ secrets.x-y }}' is not a valid secret reference" in problem["detail"]


@pytest.mark.parametrize("probe", ['{"$ne": null}', '{"$gt": ""}', "$where", ".*"])
async def test_ids_holding_query_syntax_match_only_themselves_in_mongodb(api: httpx.AsyncClient, probe: str) -> None:
    stem = unique_id("inject")
    await create_workflow(api, manual_workflow(f"{stem}.b", log_action("m")))
    await create_workflow(api, manual_workflow(f"{stem}xb", log_action("m")))
    segment = quote(probe, safe="")

    for path in (f"/workflows/{segment}", f"/workflows/{segment}/executions", f"/executions/{segment}"):
        assert_problem(await api.get(path), 404)
    dotted = await get_json(api, f"/workflows/{stem}.b")
    assert dotted["workflowId"] == f"{stem}.b"
    assert_problem(await api.post("/workflows", json=manual_workflow(probe, log_action("m"))), 422)


@pytest.mark.parametrize("payload", [{"after": {"$ne": None}}, {"createdAt": {"$gt": ""}, "executionId": "x"}])
async def test_a_cursor_forged_to_hold_an_operator_is_a_422(api: httpx.AsyncClient, payload: object) -> None:
    workflow_id = await create_manual_workflow(api, "cursor", log_action("m"))
    cursor = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")

    for path in ("/workflows", f"/workflows/{workflow_id}/executions"):
        assert_problem(await api.get(path, params={"cursor": cursor}), 422)
