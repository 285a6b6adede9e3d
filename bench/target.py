"""A local HTTP server for `http-request` actions to call: it answers every request 200 after a fixed delay (404 for
a path ending in `/fail`, for an action meant to fail for good) and counts the requests per path, so that a run can
tell how often each action really reached it."""

from __future__ import annotations

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from wfa_devstack import BackgroundHttpServer


class CountingTarget:
    def __init__(self, *, delay: float, host: str = "127.0.0.1") -> None:
        self.delay = delay
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        # A runner killed mid-request resets its connection: expected in a kill loop, not worth a traceback.
        self._http = BackgroundHttpServer(self._handler(), name="counting-target", host=host, quiet_errors=True)

    def start(self) -> CountingTarget:
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    def url(self, path: str) -> str:
        return f"{self._http.base_url}{path}"

    def counts(self) -> dict[str, int]:
        """Requests received per path (counted on arrival, whether or not the caller stayed for the answer)."""
        with self._lock:
            return dict(self._counts)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        target = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                with target._lock:
                    target._counts[urlsplit(self.path).path] += 1
                time.sleep(target.delay)
                try:
                    self.send_response(404 if self.path.endswith("/fail") else 200)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                except OSError:
                    pass  # the runner was killed while waiting: nobody to answer

            do_POST = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
