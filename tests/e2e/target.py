"""A real HTTP server on 127.0.0.1 for `http-request` actions to call: it records every request per path and
answers each path as a test tells it to (a status, a JSON body, or holding the request until released, all at once or
one at a time).

Tests share one server per session; each uses paths of its own (`target.path("stem")`), so counts never mix.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from wfa_devstack import BackgroundHttpServer

# A held request is answered at the latest after this long, so that a forgotten `release` cannot wedge teardown.
_MAX_HOLD_SECONDS = 120.0


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Route:
    status: int = 200
    body: Any = field(default_factory=lambda: {"ok": True})
    held: bool = False
    passes: int = 0  # held requests `release_one` let through, not taken yet
    unanswered: int = 0
    most_unanswered: int = 0
    upcoming: list[int] = field(default_factory=list)  # statuses for the next requests, before `status`
    headers: dict[str, str] = field(default_factory=dict)  # sent with every answer

    def next_status(self) -> int:
        return self.upcoming.pop(0) if self.upcoming else self.status

    def may_answer(self) -> bool:
        return not self.held or self.passes > 0


class TargetServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self._lock = threading.Lock()
        # Held requests wait on it; a release (of all or of one) and a stop wake them all.
        self._changed = threading.Condition(self._lock)
        self._routes: dict[str, Route] = {}
        self._requests: list[Recorded] = []
        self._http = BackgroundHttpServer(self._handler(), name="e2e-target", host=host)
        self.host, self.port = self._http.host, self._http.port

    def start(self) -> TargetServer:
        self._http.start()
        return self

    def stop(self) -> None:
        with self._lock:
            for route in self._routes.values():
                route.held = False
            self._changed.notify_all()
        self._http.stop()

    def path(self, stem: str) -> str:
        """A path no other test uses."""
        return f"/{stem}/{uuid.uuid4().hex[:10]}"

    def url(self, path: str) -> str:
        return f"{self._http.base_url}{path}"

    def respond(self, path: str, status: int = 200, body: Any = None, *, headers: dict[str, str] | None = None) -> None:
        """Answer `path` with `status`, `body` (JSON; default `{"ok": true}`) and `headers` from now on."""
        with self._lock:
            route = self._routes.setdefault(path, Route())
            route.status = status
            route.body = {"ok": True} if body is None else body
            route.headers = dict(headers or {})

    def respond_in_turn(self, path: str, *statuses: int, headers: dict[str, str] | None = None) -> None:
        """Answer the next requests to `path` with `statuses`, one each, then the last one from then on; every
        answer carries `headers`."""
        with self._lock:
            route = self._routes.setdefault(path, Route())
            *route.upcoming, route.status = statuses
            route.headers = dict(headers or {})

    def hold(self, path: str) -> None:
        """Requests to `path` wait, unanswered, until `release(path)`."""
        with self._lock:
            self._routes.setdefault(path, Route()).held = True

    def release(self, path: str) -> None:
        with self._lock:
            route = self._routes.setdefault(path, Route())
            route.held, route.passes = False, 0
            self._changed.notify_all()

    def release_one(self, path: str) -> None:
        """One request to `path` held now (or, if none is, the next to arrive) is answered; the others stay held."""
        with self._lock:
            self._routes.setdefault(path, Route()).passes += 1
            self._changed.notify_all()

    def most_at_once(self, path: str) -> int:
        """The most requests to `path` received and not yet answered at the same moment, so far."""
        with self._lock:
            return self._routes.setdefault(path, Route()).most_unanswered

    def requests(self, path: str) -> list[Recorded]:
        with self._lock:
            return [request for request in self._requests if request.path == path]

    def count(self, path: str) -> int:
        return len(self.requests(path))

    def arrivals(self) -> list[str]:
        """The path of every request received, in the order they arrived."""
        with self._lock:
            return [request.path for request in self._requests]

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("content-length") or 0)
        recorded = Recorded(
            method=handler.command,
            path=parts.path,
            query=parts.query,
            headers={name.lower(): value for name, value in handler.headers.items()},
            body=handler.rfile.read(length) if length else b"",
        )
        with self._lock:
            self._requests.append(recorded)
            route = self._routes.setdefault(parts.path, Route())
            status = route.next_status()
            route.unanswered += 1
            route.most_unanswered = max(route.most_unanswered, route.unanswered)
            self._changed.wait_for(route.may_answer, _MAX_HOLD_SECONDS)
            if route.held and route.passes:
                route.passes -= 1
            # Counted out before the answer is sent, so that a caller's next request never overlaps this one here.
            route.unanswered -= 1
        payload = json.dumps(route.body).encode()
        try:
            handler.send_response(status)
            handler.send_header("content-type", "application/json")
            handler.send_header("content-length", str(len(payload)))
            for name, value in route.headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(payload)
        except OSError:
            pass  # the caller gave up waiting (a timeout or a cancelled execution): nobody to answer

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server._answer(self)

            do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
