"""A local HTTP server for `http-request` actions to call: it answers every request 200 after a fixed delay and
counts the requests per path, so that a run can tell how often each action really reached it."""

from __future__ import annotations

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from wfa_devstack import free_port


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A caller killed mid-request resets its connection: expected here, not worth a traceback."""


class CountingTarget:
    def __init__(self, *, delay: float, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = free_port(host)
        self.delay = delay
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server = _QuietServer((host, self.port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, name="counting-target", daemon=True)

    def start(self) -> CountingTarget:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

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
                    self.send_response(200)
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
