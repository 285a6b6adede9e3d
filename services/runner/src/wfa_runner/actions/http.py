"""The `http-request` action: one HTTP exchange, judged by its status, with a bounded record of the response.

Its output is `{"status", "headers", "body"}` (CONTRACT v2, "Data between actions"): every response header
(lower-case names, several values of one name joined by ", ", at most MAX_RECORDED_HEADERS of them, values cut at
MAX_HEADER_VALUE_CHARS); the body parsed when the response declares JSON (`application/json` or `+json`) and
parses, otherwise text. The body is kept whole up to `output_max_bytes`; beyond that, or when headers were left
out, the output also holds `"truncated": true` and the body is the first `output_max_bytes` as text (a prefix of
JSON does not parse: the text is what a reader can still use). A body larger than `max_response_bytes` fails
the action, whatever the output keeps.

Retry decisions follow the contract: HTTP 4xx other than 408 and 429 is not retryable; timeouts, connection
errors, 5xx, 408 and 429 are. A 429 or 503 passes its `Retry-After` on, so the retry waits as long as the
server asked (capped by the workflow's maxInterval in the domain's backoff). Whatever the header holds, it is read
safely: an unreadable value is ignored, an excessive one bounded (retry_after_seconds).

Templates: `{{ EXPR }}` and `{{ secrets.NAME }}` are rendered in one pass just before the request (templating.py).
What the action returns or raises is redacted here, before anyone records, logs or publishes it: the secret
values it used, and the values of its sensitive request headers (Authorization and the like, even when written
literally), wherever they show up (a URL in an error message, a body echoing the request); sensitive response
headers are masked by name. They also stay with the action's origin when a redirect leads elsewhere (redirects.py).
"""

from __future__ import annotations

import asyncio
import codecs
import email.utils
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx
from pydantic import JsonValue

from wfa.domain.clock import Clock
from wfa.domain.durations import MAX_INTERVAL
from wfa.domain.errors import ActionFailed
from wfa.domain.templates import TemplateContext
from wfa.domain.workflow import HttpRequestAction
from wfa.observability.redaction import MASK, Redactor
from wfa.ports.secrets import SecretSource
from wfa_runner.actions.base import ActionFailedWithOutput, Output, output_of
from wfa_runner.actions.redirects import Confined, send_following_redirects
from wfa_runner.network_guard import ForbiddenAddress, Policy, Resolver, guarded_transport
from wfa_runner.templating import render_request

USER_AGENT = "wfa-runner/1"
MAX_RECORDED_HEADERS = 64
MAX_HEADER_VALUE_CHARS = 2_048
"""Bounds of the recorded headers: a server may send hundreds of cookies or kilobytes of policy; 64 names of at most
2 KiB each is every header a real API sends, and keeps the headers well below a body's share of the output."""
MAX_JSON_DEPTH = 64
"""A deeper JSON body is kept as text: every reader of the output (redaction, validation, templates) walks it
recursively, and Python's recursion limit is about a thousand frames."""
SENSITIVE_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "x-api-key", "proxy-authorization"})
"""Always treated as sensitive; WFA_SENSITIVE_HEADERS adds to them."""
LONGEST_RETRY_AFTER = MAX_INTERVAL.total_seconds()
"""No retry policy waits longer (maxInterval is at most 365 days), so a longer Retry-After is read as this one: every
number leaving the parser is finite and small, whatever digits a server sends."""
_DELAY_SECONDS = re.compile(r"[0-9]+")
_RETRYABLE_STATUSES = frozenset({408, 429})
_RETRY_AFTER_STATUSES = frozenset({429, 503})


def http_client(
    *,
    allow_private_networks: bool,
    max_redirects: int,
    max_connections: int = 100,
    policy: Policy | None = None,
    resolve: Resolver | None = None,
) -> httpx.AsyncClient:
    """The one client every http-request action of a process shares (its connection pool).

    It keeps no cookies: the client is shared by every workflow, and one workflow's session must never travel
    with another's requests. It follows no redirect itself: HttpRequestRunner does, up to `max_redirects`, so that
    credentials stay with their origin (redirects.py). Nothing comes from the environment (proxies, netrc, SSL
    overrides). `policy` replaces the guard's choice of what may be reached, `resolve` the system's resolver (see
    network_guard.guarded_transport).
    """
    return httpx.AsyncClient(
        transport=guarded_transport(
            allow_private_networks=allow_private_networks,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            policy=policy,
            resolve=resolve,
        ),
        follow_redirects=False,
        max_redirects=max_redirects,
        trust_env=False,
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        headers={"User-Agent": USER_AGENT},
    )


class _NoSecrets:
    def get(self, name: str) -> None:
        return None


class HttpRequestRunner:
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        clock: Clock,
        output_max_bytes: int,
        max_response_bytes: int,
        secrets: SecretSource | None = None,
        redactor: Redactor | None = None,
        sensitive_headers: Iterable[str] = (),
    ) -> None:
        """`redactor` is the process's (the one its logs go through): it learns every secret value used here."""
        self._client = client
        self._clock = clock
        self._output_max_bytes = output_max_bytes
        self._max_response_bytes = max_response_bytes
        self._secrets = secrets if secrets is not None else _NoSecrets()
        self._redactor = redactor if redactor is not None else Redactor()
        self._sensitive = SENSITIVE_HEADERS | {name.strip().lower() for name in sensitive_headers if name.strip()}

    async def run(self, action: HttpRequestAction, context: TemplateContext | None = None) -> Output:
        """Output: `status`, `headers` (sensitive ones masked), `body` (parsed JSON or text) and, when the record is
        not the whole response, `truncated: true`; all redacted (see the module's docstring). Raises ActionFailed
        (redacted too); with the output when a response came back."""
        # Before anything is sent: a template that fails fails the action (template_error) with no request made.
        resolved = render_request(action, context if context is not None else {}, self._secrets)
        self._redactor.remember(resolved.secret_values)
        sensitive_values = [value for name, value in resolved.action.headers.items() if name.lower() in self._sensitive]
        redactor = self._redactor.with_values(sensitive_values) if sensitive_values else self._redactor
        confined = Confined(headers=self._sensitive | resolved.secret_headers, body=resolved.secret_in_body)
        try:
            output = await self._run(resolved.action, confined, redactor)
        except ActionFailed as failure:
            if not redactor.active:
                raise
            # Without the cause: its message (an httpx error quoting the URL) may hold a secret, and a traceback
            # of this exception, in a log or on a span, would show it.
            raise _redacted(failure, redactor) from None
        return redactor.value(output)

    async def _run(self, action: HttpRequestAction, confined: Confined, redactor: Redactor) -> Output:
        seconds = action.timeout.total_seconds()
        try:
            # httpx's timeout bounds each network operation; this bounds the whole exchange, redirects and a
            # slowly dripping body included, as the action's `timeout` promises.
            async with asyncio.timeout(seconds):
                return await self._exchange(action, confined, seconds, redactor)
        except TimeoutError as exc:
            raise ActionFailed(f"no complete answer within {seconds:g}s", kind="timeout", retryable=True) from exc
        except ForbiddenAddress as exc:
            raise ActionFailed(str(exc), kind="forbidden_address", retryable=False) from exc
        except httpx.TooManyRedirects as exc:
            raise ActionFailed(
                f"more than {self._client.max_redirects} redirects", kind="too_many_redirects", retryable=False
            ) from exc
        except httpx.TimeoutException as exc:
            raise ActionFailed(f"timed out: {_describe(exc)}", kind="timeout", retryable=True) from exc
        except (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL) as exc:
            raise ActionFailed(f"invalid request: {_describe(exc)}", kind="invalid_request", retryable=False) from exc
        except httpx.DecodingError as exc:
            raise ActionFailed(
                f"undecodable response: {_describe(exc)}", kind="invalid_response", retryable=False
            ) from exc
        except httpx.TransportError as exc:
            raise ActionFailed(f"connection failed: {_describe(exc)}", kind="connection_error", retryable=True) from exc

    async def _exchange(
        self, action: HttpRequestAction, confined: Confined, seconds: float, redactor: Redactor
    ) -> Output:
        request = self._client.build_request(
            action.method.value,
            action.url,
            headers=action.headers,
            json=action.body if action.body is not None else None,
            timeout=httpx.Timeout(seconds),
        )
        response = await send_following_redirects(
            self._client, request, confined=confined, max_redirects=self._client.max_redirects
        )
        try:
            output, too_large = await self._read(response, redactor)
        finally:
            await response.aclose()
        if too_large:
            raise ActionFailedWithOutput(
                f"the response body is larger than {self._max_response_bytes} bytes",
                kind="response_too_large",
                retryable=False,
                output=output,
            )
        status = response.status_code
        if action.accepts_status(status):
            return output
        expected = "a 2xx status" if action.expect_status is None else f"one of {action.expect_status}"
        raise ActionFailedWithOutput(
            # Without userinfo: the message is stored on the execution, credentials in a URL must not be.
            f"{action.method.value} {response.url.copy_with(userinfo=b'')} answered {status}, expected {expected}",
            kind="http_status",
            retryable=status in _RETRYABLE_STATUSES or status >= 500,
            retry_after_seconds=(
                retry_after_seconds(response.headers.get("retry-after"), self._clock.now())
                if status in _RETRY_AFTER_STATUSES
                else None
            ),
            output=output,
        )

    async def _read(self, response: httpx.Response, redactor: Redactor) -> tuple[Output, bool]:
        """Stream the body, keeping at most one byte past the output's bound, and stop as soon as it passes the
        size cap."""
        kept = bytearray()
        size = 0
        declared = response.headers.get("content-length", "")
        # A HEAD response declares the length of a body it does not send.
        has_body = response.request.method != "HEAD"
        too_large = has_body and declared.isdigit() and int(declared) > self._max_response_bytes
        if not too_large:
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if len(kept) <= self._output_max_bytes:
                    kept += chunk[: self._output_max_bytes + 1 - len(kept)]
                if size > self._max_response_bytes:
                    too_large = True
                    break
        headers, headers_cut = self._headers(response.headers)
        body_cut = too_large or len(kept) > self._output_max_bytes
        output: Output = {
            "status": response.status_code,
            "headers": headers,
            "body": _decode(bytes(kept[: self._output_max_bytes]), response.charset_encoding)
            if body_cut
            else _body(bytes(kept), response.headers.get("content-type", ""), response.charset_encoding, redactor),
        }
        if body_cut or headers_cut:
            output["truncated"] = True
        return output, too_large

    def _headers(self, headers: httpx.Headers) -> tuple[dict[str, JsonValue], bool]:
        """The recorded headers, and whether any was left out or cut."""
        recorded: dict[str, JsonValue] = {}
        cut = False
        for raw_name in headers:  # distinct names, lower-case, in the order received
            name = raw_name.lower()
            if len(recorded) == MAX_RECORDED_HEADERS:
                return recorded, True
            value = MASK if name in self._sensitive else headers[name]
            if len(value) > MAX_HEADER_VALUE_CHARS:
                value, cut = value[:MAX_HEADER_VALUE_CHARS], True
            recorded[name] = value
        return recorded, cut


def _body(data: bytes, content_type: str, charset: str | None, redactor: Redactor) -> JsonValue:
    """The whole body: parsed when it is declared JSON and parses, as text otherwise."""
    text = _decode(data, charset, final=True)
    if not _declares_json(content_type):
        return text
    # Redacted before parsing too: a secret that the JSON holds as a number, or inside an escape sequence, is found
    # in the text only (the redaction of the output afterwards sees strings). A masked number no longer parses, and
    # the body stays text.
    text = redactor.text(text)
    try:
        value: JsonValue = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):  # ValueError: invalid JSON, NaN, or an integer of too many digits
        return text
    return value if _depth_within(value, MAX_JSON_DEPTH) else text


def _declares_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def _no_constant(name: str) -> None:
    # NaN and Infinity are not JSON: they could not be stored or served as such.
    raise ValueError(f"{name} is not JSON")


def _depth_within(value: JsonValue, limit: int) -> bool:
    level: list[JsonValue] = [value]
    for _ in range(limit):
        level = [
            item
            for container in level
            if isinstance(container, dict | list)
            for item in (container.values() if isinstance(container, dict) else container)
        ]
        if not level:
            return True
    return not any(isinstance(item, dict | list) for item in level)


def _redacted(failure: ActionFailed, redactor: Redactor) -> ActionFailed:
    message = redactor.text(str(failure))
    output = output_of(failure)
    if output is not None:
        return ActionFailedWithOutput(
            message,
            kind=failure.kind,
            retryable=failure.retryable,
            retry_after_seconds=failure.retry_after_seconds,
            output=redactor.value(output),
        )
    return ActionFailed(
        message, kind=failure.kind, retryable=failure.retryable, retry_after_seconds=failure.retry_after_seconds
    )


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A `Retry-After` header as seconds from `now`, between 0 and LONGEST_RETRY_AFTER; None when absent or neither
    delay-seconds (ASCII digits only, RFC 9110) nor an HTTP date. Never raises, whatever the server sent."""
    if value is None:
        return None
    value = value.strip()
    if _DELAY_SECONDS.fullmatch(value):
        significant = value.lstrip("0")
        # Judged by its length first: int() refuses a few thousand digits, and a longer number is past the cap anyway.
        if len(significant) > len(str(int(LONGEST_RETRY_AFTER))):
            return LONGEST_RETRY_AFTER
        return min(float(int(significant or "0")), LONGEST_RETRY_AFTER)
    try:
        moment = email.utils.parsedate_to_datetime(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - now).total_seconds()
    # OverflowError: a year or an offset too large for a C int gets that far before datetime refuses it.
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return min(max(0.0, seconds), LONGEST_RETRY_AFTER)


def _decode(data: bytes, charset: str | None, *, final: bool = False) -> str:
    try:
        decoder = codecs.getincrementaldecoder(charset or "utf-8")(errors="replace")
    except LookupError:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    # final=False (a cut body): a character cut in half at the cut is dropped, not shown as garbage.
    return decoder.decode(data, final=final)


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
