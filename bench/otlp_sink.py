"""A stand-in OTLP/HTTP receiver: answers every export with 200, counts the spans' exports and keeps the embedded
broker's request counters.

Spans (`--otlp-sink`): with the services exporting to it (`OTEL_TRACES_EXPORTER=otlp`), a run pays the whole cost
of exporting spans (encoding them, the HTTP round trip from the exporter's thread) without a collector to
install, and the counts show that the spans did leave.

Metrics (always): Tansu exports its own counters every second; of them the sink keeps `tansu_api_requests`, the
requests the broker answered by Kafka API, cumulative. The `cost` scenario reads them before and after its
executions for the produce requests per execution: counted where they arrive, whatever batching the clients did.
"""

from __future__ import annotations

import asyncio
import threading
import time
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any, Self

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from wfa_devstack import BackgroundHttpServer

TRACES_PATH = "/v1/traces"
METRICS_PATH = "/v1/metrics"
BROKER_REQUESTS = "tansu_api_requests"
#: Kafka API keys by name (https://kafka.apache.org/protocol#protocol_api_keys), for those a run meets.
API_NAMES = {
    0: "produce",
    1: "fetch",
    2: "list_offsets",
    3: "metadata",
    8: "offset_commit",
    9: "offset_fetch",
    10: "find_coordinator",
    11: "join_group",
    12: "heartbeat",
    13: "leave_group",
    14: "sync_group",
    15: "describe_groups",
    18: "api_versions",
    19: "create_topics",
    22: "init_producer_id",
    32: "describe_configs",
    60: "describe_cluster",
}


def broker_requests(body: bytes) -> tuple[dict[str, float], int]:
    """`{API name: requests}` from an OTLP metrics export, the sums of `tansu_api_requests` over its API versions
    (empty when the export does not carry it), and when the broker read them (its points' `time_unix_nano`, the
    latest; 0 without points)."""
    export = ExportMetricsServiceRequest()
    export.ParseFromString(body)
    counts: dict[str, float] = {}
    read_at = 0
    for resource in export.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name != BROKER_REQUESTS:
                    continue
                for point in metric.sum.data_points:
                    key = next((a.value.int_value for a in point.attributes if a.key == "api_key"), None)
                    if key is None:
                        continue
                    name = API_NAMES.get(key, f"api_key_{key}")
                    counts[name] = counts.get(name, 0.0) + (point.as_int or point.as_double)
                    read_at = max(read_at, point.time_unix_nano)
    return counts, read_at


class OtlpSink:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self._lock = threading.Lock()
        self._exports = 0
        self._bytes = 0
        self._broker: dict[str, float] = {}
        self._broker_read_at = 0  # when the broker read the counters kept (time_unix_nano, the wall clock's)
        self._http = BackgroundHttpServer(self._handler(), name="otlp-sink", host=host)

    @property
    def endpoint(self) -> str:
        """For OTEL_EXPORTER_OTLP_ENDPOINT (the exporter appends /v1/traces)."""
        return self._http.base_url

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"exports": self._exports, "bytes": self._bytes}

    async def fresh_broker_requests(self, timeout: float = 5.0) -> dict[str, float] | None:  # noqa: ASYNC109
        """The broker's cumulative requests by API as it read them after this call (so every request answered
        before the call is in them; within an export interval of it); None when no such reading arrives within
        `timeout` (the broker does not export here). Judged by when the broker read its counters, not by when the
        export arrived: one read just before the call may still be on its way."""
        asked = time.time_ns()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._broker_read_at > asked:
                    return dict(self._broker)
            await asyncio.sleep(0.05)
        return None

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

    def _received_metrics(self, body: bytes) -> None:
        counts, read_at = broker_requests(body)
        if counts:
            with self._lock:
                if read_at > self._broker_read_at:  # exports may arrive out of order
                    self._broker, self._broker_read_at = counts, read_at

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real collector: the exporter reuses its connection

            def do_POST(self) -> None:
                size = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(size)
                if self.path == TRACES_PATH:
                    sink._received(size)
                elif self.path == METRICS_PATH:
                    sink._received_metrics(body)
                else:
                    self.send_response(404)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                # An empty Export*ServiceResponse: everything accepted.
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
