"""Secrets in http-request actions, against a real HTTP server on 127.0.0.1: the server gets the values; the
action's output, its errors, the stored execution, its lifecycle events and the log lines never show them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote

import pytest
import structlog
from tests.unit.runner.conftest import Harness
from tests.unit.runner.fakes import START, ByType, workflow
from tests.unit.runner.local_server import Received, Recording, local_server, recording_server

from wfa.domain.clock import FakeClock
from wfa.domain.errors import ActionFailed
from wfa.domain.execution import ActionStatus, ExecutionStatus
from wfa.domain.workflow import HttpRequestAction
from wfa.observability.redaction import MASK, Redactor
from wfa_runner.actions import ActionFailedWithOutput, HttpRequestRunner, http_client
from wfa_runner.execution_runner import RunOutcome

TOKEN = "t0ken-Value/with+chars"
KEY = "k3y value"
SECRETS = {"TOKEN": TOKEN, "KEY": KEY}


class Secrets:
    def get(self, name: str) -> str | None:
        return SECRETS.get(name)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with local_server() as url:
        yield url


@pytest.fixture
def redactor() -> Redactor:
    return Redactor()


@pytest.fixture
async def runner(redactor: Redactor) -> AsyncIterator[HttpRequestRunner]:
    client = http_client(allow_private_networks=True, max_redirects=3)
    try:
        yield HttpRequestRunner(
            client,
            clock=FakeClock(START),
            output_max_bytes=10_000,
            max_response_bytes=10**6,
            secrets=Secrets(),
            redactor=redactor,
            sensitive_headers=["Content-Type"],  # a response header the local server sends: masked by name
        )
    finally:
        await client.aclose()


def action(url: str, **fields: Any) -> HttpRequestAction:
    return HttpRequestAction.model_validate({"type": "http-request", "name": "call", "url": url, **fields})


def shows_no_secret(value: Any) -> bool:
    text = json.dumps(value)
    return all(secret not in text and json.dumps(secret)[1:-1] not in text for secret in SECRETS.values())


async def test_the_server_gets_the_values_and_the_output_masks_them(runner: HttpRequestRunner, base_url: str) -> None:
    spec = action(
        f"{base_url}/echo?key={{{{ secrets.KEY }}}}",
        method="POST",
        headers={"X-Token": "{{ secrets.TOKEN }}"},
        body={"token": "{{ secrets.TOKEN }}"},
    )

    output = await runner.run(spec)

    echo = output["body"]
    assert isinstance(echo, dict)
    # What the server received, as the output shows it: every secret masked, nothing else changed.
    assert echo["method"] == "POST"
    assert echo["path"] == f"/echo?key={MASK}"
    assert echo["headers"]["X-Token"] == MASK
    assert json.loads(echo["body"]) == {"token": MASK}
    assert shows_no_secret(output)


async def test_sensitive_request_headers_are_masked_even_when_written_literally(
    runner: HttpRequestRunner, base_url: str
) -> None:
    output = await runner.run(action(f"{base_url}/echo", headers={"Authorization": "Basic bGl0ZXJhbDpwYXNz"}))

    assert isinstance(output["body"], dict)
    assert output["body"]["headers"]["Authorization"] == MASK


async def test_sensitive_response_headers_are_masked_by_name(runner: HttpRequestRunner, base_url: str) -> None:
    output = await runner.run(action(f"{base_url}/status/200"))

    assert (output["headers"]["content-type"], output["headers"]["content-length"]) == (MASK, "10")


async def test_a_failure_quoting_the_url_masks_the_secret_in_its_message_and_output(
    runner: HttpRequestRunner, base_url: str
) -> None:
    with pytest.raises(ActionFailed) as caught:
        await runner.run(action(f"{base_url}/status/404?key={{{{ secrets.KEY }}}}&t={{{{ secrets.TOKEN }}}}"))

    failure = caught.value
    assert isinstance(failure, ActionFailedWithOutput)
    assert (failure.kind, failure.retryable) == ("http_status", False)
    assert str(failure) == f"GET {base_url}/status/404?key={MASK}&t={MASK} answered 404, expected a 2xx status"
    assert failure.__cause__ is None and failure.__suppress_context__  # no traceback leads back to the values
    assert shows_no_secret(failure.output)


async def test_an_unknown_secret_fails_for_good_before_anything_is_sent(
    runner: HttpRequestRunner, base_url: str
) -> None:
    with pytest.raises(ActionFailed) as caught:
        await runner.run(action(f"{base_url}/echo", headers={"X-Token": "{{ secrets.NOT_THERE }}"}))

    assert (caught.value.kind, caught.value.retryable) == ("unknown_secret", False)
    assert "'NOT_THERE'" in str(caught.value)


async def test_the_process_redactor_learns_every_value_used(
    runner: HttpRequestRunner, redactor: Redactor, base_url: str
) -> None:
    assert redactor.text(TOKEN) == TOKEN

    await runner.run(action(f"{base_url}/status/200", headers={"X-Token": "{{ secrets.TOKEN }}"}))

    assert redactor.text(f"log line with {TOKEN}") == f"log line with {MASK}"


# --- through the execution runner: the stored record, the events, the log lines ------------------------------


async def test_no_stored_record_event_or_log_line_holds_a_secret(
    harness: Harness, runner: HttpRequestRunner, base_url: str
) -> None:
    request = await harness.trigger(
        workflow(
            [
                {
                    "type": "http-request",
                    "name": "echo",
                    "url": f"{base_url}/echo?key={{{{ secrets.KEY }}}}",
                    "headers": {"Authorization": "Bearer {{ secrets.TOKEN }}"},
                },
                {"type": "http-request", "name": "fail", "url": f"{base_url}/status/404?t={{{{ secrets.TOKEN }}}}"},
            ]
        )
    )

    with structlog.testing.capture_logs() as logs:
        outcome = await harness.runner(ByType(runner)).run(request)

    assert outcome is RunOutcome.FAILED
    execution = await harness.execution(request.execution_id)
    echo, fail = execution.actions
    assert (echo.status, fail.status, execution.status) == (
        ActionStatus.SUCCEEDED,
        ActionStatus.FAILED,
        ExecutionStatus.FAILED,
    )
    assert echo.output is not None and MASK in str(echo.output["body"])
    assert fail.error is not None and f"t={MASK}" in fail.error.message
    assert shows_no_secret(execution.model_dump(mode="json"))
    await harness.published_events()
    assert shows_no_secret([event.model_dump(mode="json") for event in harness.events.events])
    failed_lines = [line for line in logs if line["event"] == "action.failed"]
    assert failed_lines and f"t={MASK}" in failed_lines[0]["error"]
    assert shows_no_secret([{key: str(value) for key, value in line.items()} for line in logs])
    # The definition the runner ran from still holds the references, not the values.
    stored = await harness.workflows.get("w")
    assert stored.actions[0].headers["Authorization"] == "Bearer {{ secrets.TOKEN }}"  # type: ignore[union-attr]


# --- redirects: a secret goes only to the origin the definition names ----------------------------------------

CONFINED_HEADERS = {
    "Authorization": "Bearer {{ secrets.TOKEN }}",
    "X-Token": "{{ secrets.KEY }}",  # any header whose value holds a reference
    "X-Api-Key": "literal-api-key",
    "Cookie": "session=literal-cookie",
    "Proxy-Authorization": "Basic bGl0ZXJhbDpwYXNz",
    "X-Signature": "literal-signature",  # named in WFA_SENSITIVE_HEADERS
}
LITERAL_CREDENTIALS = ("literal-api-key", "literal-cookie", "bGl0ZXJhbDpwYXNz", "literal-signature")
SECRET_BODY = {"token": "{{ secrets.TOKEN }}"}


@pytest.fixture
def origin_a() -> Iterator[Recording]:
    with recording_server() as server:
        yield server


@pytest.fixture
def origin_b() -> Iterator[Recording]:
    with recording_server() as server:
        yield server


@pytest.fixture
async def confining_runner() -> AsyncIterator[HttpRequestRunner]:
    client = http_client(allow_private_networks=True, max_redirects=3)
    try:
        yield HttpRequestRunner(
            client,
            clock=FakeClock(START),
            output_max_bytes=10_000,
            max_response_bytes=10**6,
            secrets=Secrets(),
            sensitive_headers=["X-Signature"],
        )
    finally:
        await client.aclose()


def redirect(origin: Recording, to: str, status: int) -> str:
    return f"{origin.url}/redirect-to?status={status}&url={quote(to, safe='')}"


def holds_a_credential(request: Received) -> bool:
    text = json.dumps([request.headers, request.body])
    confined = {name.lower() for name in CONFINED_HEADERS}
    return (
        any(name.lower() in confined for name in request.headers)
        or not shows_no_secret(text)
        or any(literal in text for literal in LITERAL_CREDENTIALS)
    )


@pytest.mark.parametrize(
    ("status", "method_there"), [(301, "PUT"), (302, "GET"), (303, "GET"), (307, "PUT"), (308, "PUT")]
)
async def test_a_redirect_to_another_port_carries_no_credential_and_no_secret(
    confining_runner: HttpRequestRunner, origin_a: Recording, origin_b: Recording, status: int, method_there: str
) -> None:
    headers = {**CONFINED_HEADERS, "X-Plain": "kept"}
    spec = action(redirect(origin_a, f"{origin_b.url}/echo", status), method="PUT", headers=headers, body=SECRET_BODY)

    output = await confining_runner.run(spec)

    assert output["status"] == 200
    (first,) = origin_a.received
    assert first.headers["Authorization"] == f"Bearer {TOKEN}" and json.loads(first.body or "") == {"token": TOKEN}
    (there,) = origin_b.received
    assert (there.method, there.path, there.headers["X-Plain"]) == (method_there, "/echo", "kept")
    assert not holds_a_credential(there), there
    assert there.body is None


async def test_a_redirect_to_another_host_on_the_same_port_carries_no_credential(
    confining_runner: HttpRequestRunner, origin_a: Recording
) -> None:
    elsewhere = origin_a.url.replace("127.0.0.1", "localhost") + "/echo"
    spec = action(redirect(origin_a, elsewhere, 307), method="POST", headers=CONFINED_HEADERS, body=SECRET_BODY)

    await confining_runner.run(spec)

    first, there = origin_a.received
    assert holds_a_credential(first)
    assert there.headers["Host"].startswith("localhost:")
    assert not holds_a_credential(there), there
    assert there.body is None


async def test_a_body_without_a_secret_follows_a_307_to_another_origin(
    confining_runner: HttpRequestRunner, origin_a: Recording, origin_b: Recording
) -> None:
    spec = action(redirect(origin_a, f"{origin_b.url}/echo", 307), method="POST", body={"n": 1})

    await confining_runner.run(spec)

    (there,) = origin_b.received
    assert (there.method, json.loads(there.body or "")) == ("POST", {"n": 1})


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_within_the_origin_keeps_every_header_and_the_body(
    confining_runner: HttpRequestRunner, origin_a: Recording, status: int
) -> None:
    spec = action(redirect(origin_a, "/echo", status), method="PUT", headers=CONFINED_HEADERS, body=SECRET_BODY)

    await confining_runner.run(spec)

    first, second = origin_a.received
    assert second.path == "/echo"
    for name in CONFINED_HEADERS:
        assert second.headers[name] == first.headers[name], name
    assert second.headers["Authorization"] == f"Bearer {TOKEN}"
    if status in (301, 307, 308):  # 302 and 303 turn the PUT into a GET, which has no body
        assert json.loads(second.body or "") == {"token": TOKEN}


async def test_what_left_the_origin_does_not_come_back_when_redirected_home(
    confining_runner: HttpRequestRunner, origin_a: Recording, origin_b: Recording
) -> None:
    home = redirect(origin_b, f"{origin_a.url}/echo", 307)
    spec = action(redirect(origin_a, home, 307), method="POST", headers=CONFINED_HEADERS, body=SECRET_BODY)

    await confining_runner.run(spec)

    first, back_home = origin_a.received
    (there,) = origin_b.received
    assert holds_a_credential(first)
    assert back_home.path == "/echo"
    assert not holds_a_credential(there)
    assert not holds_a_credential(back_home)
