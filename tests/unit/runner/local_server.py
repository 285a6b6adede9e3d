"""A small HTTP server on 127.0.0.1 for the http-request action's tests, run in a thread.

Routes:
    /status/<code>[?retry_after=<value>]   answers <code> with a short body
    /echo                                  answers 200 with the request as JSON (method, path, headers, body)
    /redirect/<n>                          302 to /redirect/<n-1>; /redirect/0 answers 200
    /redirect-to?url=<url>[&status=<code>] <code> (default 302) to <url>
    /bytes/<n>[?declare=1]                 <n> bytes of "x", with Content-Length only when declared
    /content?type=<t>&body=<text>[&repeat=<k>&extra=<n>&size=<m>]
                                           200 with that body (<k> times over) and Content-Type, and <n> headers
                                           X-Extra-<i> of <m> characters each
    /hang                                  answers only when the server stops

`recording_server` also keeps every request it received, as the server saw it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send_header(self, keyword: str, value: str) -> None:
        if value.isascii():
            super().send_header(keyword, value)
        else:
            # http.server encodes header values as strict Latin-1; tests send non-ASCII ones on purpose, as UTF-8.
            self._headers_buffer.append(f"{keyword}: {value}\r\n".encode())

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def do_PUT(self) -> None:
        self._route()

    def do_HEAD(self) -> None:
        self._route()

    def _route(self) -> None:
        parts = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        segments = parts.path.strip("/").split("/")
        head, arg = segments[0], (segments[1] if len(segments) > 1 else "")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else None
        self.server.received.append(
            Received(method=self.command, path=self.path, headers=dict(self.headers.items()), body=body)
        )
        if head == "status":
            headers = {"Retry-After": query["retry_after"]} if "retry_after" in query else {}
            self._send(int(arg), f"status {arg}".encode(), "text/plain", headers)
        elif head == "echo":
            echo = {"method": self.command, "path": self.path, "headers": dict(self.headers.items()), "body": body}
            self._send(200, json.dumps(echo).encode(), "application/json")
        elif head == "redirect":
            remaining = int(arg)
            if remaining == 0:
                self._send(200, b"arrived", "text/plain")
            else:
                self._send(302, b"", "text/plain", {"Location": f"/redirect/{remaining - 1}"})
        elif head == "redirect-to":
            self._send(int(query.get("status", "302")), b"", "text/plain", {"Location": query["url"]})
        elif head == "bytes":
            self._send_bytes(int(arg), declare=query.get("declare") == "1")
        elif head == "content":
            size = int(query.get("size", "1"))
            extra = {f"X-Extra-{i}": "v" * size for i in range(int(query.get("extra", "0")))}
            body_text = query.get("body", "") * int(query.get("repeat", "1"))
            self._send(200, body_text.encode(), query["type"], extra)
        elif head == "hang":
            self.server.stopping.wait(30)
            self._send(200, b"late", "text/plain")
        else:
            self._send(404, b"no such route", "text/plain")

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_bytes(self, size: int, *, declare: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        if declare:
            self.send_header("Content-Length", str(size))
        else:
            # No length: the body ends when the connection closes.
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command == "HEAD":
            return
        chunk = b"x" * 65536
        sent = 0
        try:
            while sent < size:
                piece = chunk[: min(len(chunk), size - sent)]
                self.wfile.write(piece)
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading, as it should past its cap


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: str | None


@dataclass
class Recording:
    url: str
    """The base URL (`http://127.0.0.1:PORT`)."""
    received: list[Received] = field(default_factory=list)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    stopping: threading.Event
    received: list[Received]


@contextmanager
def local_server() -> Iterator[str]:
    """Serve on a free port of 127.0.0.1; yields the base URL (`http://127.0.0.1:PORT`)."""
    with recording_server() as server:
        yield server.url


@contextmanager
def recording_server() -> Iterator[Recording]:
    """Serve on a free port of 127.0.0.1; yields its URL and the requests it received, in order."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.stopping = threading.Event()
    recording = Recording(f"http://127.0.0.1:{server.server_address[1]}")
    # list.append is atomic: handler threads may record while a test reads.
    server.received = recording.received
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="local-http-server", daemon=True
    )
    thread.start()
    try:
        yield recording
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
