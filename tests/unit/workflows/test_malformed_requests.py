"""Malformed requests get a 4xx problem, never a 5xx: bodies of POST and PUT /workflows, trigger bodies, headers."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from tests.unit.workflows.conftest import assert_problem
from tests.unit.workflows.fakes import SEED

JSON = {"content-type": "application/json"}


def seed_with(**changes: Any) -> bytes:
    body = copy.deepcopy(SEED) | changes
    return json.dumps(body).encode()


def action_with(**changes: Any) -> bytes:
    return seed_with(actions=[{**SEED["actions"][0], **changes}])  # type: ignore[dict-item]


def trigger_with(**changes: Any) -> bytes:
    return seed_with(trigger={**SEED["trigger"], **changes})  # type: ignore[dict-item]


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


# (id, raw body, expected status, expected loc of the first error or None)
DEFINITION_CASES: list[tuple[str, bytes, int, list[Any] | None]] = [
    ("not-json", b"workflowId=x", 422, ["body"]),
    ("truncated-json", b'{"workflowId": "x", ', 422, ["body"]),
    ("array-body", b"[1, 2]", 422, ["body"]),
    ("string-body", b'"hello"', 422, ["body"]),
    ("null-body", b"null", 422, ["body"]),
    ("workflow-id-not-a-string", seed_with(workflowId=5), 422, ["body", "workflowId"]),
    ("workflow-id-bad-characters", seed_with(workflowId="a/b"), 422, ["body", "workflowId"]),
    ("workflow-id-too-long", seed_with(workflowId="x" * 129), 422, ["body", "workflowId"]),
    ("actions-not-a-list", seed_with(actions="x"), 422, ["body", "actions"]),
    ("no-actions", seed_with(actions=[]), 422, ["body", "actions"]),
    ("interval-10x", trigger_with(interval="10x"), 422, ["body", "trigger", "interval"]),
    ("interval-0s", trigger_with(interval="0s"), 422, ["body", "trigger", "interval"]),
    ("interval-366d", trigger_with(interval="366d"), 422, ["body", "trigger", "interval"]),
    ("interval-a-number", trigger_with(interval=10), 422, ["body", "trigger", "interval"]),
    ("periodic-without-interval", seed_with(trigger={"type": "periodic"}), 422, ["body", "trigger"]),
    ("unknown-trigger-type", seed_with(trigger={"type": "email"}), 422, ["body", "trigger", "type"]),
    ("webhook-without-secret", seed_with(trigger={"type": "webhook"}), 422, ["body", "trigger"]),
    (
        "webhook-secret-a-value",
        seed_with(trigger={"type": "webhook", "secret": "x"}),
        422,
        ["body", "trigger", "secret"],
    ),
    (
        "cron-with-6-fields",
        seed_with(trigger={"type": "cron", "cron": "0 * * * * *"}),
        422,
        ["body", "trigger", "cron"],
    ),
    *(
        (
            f"cron-that-never-matches-{expression.replace(' ', '_')}",
            seed_with(trigger={"type": "cron", "cron": expression, "timezone": timezone}),
            422,
            ["body", "trigger", "cron"],
        )
        for expression, timezone in [
            ("0 0 30 2 *", "UTC"),
            ("0 0 31 4 *", "UTC"),
            ("0 0 31 2,4,6,9,11 *", "America/New_York"),
            ("0 0 1 1 1#5", "UTC"),
        ]
    ),
    (
        "bad-timezone",
        seed_with(trigger={"type": "cron", "cron": "0 * * * *", "timezone": "Mars/Olympus"}),
        422,
        ["body", "trigger", "timezone"],
    ),
    ("unknown-top-level-field", seed_with(schedule="daily"), 422, ["body", "schedule"]),
    ("unknown-action-field", action_with(verb="GET"), 422, ["body", "actions", 0, "http-request", "verb"]),
    ("unknown-action-type", seed_with(actions=[{"type": "email"}]), 422, ["body", "actions", 0]),
    (
        "101-actions",
        seed_with(actions=[{"type": "log", "message": "m"}] * 101),
        422,
        ["body", "actions"],
    ),
    ("ftp-url", action_with(url="ftp://example.com/file"), 422, ["body", "actions", 0, "http-request", "url"]),
    ("url-without-host", action_with(url="http://"), 422, ["body", "actions", 0, "http-request", "url"]),
    ("unknown-method", action_with(method="FETCH"), 422, ["body", "actions", 0, "http-request", "method"]),
    (
        "header-not-a-string",
        action_with(headers={"X-N": 1}),
        422,
        ["body", "actions", 0, "http-request", "headers", "X-N"],
    ),
    ("status-code-700", action_with(expectStatus=[700]), 422, ["body", "actions", 0, "http-request", "expectStatus"]),
    ("timeout-2h", action_with(timeout="2h"), 422, ["body", "actions", 0, "http-request", "timeout"]),
    (
        "duplicate-action-names",
        seed_with(actions=[{"type": "log", "message": "a", "name": "x"}, {"type": "log", "message": "b", "name": "x"}]),
        422,
        ["body"],
    ),
    (
        "log-without-message",
        seed_with(actions=[{"type": "log"}]),
        422,
        ["body", "actions", 0, "log", "message"],
    ),
    ("max-attempts-0", seed_with(retry={"maxAttempts": 0}), 422, ["body", "retry", "maxAttempts"]),
    ("max-attempts-101", seed_with(retry={"maxAttempts": 101}), 422, ["body", "retry", "maxAttempts"]),
    ("backoff-rate-11", seed_with(retry={"backoffRate": 11}), 422, ["body", "retry", "backoffRate"]),
    ("backoff-rate-a-string", seed_with(retry={"backoffRate": "fast"}), 422, ["body", "retry", "backoffRate"]),
    ("deeply-nested-body", b'{"workflowId": "x", "trigger": ' + nested(5_000).encode() + b"}", 422, ["body"]),
    ("nested-past-the-depth-limit", action_with(body=json.loads(nested(40))), 422, ["body"]),
    ("huge-integer", seed_with(retry={"maxAttempts": 10**30}), 422, ["body"]),
    ("integer-of-5000-digits", b'{"workflowId": ' + b"9" * 5_000 + b"}", 422, ["body"]),
    ("float-overflowing-to-infinity", b'{"workflowId": "x", "retry": {"backoffRate": 1e400}}', 422, ["body"]),
    ("nan", b'{"workflowId": "x", "retry": {"backoffRate": NaN}}', 422, ["body"]),
    ("infinity", b'{"workflowId": "x", "retry": {"backoffRate": -Infinity}}', 422, ["body"]),
    ("lone-surrogate", b'{"workflowId": "x", "name": "\\ud800"}', 422, ["body"]),
    ("nul-in-a-key", action_with(body={"a\u0000b": 1}), 422, ["body"]),
    ("not-utf8", b'{"workflowId": "\xff\xfe"}', 422, ["body"]),
]


@pytest.fixture
async def existing(client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    await client.post("/workflows", json=SEED)
    yield client


@pytest.mark.parametrize(
    ("raw", "status", "loc"), [case[1:] for case in DEFINITION_CASES], ids=[c[0] for c in DEFINITION_CASES]
)
async def test_malformed_definition_is_refused_by_post(
    client: httpx.AsyncClient, raw: bytes, status: int, loc: list[Any] | None
) -> None:
    response = await client.post("/workflows", content=raw, headers=JSON)

    body = assert_problem(response, status)
    if loc is not None:
        assert body["errors"][0]["loc"] == loc
        assert all(error["msg"] for error in body["errors"])


@pytest.mark.parametrize(
    ("raw", "status", "loc"), [case[1:] for case in DEFINITION_CASES], ids=[c[0] for c in DEFINITION_CASES]
)
async def test_malformed_definition_is_refused_by_put(
    existing: httpx.AsyncClient, raw: bytes, status: int, loc: list[Any] | None
) -> None:
    response = await existing.put("/workflows/recurrent-workflow", content=raw, headers=JSON)

    body = assert_problem(response, status)
    if loc is not None:
        assert body["errors"][0]["loc"][0] == "body"
    assert (await existing.get("/workflows/recurrent-workflow")).json()["version"] == 1


async def test_a_validation_problem_names_every_error(client: httpx.AsyncClient) -> None:
    raw = seed_with(workflowId="a b", retry={"maxAttempts": 0, "backoffRate": 11})

    response = await client.post("/workflows", content=raw, headers=JSON)

    body = assert_problem(response, 422)
    assert body["type"] == "urn:wfa:problem:validation-failed"
    assert sorted(tuple(e["loc"]) for e in body["errors"]) == [
        ("body", "retry", "backoffRate"),
        ("body", "retry", "maxAttempts"),
        ("body", "workflowId"),
    ]
    assert "and 2 more errors" in body["detail"]


async def test_a_validator_message_has_no_pydantic_prefix(client: httpx.AsyncClient) -> None:
    response = await client.post("/workflows", content=action_with(url="ftp://x"), headers=JSON)

    body = assert_problem(response, 422)
    assert body["errors"][0]["msg"] == "the url must use http or https"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_body_not_sent_as_json_is_415(client: httpx.AsyncClient, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}

    response = await client.post("/workflows", content=json.dumps(SEED).encode(), headers=headers)

    assert_problem(response, 415)


async def test_a_json_media_type_with_parameters_or_suffix_is_accepted(client: httpx.AsyncClient) -> None:
    first = await client.post(
        "/workflows", content=json.dumps(SEED), headers={"content-type": "application/json; charset=utf-8"}
    )
    second = await client.post(
        "/workflows",
        content=json.dumps({**SEED, "workflowId": "other"}),
        headers={"content-type": "application/vnd.wfa+json"},
    )

    assert (first.status_code, second.status_code) == (201, 201)


async def test_an_empty_post_body_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/workflows", content=b"", headers=JSON)

    assert_problem(response, 422)


# -- trigger ---------------------------------------------------------------------------------------------


TRIGGER_CASES: list[tuple[str, bytes, list[Any]]] = [
    ("not-json", b"input=1", ["body"]),
    ("array", b"[]", ["body"]),
    ("input-is-a-list", b'{"input": [1]}', ["body", "input"]),
    ("input-is-a-string", b'{"input": "x"}', ["body", "input"]),
    ("unknown-field", b'{"input": {}, "priority": 1}', ["body", "priority"]),
    ("nan-in-input", b'{"input": {"x": NaN}}', ["body"]),
    ("nested-input", ('{"input": ' + nested(100) + "}").encode(), ["body"]),
]


@pytest.mark.parametrize(("raw", "loc"), [case[1:] for case in TRIGGER_CASES], ids=[c[0] for c in TRIGGER_CASES])
async def test_malformed_trigger_body_is_422_and_starts_nothing(
    existing: httpx.AsyncClient, raw: bytes, loc: list[Any]
) -> None:
    response = await existing.post("/workflows/recurrent-workflow/trigger", content=raw, headers=JSON)

    body = assert_problem(response, 422)
    assert body["errors"][0]["loc"] == loc
    assert (await existing.get("/workflows/recurrent-workflow")).json()["trigger"]["status"] == "idle"


async def test_a_null_trigger_body_or_input_means_no_input(existing: httpx.AsyncClient) -> None:
    response = await existing.post("/workflows/recurrent-workflow/trigger", content=b'{"input": null}', headers=JSON)

    assert response.status_code == 202


@pytest.mark.parametrize(
    "key",
    ["", "has space", "x" * 256, "caf\u00e9".encode(), "tab\there"],
    ids=["empty", "space", "too-long", "non-ascii", "control-character"],
)
async def test_an_invalid_idempotency_key_is_422(existing: httpx.AsyncClient, key: str | bytes) -> None:
    response = await existing.post("/workflows/recurrent-workflow/trigger", headers={"Idempotency-Key": key})

    body = assert_problem(response, 422)
    assert body["errors"][0]["loc"] == ["header", "Idempotency-Key"]


async def test_an_idempotency_key_of_255_visible_characters_is_accepted(existing: httpx.AsyncClient) -> None:
    key = "".join(chr(0x21 + n % 94) for n in range(255))

    response = await existing.post("/workflows/recurrent-workflow/trigger", headers={"Idempotency-Key": key})

    assert response.status_code == 202
