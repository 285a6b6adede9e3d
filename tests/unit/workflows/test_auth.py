"""API keys: Bearer authentication, read-only keys, open operational endpoints, and the key list's syntax."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import structlog
from fastapi import FastAPI
from tests.unit.workflows.conftest import ClientFactory, assert_problem
from tests.unit.workflows.fakes import manual_workflow

from wfa.settings import Settings
from wfa_workflows.api.auth import ApiKeyAuth, parse_api_keys
from wfa_workflows.main import build_app

KEYS = ["admin:admin-secret", "reader:reader-secret:ro", "bare-secret", "writer:writer-secret:rw"]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def guarded(make_client: ClientFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(api_keys=KEYS) as client:
        await client.post("/workflows", json=manual_workflow("w"), headers=bearer("admin-secret"))
        yield client


async def test_a_request_without_a_key_is_401_with_a_bearer_challenge(guarded: httpx.AsyncClient) -> None:
    response = await guarded.get("/workflows")

    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "authorization",
    ["Bearer wrong", "Bearer admin-secretx", "Bearer admin", "Basic YWRtaW46YWRtaW4tc2VjcmV0", "admin-secret"],
)
async def test_a_wrong_key_is_401(guarded: httpx.AsyncClient, authorization: str) -> None:
    response = await guarded.get("/workflows", headers={"Authorization": authorization})

    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_read_only_key_may_read(guarded: httpx.AsyncClient) -> None:
    for path in ("/workflows", "/workflows/w", "/workflows/w/executions"):
        response = await guarded.get(path, headers=bearer("reader-secret"))

        assert response.status_code == 200, path


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/workflows"),
        ("PUT", "/workflows/w"),
        ("DELETE", "/workflows/w"),
        ("POST", "/workflows/w/trigger"),
        ("POST", "/workflows/w/pause"),
        ("POST", "/workflows/w/resume"),
        ("POST", "/executions/e0001/cancel"),
    ],
)
async def test_a_read_only_key_may_not_write(guarded: httpx.AsyncClient, method: str, path: str) -> None:
    response = await guarded.request(method, path, json=manual_workflow("w"), headers=bearer("reader-secret"))

    body = assert_problem(response, 403)
    assert "reader" in body["detail"]
    assert (await guarded.get("/workflows/w", headers=bearer("admin-secret"))).json()["version"] == 1


@pytest.mark.parametrize("key", ["admin-secret", "bare-secret", "writer-secret"])
async def test_a_read_write_key_may_read_and_write(guarded: httpx.AsyncClient, key: str) -> None:
    created = await guarded.post("/workflows", json=manual_workflow(f"new-{key}"), headers=bearer(key))
    read = await guarded.get(f"/workflows/new-{key}", headers=bearer(key))

    assert (created.status_code, read.status_code) == (201, 200)


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/docs", "/docs/oauth2-redirect", "/openapi.json"])
async def test_operational_endpoints_need_no_key(guarded: httpx.AsyncClient, path: str) -> None:
    response = await guarded.get(path)

    assert response.status_code == 200


async def test_without_keys_the_api_is_open(client: httpx.AsyncClient) -> None:
    response = await client.post("/workflows", json=manual_workflow("w"))

    assert response.status_code == 201


def test_key_entries_take_three_forms() -> None:
    keys = parse_api_keys(["only-key", "ci:ci-key", "dash:dash-key:ro", "ops:ops-key:rw"])

    assert [(k.name, k.read_only) for k in keys] == [
        ("key-1", False),
        ("ci", False),
        ("dash", True),
        ("ops", False),
    ]
    auth = ApiKeyAuth(keys)
    assert auth.match("dash-key") is keys[2]
    assert auth.match("only-key") is keys[0]
    assert auth.match("ci") is None


@pytest.mark.parametrize("entry", ["a:b:c:d", "name:key:admin", "name::rw", ":key"])
def test_a_malformed_key_entry_is_refused_without_showing_it(entry: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_api_keys(["fine", entry])

    assert "entry 2" in str(refused.value)
    assert entry not in str(refused.value)


def test_a_key_never_shows_in_its_repr() -> None:
    (key,) = parse_api_keys(["ci:very-secret-value"])

    assert "very-secret-value" not in repr(key)


# --- the production composition root: WFA_API_KEYS as the service reads it ----------------------------------

UNREACHABLE_MONGO = "mongodb://127.0.0.1:9/wfa"  # the discard port: nothing answers, so reads get a quick 503


def production_app(api_keys: str) -> FastAPI:
    return build_app(Settings(api_keys=api_keys, mongo_url=UNREACHABLE_MONGO, mongo_timeout_ms=200))


async def test_the_service_enforces_the_keys_of_wfa_api_keys() -> None:
    app = production_app("ci:ci-secret-key, dash:dash-secret-key:ro")

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api.test") as api:
        no_key = await api.get("/workflows")
        wrong_key = await api.get("/workflows", headers=bearer("nope"))
        read_only_write = await api.post("/workflows", json=manual_workflow("w"), headers=bearer("dash-secret-key"))
        read_only_read = await api.get("/workflows", headers=bearer("dash-secret-key"))  # past auth: MongoDB is down
        read_write = await api.post("/workflows", json=manual_workflow("w"), headers=bearer("ci-secret-key"))
        exempt = [(await api.get(path)).status_code for path in ("/healthz", "/metrics", "/openapi.json", "/docs")]

    assert [no_key.status_code, wrong_key.status_code, read_only_write.status_code] == [401, 401, 403]
    assert no_key.headers["www-authenticate"] == "Bearer"
    assert (read_only_read.status_code, read_write.status_code) == (503, 503)
    assert exempt == [200, 200, 200, 200]


def test_start_up_names_the_keys_and_never_logs_one() -> None:
    with structlog.testing.capture_logs() as logs:
        production_app("ci:ci-secret-key,dash:dash-secret-key:ro,bare-secret-key")

    (loaded,) = [line for line in logs if line["event"] == "workflows.api_keys_loaded"]
    assert (loaded["names"], loaded["read_only"]) == (["ci", "dash", "key-3"], ["dash"])
    assert "secret-key" not in repr(logs)


def test_start_up_without_keys_warns_that_the_api_is_open() -> None:
    with structlog.testing.capture_logs() as logs:
        production_app("")

    (warning,) = [line for line in logs if line["event"] == "workflows.api_open"]
    assert warning["log_level"] == "warning"
    assert "WFA_API_KEYS is empty" in warning["detail"]
