"""The request body limit (1 MiB, contract), as pure ASGI middleware in front of everything else.

A declared Content-Length over the limit is refused without passing a byte on. Otherwise the body is read here, up
to the limit, counting what actually arrives (a chunked upload declares no length), and handed on in one piece:
the API reads every body whole anyway, so buffering costs nothing, and the application never sees a body it
would have to abandon half way.

Before a 413 the rest of the body is read and dropped (within bounds): closing a connection with unread data in
it makes the kernel send a reset, which can destroy the 413 before the client reads it (seen in the e2e tests as
an occasional ReadError instead of a 413 on a kept-alive connection). A client that sent `Expect: 100-continue`
has not sent its body yet and is not asked for it.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wfa_workflows.api.problems import problem_response

MAX_BODY_BYTES = 1024 * 1024
# Past these, the connection is closed with the body unread: a client that big or that slow risks the reset.
DRAIN_MAX_BYTES = 16 * MAX_BODY_BYTES
DRAIN_MAX_SECONDS = 5.0


class BodySizeLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client is gone: there is no one to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()  # after the body: http.disconnect, when the client goes away

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _expects_continue(scope):
            await _drain(receive)
        response = problem_response(
            413,
            f"the request body is larger than {self.max_bytes} bytes",
            kind="body-too-large",
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


async def _drain(receive: Receive) -> None:
    """Read and drop the rest of the request body, up to DRAIN_MAX_BYTES and DRAIN_MAX_SECONDS."""
    dropped = 0
    try:
        async with asyncio.timeout(DRAIN_MAX_SECONDS):
            while dropped <= DRAIN_MAX_BYTES:
                message = await receive()
                if message["type"] == "http.disconnect" or not message.get("more_body", False):
                    return
                dropped += len(message.get("body", b""))
    except TimeoutError:
        return


def _expects_continue(scope: Scope) -> bool:
    return any(name == b"expect" and value.lower() == b"100-continue" for name, value in scope.get("headers", ()))


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server rejects a malformed length before we see it
    return None
