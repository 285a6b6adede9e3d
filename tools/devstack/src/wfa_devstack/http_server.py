"""A local HTTP server on a free port, served from a background thread: the stand-in that tests and benchmarks
point `http-request` actions (or an OTLP exporter) at. Callers bring the request handler; this owns the
socket and the thread."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from types import TracebackType
from typing import Any, Self

from wfa_devstack.net import LOCALHOST, free_port


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _QuietServer(_Server):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A caller killed mid-request resets its connection: expected there, not worth a traceback."""


class BackgroundHttpServer:
    def __init__(
        self,
        handler: type[BaseHTTPRequestHandler],
        *,
        name: str,
        host: str = LOCALHOST,
        quiet_errors: bool = False,
    ) -> None:
        self.host = host
        self.port = free_port(host)
        server_class = _QuietServer if quiet_errors else _Server
        self._server = server_class((host, self.port), handler)
        self._thread = Thread(target=self._server.serve_forever, name=name, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
