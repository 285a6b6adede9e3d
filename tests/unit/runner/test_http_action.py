"""The http-request action against a real HTTP server on 127.0.0.1 (private networks allowed, as in local tests)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.unit.runner.fakes import START
from tests.unit.runner.local_server import local_server

from wfa.domain.clock import FakeClock
from wfa.domain.errors import ActionFailed
from wfa.domain.workflow import HttpRequestAction
from wfa_runner.actions import ActionFailedWithOutput, HttpRequestRunner, http_client, retry_after_seconds
from wfa_runner.actions.base import Output

EXCERPT_BYTES = 64
MAX_RESPONSE_BYTES = 100_000
MAX_REDIRECTS = 3


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with local_server() as url:
        yield url


@pytest.fixture
async def runner() -> AsyncIterator[HttpRequestRunner]:
    client = http_client(allow_private_networks=True, max_redirects=MAX_REDIRECTS)
    try:
        yield HttpRequestRunner(
            client, clock=FakeClock(START), excerpt_bytes=EXCERPT_BYTES, max_response_bytes=MAX_RESPONSE_BYTES
        )
    finally:
        await client.aclose()


def action(url: str, **fields: Any) -> HttpRequestAction:
    return HttpRequestAction.model_validate({"type": "http-request", "name": "call", "url": url, **fields})


async def failure_of(runner: HttpRequestRunner, spec: HttpRequestAction) -> ActionFailed:
    with pytest.raises(ActionFailed) as caught:
        await runner.run(spec)
    return caught.value


async def test_2xx_succeeds_with_status_headers_and_body(runner: HttpRequestRunner, base_url: str) -> None:
    output = await runner.run(action(f"{base_url}/status/200"))

    assert output["status"] == 200
    assert output["headers"] == {"content-type": "text/plain", "content-length": "10"}
    assert (output["body"], output["bodyTruncated"]) == ("status 200", False)


async def test_method_headers_and_json_body_are_sent(runner: HttpRequestRunner, base_url: str) -> None:
    spec = action(f"{base_url}/echo", method="POST", headers={"X-Token": "t1"}, body={"n": [1, 2]})
    wide = HttpRequestRunner(runner._client, clock=FakeClock(START), excerpt_bytes=10_000, max_response_bytes=10**6)

    output = await wide.run(spec)

    assert isinstance(output["body"], str)
    echo = json.loads(output["body"])
    assert echo["method"] == "POST"
    assert echo["headers"]["X-Token"] == "t1"
    assert echo["headers"]["Content-Type"] == "application/json"
    assert json.loads(echo["body"]) == {"n": [1, 2]}


async def test_a_status_in_expect_status_succeeds(runner: HttpRequestRunner, base_url: str) -> None:
    output = await runner.run(action(f"{base_url}/status/404", expectStatus=[404]))

    assert output["status"] == 404


async def test_a_status_outside_expect_status_fails_without_retry_and_keeps_the_output(
    runner: HttpRequestRunner, base_url: str
) -> None:
    failure = await failure_of(runner, action(f"{base_url}/status/200", expectStatus=[201]))

    assert (failure.kind, failure.retryable) == ("http_status", False)
    assert isinstance(failure, ActionFailedWithOutput)
    assert failure.output["status"] == 200


async def test_the_failure_message_names_the_url_without_credentials(runner: HttpRequestRunner, base_url: str) -> None:
    url = base_url.replace("http://", "http://user:secret@") + "/status/404"

    failure = await failure_of(runner, action(url))

    assert str(failure) == f"GET {base_url}/status/404 answered 404, expected a 2xx status"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
async def test_4xx_fails_without_retry(runner: HttpRequestRunner, base_url: str, status: int) -> None:
    failure = await failure_of(runner, action(f"{base_url}/status/{status}"))

    assert (failure.kind, failure.retryable, failure.retry_after_seconds) == ("http_status", False, None)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_5xx_408_and_429_fail_retryably(runner: HttpRequestRunner, base_url: str, status: int) -> None:
    failure = await failure_of(runner, action(f"{base_url}/status/{status}"))

    assert (failure.kind, failure.retryable) == ("http_status", True)
    assert isinstance(failure, ActionFailedWithOutput)
    assert failure.output["status"] == status


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_seconds_is_passed_on(runner: HttpRequestRunner, base_url: str, status: int) -> None:
    failure = await failure_of(runner, action(f"{base_url}/status/{status}?retry_after=7"))

    assert failure.retry_after_seconds == 7
    assert isinstance(failure, ActionFailedWithOutput)
    assert failure.output["headers"] == {"content-type": "text/plain", "content-length": "10", "retry-after": "7"}


async def test_retry_after_on_a_500_is_ignored(runner: HttpRequestRunner, base_url: str) -> None:
    failure = await failure_of(runner, action(f"{base_url}/status/500?retry_after=7"))

    assert failure.retry_after_seconds is None


def test_retry_after_as_an_http_date_counts_from_now() -> None:
    now = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)

    assert retry_after_seconds("Fri, 01 May 2026 08:01:30 GMT", now) == 90
    assert retry_after_seconds("Fri, 01 May 2026 07:00:00 GMT", now) == 0
    assert retry_after_seconds("120", now) == 120
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None


async def test_a_slow_server_times_out_retryably(runner: HttpRequestRunner, base_url: str) -> None:
    spec = action(f"{base_url}/hang").model_copy(update={"timeout": timedelta(milliseconds=200)})

    failure = await failure_of(runner, spec)

    assert (failure.kind, failure.retryable) == ("timeout", True)


async def test_a_refused_connection_fails_retryably(runner: HttpRequestRunner) -> None:
    failure = await failure_of(runner, action("http://127.0.0.1:9/"))  # discard port: nothing listens

    assert (failure.kind, failure.retryable) == ("connection_error", True)


async def test_redirects_are_followed_up_to_the_limit(runner: HttpRequestRunner, base_url: str) -> None:
    output = await runner.run(action(f"{base_url}/redirect/{MAX_REDIRECTS}"))

    assert (output["status"], output["body"]) == (200, "arrived")


async def test_more_redirects_than_the_limit_fail_without_retry(runner: HttpRequestRunner, base_url: str) -> None:
    failure = await failure_of(runner, action(f"{base_url}/redirect/{MAX_REDIRECTS + 1}"))

    assert (failure.kind, failure.retryable) == ("too_many_redirects", False)


async def test_the_body_excerpt_is_bounded(runner: HttpRequestRunner, base_url: str) -> None:
    output = await runner.run(action(f"{base_url}/bytes/1000?declare=1"))

    assert output["body"] == "x" * EXCERPT_BYTES
    assert output["bodyTruncated"] is True


@pytest.mark.parametrize("declare", ["0", "1"], ids=["streamed", "declared"])
async def test_a_response_over_the_size_cap_fails_without_retry(
    runner: HttpRequestRunner, base_url: str, declare: str
) -> None:
    failure = await failure_of(runner, action(f"{base_url}/bytes/{MAX_RESPONSE_BYTES * 20}?declare={declare}"))

    assert (failure.kind, failure.retryable) == ("response_too_large", False)
    assert isinstance(failure, ActionFailedWithOutput)
    output: Output = failure.output
    assert (output["status"], output["bodyTruncated"]) == (200, True)


async def test_a_head_request_is_not_judged_by_its_declared_length(runner: HttpRequestRunner, base_url: str) -> None:
    output = await runner.run(action(f"{base_url}/bytes/{MAX_RESPONSE_BYTES * 20}?declare=1", method="HEAD"))

    assert (output["status"], output["body"]) == (200, "")


async def test_a_redirect_to_another_scheme_fails_without_retry(runner: HttpRequestRunner, base_url: str) -> None:
    failure = await failure_of(runner, action(f"{base_url}/redirect-to?url=ftp://example.com/file"))

    assert (failure.kind, failure.retryable) == ("invalid_request", False)
