"""Following redirects without letting credentials or secrets leave the origin the definition names.

The contract (Additions v2, "Settled since v1"): on a redirect to another origin (scheme, host or port), the
credential headers, every header a secret went into and a body holding a secret are not sent there. httpx, left to
follow redirects itself, drops only `Authorization` (and keeps even that on an http -> https upgrade of one host),
so an `X-Api-Key`, a secret in any other header or a body re-sent on 307/308 would reach whoever the `Location`
names. So redirects are followed here, one hop at a time: httpx still builds each next request (the method a status
implies, the `Location` resolved, `Host`), and this module takes out of it what must stay behind.

They are dropped rather than the redirect refused, as curl and browsers do; the request goes on without them.
Once a hop has left the origin, no later hop carries them, not even one back to the origin (as in the Fetch
standard): a chain through another host must not get to choose where on the origin the credentials land.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

_DEFAULT_PORTS = {"http": 80, "https": 443}
_BODY_HEADERS = ("content-length", "content-type", "content-encoding", "transfer-encoding")


@dataclass(frozen=True)
class Confined:
    """What of a request may go only to its own origin."""

    headers: frozenset[str]
    """Header names, lower case."""
    body: bool


def same_origin(url: httpx.URL, other: httpx.URL) -> bool:
    return _origin(url) == _origin(other)


async def send_following_redirects(
    client: httpx.AsyncClient, request: httpx.Request, *, confined: Confined, max_redirects: int
) -> httpx.Response:
    """The response at the end of at most `max_redirects` redirects, its body not read yet (the caller closes it).

    Raises httpx.TooManyRedirects past the limit."""
    origin = request.url
    cookie = request.headers.get("cookie")
    left = False
    hops = 0
    while True:
        response = await client.send(request, stream=True, follow_redirects=False)
        following = response.next_request
        if following is None:
            return response
        # Unread: a redirect's body is of no use, and a hostile one may never end.
        await response.aclose()
        hops += 1
        if hops > max_redirects:
            raise httpx.TooManyRedirects(f"more than {max_redirects} redirects", request=following)
        left = left or not same_origin(following.url, origin)
        if left:
            request = _without(following, confined)
        else:
            if cookie is not None:
                # httpx drops Cookie on every redirect so that its cookie jar decides; this client's jar keeps
                # nothing (see http_client), so the definition's Cookie is the only one, and within its origin it
                # goes on like the other headers.
                following.headers["Cookie"] = cookie
            request = following


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port if url.port is not None else _DEFAULT_PORTS.get(url.scheme)


def _without(request: httpx.Request, confined: Confined) -> httpx.Request:
    headers = httpx.Headers(request.headers)
    for name in confined.headers:
        headers.pop(name, None)
    carries_body = "content-length" in headers or "transfer-encoding" in headers
    if not (confined.body and carries_body):
        return httpx.Request(
            request.method, request.url, headers=headers, stream=request.stream, extensions=request.extensions
        )
    for name in _BODY_HEADERS:
        headers.pop(name, None)
    # The method stays (a 307/308 promises it); the request goes on with an empty body.
    return httpx.Request(request.method, request.url, headers=headers, extensions=request.extensions)
