"""A stand-in OTLP/HTTP receiver for `--otlp-sink`: answers every export with 200 and counts what it received.

With the services exporting to it (`OTEL_TRACES_EXPORTER=otlp`), a run pays the whole cost of exporting spans
(encoding them, the HTTP round trip from the exporter's thread) without a collector to install, and the counts
show that the spans did leave.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any, Self

from wfa_devstack import BackgroundHttpServer

TRACES_PATH = "/v1/traces"


class OtlpSink:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self._lock = threading.Lock()
        self._exports = 0
        self._bytes = 0
        self._http = BackgroundHttpServer(self._handler(), name="otlp-sink", host=host)

    @property
    def endpoint(self) -> str:
        """For OTEL_EXPORTER_OTLP_ENDPOINT (the exporter appends /v1/traces)."""
        return self._http.base_url

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"exports": self._exports, "bytes": self._bytes}

    def start(self) -> Self:
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _received(self, size: int) -> None:
        with self._lock:
            self._exports += 1
            self._bytes += size

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real collector: the exporter reuses its connection

            def do_POST(self) -> None:
                size = int(self.headers.get("content-length") or 0)
                self.rfile.read(size)
                if self.path != TRACES_PATH:
                    self.send_response(404)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                sink._received(size)
                # An empty ExportTraceServiceResponse: every span accepted.
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
