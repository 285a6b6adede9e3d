"""POST /hooks/{workflowId} (contract v2, "Webhook triggers"): signed instead of authenticated; a bad signature is
401 and starts nothing; a JSON object body becomes the input; Idempotency-Key, 202, 409 as on /trigger; 404 for an
unknown workflow and for one without a webhook alike."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs
from tests.unit.fakes import RecordingPublisher
from tests.unit.workflows.conftest import ClientFactory, assert_problem
from tests.unit.workflows.fakes import manual_workflow

from wfa.domain.clock import FakeClock
from wfa.domain.webhooks import sign

SECRET = "webhook-secret-value"
HOOK_TRIGGER = {"type": "webhook", "secret": "{{ secrets.HOOK_SECRET }}"}
API_KEY = "ops:k3y"
AUTH = {"Authorization": "Bearer k3y"}


@pytest.fixture
async def client(make_client: ClientFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(api_keys=[API_KEY], secrets={"HOOK_SECRET": SECRET}) as api:
        yield api


def hook_workflow(workflow_id: str = "hook", **extra: Any) -> dict[str, Any]:
    return manual_workflow(workflow_id, trigger=HOOK_TRIGGER, **extra)


def signed(
    clock: FakeClock, body: bytes, *, secret: str = SECRET, skew: timedelta = timedelta(0), **headers: str
) -> dict[str, str]:
    timestamp = str(int((clock.now() + skew).timestamp()))
    return {
        "Content-Type": "application/json",
        "X-Wfa-Timestamp": timestamp,
        "X-Wfa-Signature": sign(secret, timestamp, body),
        **headers,
    }


async def create(client: httpx.AsyncClient, definition: dict[str, Any]) -> None:
    response = await client.post("/workflows", json=definition, headers=AUTH)
    assert response.status_code == 201, response.text


async def test_a_signed_request_starts_an_execution_with_the_body_as_input(
    client: httpx.AsyncClient, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    await create(client, hook_workflow())
    body = json.dumps({"ref": "refs/heads/main", "n": 1}).encode()

    response = await client.post("/hooks/hook", content=body, headers=signed(clock, body))

    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted == {"executionId": accepted["executionId"], "workflowId": "hook", "status": "queued"}
    assert response.headers["location"] == f"/executions/{accepted['executionId']}"
    execution = (await client.get(response.headers["location"], headers=AUTH)).json()
    assert (execution["input"], execution["reason"]) == ({"ref": "refs/heads/main", "n": 1}, "webhook")
    assert [r.execution_id for r in publisher.sent] == [accepted["executionId"]]


async def test_an_empty_body_is_an_empty_input(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await create(client, hook_workflow())

    response = await client.post("/hooks/hook", content=b"", headers=signed(clock, b""))

    assert response.status_code == 202, response.text
    execution = (await client.get(response.headers["location"], headers=AUTH)).json()
    assert execution["input"] == {}


async def test_the_signature_covers_the_raw_bytes_not_the_parsed_json(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await create(client, hook_workflow())
    sent = b'{"ref":  "main"}'

    response = await client.post("/hooks/hook", content=sent, headers=signed(clock, b'{"ref": "main"}'))

    assert_problem(response, 401)


@pytest.mark.parametrize(
    "spoil",
    [
        {"X-Wfa-Signature": ""},
        {"X-Wfa-Signature": "sha256=" + "0" * 64},
        {"X-Wfa-Signature": "garbage"},
        {"X-Wfa-Timestamp": "yesterday"},
    ],
)
async def test_a_missing_or_wrong_signature_is_401_and_starts_nothing(
    client: httpx.AsyncClient, clock: FakeClock, publisher: RecordingPublisher, spoil: dict[str, str]
) -> None:
    await create(client, hook_workflow())
    headers = {k: v for k, v in (signed(clock, b"{}") | spoil).items() if v}

    body = assert_problem(await client.post("/hooks/hook", content=b"{}", headers=headers), 401)

    assert body["type"] == "urn:wfa:problem:invalid-signature"
    assert publisher.sent == []
    assert (await client.get("/workflows/hook", headers=AUTH)).json()["trigger"]["status"] == "idle"


async def test_a_request_signed_with_another_secret_is_401(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await create(client, hook_workflow())

    assert_problem(await client.post("/hooks/hook", content=b"{}", headers=signed(clock, b"{}", secret="x")), 401)


@pytest.mark.parametrize("skew", [timedelta(seconds=301), timedelta(seconds=-301)])
async def test_a_timestamp_more_than_300_seconds_away_is_401(
    client: httpx.AsyncClient, clock: FakeClock, publisher: RecordingPublisher, skew: timedelta
) -> None:
    await create(client, hook_workflow())

    body = assert_problem(await client.post("/hooks/hook", content=b"{}", headers=signed(clock, b"{}", skew=skew)), 401)

    assert "timestamp" in body["detail"]
    assert publisher.sent == []


@pytest.mark.parametrize("skew", [timedelta(seconds=300), timedelta(seconds=-300)])
async def test_a_timestamp_300_seconds_away_is_accepted(
    client: httpx.AsyncClient, clock: FakeClock, skew: timedelta
) -> None:
    await create(client, hook_workflow())

    response = await client.post("/hooks/hook", content=b"{}", headers=signed(clock, b"{}", skew=skew))

    assert response.status_code == 202, response.text


async def test_a_replay_with_the_same_idempotency_key_returns_the_first_execution(
    client: httpx.AsyncClient, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    await create(client, hook_workflow())
    headers = signed(clock, b'{"n": 1}', **{"Idempotency-Key": "delivery-1"})
    first = await client.post("/hooks/hook", content=b'{"n": 1}', headers=headers)
    clock.advance(timedelta(seconds=120))

    replay = await client.post("/hooks/hook", content=b'{"n": 1}', headers=headers)

    assert (first.status_code, replay.status_code) == (202, 200)
    assert replay.json()["executionId"] == first.json()["executionId"]
    assert replay.headers["location"] == first.headers["location"]
    assert len(publisher.sent) == 1


async def test_a_replay_outside_the_window_is_401_even_with_its_idempotency_key(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await create(client, hook_workflow())
    headers = signed(clock, b"{}", **{"Idempotency-Key": "delivery-1"})
    await client.post("/hooks/hook", content=b"{}", headers=headers)
    clock.advance(timedelta(seconds=301))

    assert_problem(await client.post("/hooks/hook", content=b"{}", headers=headers), 401)


async def test_a_webhook_while_busy_is_409_as_a_trigger(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await create(client, hook_workflow())
    first = (await client.post("/hooks/hook", content=b"{}", headers=signed(clock, b"{}"))).json()

    body = assert_problem(await client.post("/hooks/hook", content=b"{}", headers=signed(clock, b"{}")), 409)

    assert (body["reason"], body["triggerStatus"], body["executionId"]) == ("busy", "busy", first["executionId"])


async def test_a_paused_webhook_workflow_is_409_paused(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await create(client, hook_workflow())
    await client.post("/workflows/hook/pause", headers=AUTH)

    body = assert_problem(await client.post("/hooks/hook", content=b"{}", headers=signed(clock, b"{}")), 409)

    assert body["reason"] == "paused"


async def test_an_unknown_workflow_and_one_without_a_webhook_get_the_same_404(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await create(client, manual_workflow("plain"))

    unknown = assert_problem(await client.post("/hooks/nope", content=b"{}", headers=signed(clock, b"{}")), 404)
    plain = assert_problem(await client.post("/hooks/plain", content=b"{}", headers=signed(clock, b"{}")), 404)

    assert {key: value for key, value in unknown.items() if key != "detail"} == {
        key: value for key, value in plain.items() if key != "detail"
    }
    assert unknown["detail"] == "no webhook for workflow 'nope'"
    assert plain["detail"] == "no webhook for workflow 'plain'"


async def test_a_deleted_webhook_workflow_is_404(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await create(client, hook_workflow())
    await client.delete("/workflows/hook", headers=AUTH)

    assert_problem(await client.post("/hooks/hook", content=b"{}", headers=signed(clock, b"{}")), 404)


async def test_a_cron_workflow_with_a_webhook_beside_it_takes_webhooks(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    definition = manual_workflow(
        "nightly", trigger={"type": "cron", "cron": "0 3 * * *"}, webhook={"secret": "{{ secrets.HOOK_SECRET }}"}
    )
    await create(client, definition)

    response = await client.post("/hooks/nightly", content=b"{}", headers=signed(clock, b"{}"))

    assert response.status_code == 202, response.text
    resource = (await client.get("/workflows/nightly", headers=AUTH)).json()
    assert resource["webhook"] == {"type": "webhook", "secret": "{{ secrets.HOOK_SECRET }}"}
    assert resource["trigger"]["nextRunAt"] is not None


async def test_a_webhook_workflow_is_not_scheduled_and_may_be_triggered_with_a_key(client: httpx.AsyncClient) -> None:
    await create(client, hook_workflow())

    resource = (await client.get("/workflows/hook", headers=AUTH)).json()
    manual = await client.post("/workflows/hook/trigger", headers=AUTH)

    assert resource["trigger"] | {"status": None} == {
        "type": "webhook",
        "secret": "{{ secrets.HOOK_SECRET }}",
        "interval": None,
        "cron": None,
        "timezone": None,
        "status": None,
        "executionId": None,
        "lockedAt": None,
        "nextRunAt": None,
        "skippedFires": 0,
        "consecutiveFailures": 0,
        "missedFires": 0,
        "firedFires": 0,
        "pauseAfterFailures": None,
        "catchup": None,
        "catchupWindow": None,
        "holders": [],
        "waiting": [],
        "running": 0,
        "queued": 0,
    }
    assert manual.status_code == 202
    assert (await client.get(manual.headers["location"], headers=AUTH)).json()["reason"] == "manual"


async def test_the_secret_missing_on_the_service_is_401_with_a_warning_naming_it(
    make_client: ClientFactory, clock: FakeClock, publisher: RecordingPublisher
) -> None:
    async with make_client(secrets={}) as client:
        await create(client, hook_workflow())

        with capture_logs() as logs:
            response = await client.post("/hooks/hook", content=b"{}", headers=signed(clock, b"{}"))

    assert_problem(response, 401)
    assert publisher.sent == []
    warnings = [entry for entry in logs if entry["log_level"] == "warning"]
    assert [(w["event"], w["secret"]) for w in warnings] == [("webhook.secret_missing", "HOOK_SECRET")]
    assert SECRET not in str(logs)


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"[1, 2]", "application/json", 422),
        (b'"text"', "application/json", 422),
        (b"null", "application/json", 422),
        (b"{not json", "application/json", 422),
        (b'{"n": NaN}', "application/json", 422),
        (b"ref=main", "application/x-www-form-urlencoded", 415),
        (b"{}", "text/plain", 415),
    ],
)
async def test_a_signed_body_that_is_not_a_json_object_gets_the_usual_problem_and_starts_nothing(
    client: httpx.AsyncClient,
    clock: FakeClock,
    publisher: RecordingPublisher,
    body: bytes,
    content_type: str,
    status: int,
) -> None:
    await create(client, hook_workflow())

    response = await client.post(
        "/hooks/hook", content=body, headers=signed(clock, body) | {"Content-Type": content_type}
    )

    assert_problem(response, status)
    assert publisher.sent == []


async def test_a_badly_signed_body_is_401_before_it_is_read(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await create(client, hook_workflow())
    headers = signed(clock, b"{}") | {"Content-Type": "text/plain"}

    assert_problem(await client.post("/hooks/hook", content=b"{not json", headers=headers), 401)


async def test_a_body_over_1_mib_is_413(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await create(client, hook_workflow())
    body = b'{"x": "' + b"a" * (1024 * 1024) + b'"}'

    assert_problem(await client.post("/hooks/hook", content=body, headers=signed(clock, body)), 413)


async def test_a_webhook_secret_must_be_a_reference(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/workflows", json=manual_workflow("leaky", trigger={"type": "webhook", "secret": "hunter2"}), headers=AUTH
    )

    body = assert_problem(response, 422)
    assert body["errors"][0]["loc"][:3] == ["body", "trigger", "secret"]
    assert "hunter2" not in response.text


async def test_a_workflow_naming_a_secret_the_service_lacks_is_still_created(make_client: ClientFactory) -> None:
    async with make_client(secrets={}) as client:
        response = await client.post("/workflows", json=hook_workflow())

    assert response.status_code == 201
