"""The http-request action against a real HTTP server on 127.0.0.1 (private networks allowed, as in local tests)."""

from __future__ import annotations

import email.utils
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.unit.runner.conftest import Harness
from tests.unit.runner.fakes import START, ByType, workflow
from tests.unit.runner.local_server import local_server

from wfa.domain.clock import FakeClock
from wfa.domain.durations import MAX_INTERVAL
from wfa.domain.errors import ActionFailed
from wfa.domain.execution import ActionStatus, ExecutionStatus
from wfa.domain.workflow import HttpRequestAction
from wfa.observability.redaction import Redactor
from wfa_runner.actions import ActionFailedWithOutput, HttpRequestRunner, http_client, retry_after_seconds
from wfa_runner.actions.base import Output
from wfa_runner.actions.http import MAX_HEADER_VALUE_CHARS, MAX_RECORDED_HEADERS
from wfa_runner.execution_runner import RunOutcome

OUTPUT_MAX_BYTES = 64
MAX_RESPONSE_BYTES = 100_000
MAX_REDIRECTS = 3
SERVER_HEADER = BaseHTTPRequestHandler.server_version + " " + BaseHTTPRequestHandler.sys_version


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with local_server() as url:
        yield url


@pytest.fixture
async def runner() -> AsyncIterator[HttpRequestRunner]:
    client = http_client(allow_private_networks=True, max_redirects=MAX_REDIRECTS)
    try:
        yield HttpRequestRunner(
            client, clock=FakeClock(START), output_max_bytes=OUTPUT_MAX_BYTES, max_response_bytes=MAX_RESPONSE_BYTES
        )
    finally:
        await client.aclose()


def action(url: str, **fields: Any) -> HttpRequestAction:
    return HttpRequestAction.model_validate({"type": "http-request", "name": "call", "url": url, **fields})


@pytest.fixture
async def harness_runner() -> AsyncIterator[HttpRequestRunner]:
    """Bodies up to a few KiB are whole."""
    client = http_client(allow_private_networks=True, max_redirects=MAX_REDIRECTS)
    try:
        yield HttpRequestRunner(client, clock=FakeClock(START), output_max_bytes=10_000, max_response_bytes=10**6)
    finally:
        await client.aclose()


async def failure_of(runner: HttpRequestRunner, spec: HttpRequestAction) -> ActionFailed:
    with pytest.raises(ActionFailed) as caught:
        await runner.run(spec)
    return caught.value


async def test_2xx_succeeds_with_status_headers_and_body(runner: HttpRequestRunner, base_url: str) -> None:
    output = await runner.run(action(f"{base_url}/status/200"))

    assert output["status"] == 200
    assert output["headers"] == {
        "server": SERVER_HEADER,
        "date": output["headers"]["date"],
        "content-type": "text/plain",
        "content-length": "10",
    }
    assert output["body"] == "status 200"
    assert "truncated" not in output


async def test_method_headers_and_json_body_are_sent(runner: HttpRequestRunner, base_url: str) -> None:
    spec = action(f"{base_url}/echo", method="POST", headers={"X-Token": "t1"}, body={"n": [1, 2]})
    wide = HttpRequestRunner(runner._client, clock=FakeClock(START), output_max_bytes=10_000, max_response_bytes=10**6)

    output = await wide.run(spec)

    echo = output["body"]
    assert isinstance(echo, dict)
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
    assert failure.output["headers"] == {
        "server": SERVER_HEADER,
        "date": failure.output["headers"]["date"],
        "content-type": "text/plain",
        "content-length": "10",
        "retry-after": "7",
    }


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


LONGEST_WAIT = MAX_INTERVAL.total_seconds()
NOW = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("0", 0),
        ("000000000000000000000000007", 7),
        ("100000000000000", LONGEST_WAIT),
        ("9" * 5000, LONGEST_WAIT),
        ("Fri, 31 Dec 9999 23:59:59 GMT", LONGEST_WAIT),
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0),
        ("1e400", None),
        ("\u0661\u0662", None),  # Arabic-Indic digits: str.isdigit() says yes, RFC 9110 says no
        ("\u00b2", None),  # a superscript two: isdigit() yes, float() refuses it
        ("-5", None),
        ("+5", None),
        ("5.5", None),
        ("inf", None),
        ("", None),
        ("Mon, 01 Jan 99999999999999999999 00:00:00 GMT", None),
        ("Fri, 01 May 2026 08:01:30 +99999999999999999999", None),
    ],
    ids=lambda value: repr(value)[:40],
)
def test_retry_after_is_read_safely_and_bounded(value: str, seconds: float | None) -> None:
    assert retry_after_seconds(value, NOW) == seconds


HOSTILE_RETRY_AFTER = st.one_of(
    st.text(),
    # Digits of every script, signs, exponents and date-like words, where a lenient parser stumbles.
    st.text(alphabet=st.characters(categories=("Nd", "No", "Zs", "Pd")) | st.sampled_from("+-.eE:,GMT")),
    st.from_regex(r"\A[0-9]{1,600}\Z"),
    st.builds(
        "{}, {:02d} {} {} {:02d}:{:02d}:{:02d} {}".format,
        st.sampled_from(["Mon", "Fri", "Xyz"]),
        st.integers(-5, 40),
        st.sampled_from(["Jan", "Dec", "Foo"]),
        st.integers(-(10**30), 10**30),
        st.integers(-1, 99),
        st.integers(-1, 99),
        st.integers(-1, 99),
        st.sampled_from(["GMT", "+0000", "-2359", "+9999", "-0000", "+99999999999999999999"]),
    ),
)


@given(HOSTILE_RETRY_AFTER)
def test_no_retry_after_value_raises_or_leaves_the_bounds(value: str) -> None:
    seconds = retry_after_seconds(value, NOW)

    assert seconds is None or 0 <= seconds <= LONGEST_WAIT


@given(st.integers(min_value=0))
def test_delay_seconds_are_read_as_they_are_up_to_the_longest_wait(delay: int) -> None:
    assert retry_after_seconds(str(delay), NOW) == min(delay, LONGEST_WAIT)


@given(st.datetimes(min_value=datetime(1900, 1, 1), timezones=st.just(UTC)))
def test_an_http_date_counts_from_now_within_the_bounds(moment: datetime) -> None:
    expected = min(max(0.0, (moment.replace(microsecond=0) - NOW).total_seconds()), LONGEST_WAIT)

    assert retry_after_seconds(email.utils.format_datetime(moment, usegmt=True), NOW) == expected


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize(
    "value",
    [
        "100000000000000",
        "9" * 1000,
        "1e400",
        "\u0661\u0662",
        "-1",
        "soon",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "Thu, 01 Jan 1970 00:00:00 GMT",
        "Mon, 01 Jan 99999999999999999999 00:00:00 GMT",
    ],
    ids=lambda value: repr(value)[:40],
)
async def test_a_hostile_retry_after_leaves_the_execution_pending_within_max_interval(
    harness: Harness, base_url: str, status: int, value: str
) -> None:
    policy = {"maxAttempts": 3, "initialInterval": "2s", "backoffRate": 2, "maxInterval": "1m"}
    url = f"{base_url}/status/{status}?retry_after={quote(value)}"
    request = await harness.trigger(workflow([{"type": "http-request", "name": "a", "url": url}], retry=policy))
    client = http_client(allow_private_networks=True, max_redirects=MAX_REDIRECTS)
    http = HttpRequestRunner(client, clock=harness.clock, output_max_bytes=OUTPUT_MAX_BYTES, max_response_bytes=10**6)

    try:
        outcome = await harness.runner(ByType(http)).run(request)
    finally:
        await client.aclose()

    assert outcome is RunOutcome.PENDING
    execution = await harness.execution(request.execution_id)
    assert execution.status is ExecutionStatus.PENDING
    assert execution.next_retry_at is not None
    assert START <= execution.next_retry_at <= START + timedelta(minutes=1)
    (run,) = execution.actions
    assert run.status is ActionStatus.FAILED and run.error is not None and run.error.type == "http_status"


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


async def test_a_json_body_is_recorded_parsed(runner: HttpRequestRunner, base_url: str) -> None:
    body = '{"token": "abc", "n": [1, 2.5, null, true]}'

    output = await runner.run(action(f"{base_url}/content?type=application/json;charset=utf-8&body={quote(body)}"))

    assert output["body"] == {"token": "abc", "n": [1, 2.5, None, True]}
    assert "truncated" not in output


async def test_a_plus_json_media_type_is_json(runner: HttpRequestRunner, base_url: str) -> None:
    output = await runner.run(action(f"{base_url}/content?type=application/problem%2Bjson&body={quote('[1]')}"))

    assert output["body"] == [1]


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", '{"looks": "like json"}'),
        ("application/json", "{not json"),
        ("application/json", "NaN"),
        ("application/json", "1"),  # repeated: more digits than int() takes
        ("application/json", "[" * 100 + "]" * 100),  # deeper than MAX_JSON_DEPTH
        ("application/json", ""),
    ],
    ids=["text", "invalid", "nan", "huge-integer", "deep", "empty"],
)
async def test_a_body_that_is_not_declared_or_valid_json_is_recorded_as_text(
    harness_runner: HttpRequestRunner, base_url: str, content_type: str, body: str
) -> None:
    repeat = 5_000 if body == "1" else 1
    url = f"{base_url}/content?type={quote(content_type)}&body={quote(body)}&repeat={repeat}"

    output = await harness_runner.run(action(url))

    assert output["body"] == body * repeat
    assert "truncated" not in output


async def test_a_body_over_the_output_bound_is_recorded_truncated_as_text(
    runner: HttpRequestRunner, base_url: str
) -> None:
    body = json.dumps({"items": ["é" * 10] * 10})  # the bound falls inside a two-byte character

    output = await runner.run(action(f"{base_url}/content?type=application/json&body={quote(body)}"))

    assert output["truncated"] is True
    assert isinstance(output["body"], str)
    assert body.startswith(output["body"])
    assert OUTPUT_MAX_BYTES - 1 <= len(output["body"].encode()) <= OUTPUT_MAX_BYTES


async def test_a_body_of_exactly_the_output_bound_is_whole(runner: HttpRequestRunner, base_url: str) -> None:
    output = await runner.run(action(f"{base_url}/bytes/{OUTPUT_MAX_BYTES}?declare=1"))

    assert (output["body"], "truncated" in output) == ("x" * OUTPUT_MAX_BYTES, False)


async def test_every_response_header_is_recorded_with_a_lower_case_name(
    runner: HttpRequestRunner, base_url: str
) -> None:
    output = await runner.run(action(f"{base_url}/content?type=text/plain&extra=3"))

    headers = output["headers"]
    assert isinstance(headers, dict)
    expected = {"x-extra-0": "v", "x-extra-1": "v", "x-extra-2": "v", "content-type": "text/plain"}
    assert expected.items() <= headers.items()


async def test_headers_beyond_the_bounds_are_left_out_and_the_output_marked_truncated(
    runner: HttpRequestRunner, base_url: str
) -> None:
    many = await runner.run(action(f"{base_url}/content?type=text/plain&extra={MAX_RECORDED_HEADERS + 10}"))
    long = await runner.run(action(f"{base_url}/content?type=text/plain&extra=1&size={MAX_HEADER_VALUE_CHARS + 1}"))

    assert isinstance(many["headers"], dict) and len(many["headers"]) == MAX_RECORDED_HEADERS
    assert many["truncated"] is True
    assert isinstance(long["headers"], dict) and long["headers"]["x-extra-0"] == "v" * MAX_HEADER_VALUE_CHARS
    assert long["truncated"] is True


async def test_a_secret_echoed_as_a_json_number_is_redacted(base_url: str) -> None:
    client = http_client(allow_private_networks=True, max_redirects=MAX_REDIRECTS)
    redacting = HttpRequestRunner(
        client, clock=FakeClock(START), output_max_bytes=10_000, max_response_bytes=10**6, redactor=Redactor(["31337"])
    )
    body = '{"pin": 31337, "name": "x31337"}'
    try:
        output = await redacting.run(action(f"{base_url}/content?type=application/json&body={quote(body)}"))
    finally:
        await client.aclose()

    assert "31337" not in json.dumps(output)


@pytest.mark.parametrize("declare", ["0", "1"], ids=["streamed", "declared"])
async def test_a_response_over_the_size_cap_fails_without_retry(
    runner: HttpRequestRunner, base_url: str, declare: str
) -> None:
    failure = await failure_of(runner, action(f"{base_url}/bytes/{MAX_RESPONSE_BYTES * 20}?declare={declare}"))

    assert (failure.kind, failure.retryable) == ("response_too_large", False)
    assert isinstance(failure, ActionFailedWithOutput)
    output: Output = failure.output
    assert (output["status"], output["truncated"]) == (200, True)


async def test_a_head_request_is_not_judged_by_its_declared_length(runner: HttpRequestRunner, base_url: str) -> None:
    output = await runner.run(action(f"{base_url}/bytes/{MAX_RESPONSE_BYTES * 20}?declare=1", method="HEAD"))

    assert (output["status"], output["body"]) == (200, "")


async def test_a_redirect_to_another_scheme_fails_without_retry(runner: HttpRequestRunner, base_url: str) -> None:
    failure = await failure_of(runner, action(f"{base_url}/redirect-to?url=ftp://example.com/file"))

    assert (failure.kind, failure.retryable) == ("invalid_request", False)
