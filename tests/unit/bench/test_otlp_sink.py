"""The bench's stand-in OTLP receiver (spans, the broker's request counters) and the flags that point the services
at it."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable

import httpx
import pytest
from bench.cli import parser
from bench.cost import broker_request_figures
from bench.otlp_sink import BROKER_REQUESTS, METRICS_PATH, TRACES_PATH, OtlpSink, broker_requests
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor


def test_the_sink_accepts_what_an_otlp_exporter_sends_and_counts_it() -> None:
    with OtlpSink() as sink:
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=sink.endpoint + TRACES_PATH)))
        for name in ("one", "two"):
            with provider.get_tracer("test").start_as_current_span(name):
                pass
        provider.shutdown()

        stats = sink.stats()

    assert stats["exports"] == 2
    assert stats["bytes"] > 0


def test_service_env_flags_are_name_value_pairs() -> None:
    args = parser().parse_args(["--service-env", "OTEL_TRACES_EXPORTER=none", "--service-env", "A=b=c", "--otlp-sink"])

    assert args.service_env == [("OTEL_TRACES_EXPORTER", "none"), ("A", "b=c")]
    assert args.otlp_sink is True
    assert parser().parse_args([]).service_env == []


@pytest.mark.parametrize("text", ["NOVALUE", "=value"])
def test_a_service_env_flag_without_a_name_and_value_is_refused(text: str) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["--service-env", text])


def _export(*points: tuple[int, int, int], name: str = BROKER_REQUESTS, read_at: int | None = None) -> bytes:
    """An OTLP metrics export as Tansu sends one: a cumulative sum by api_key and api_version, read by the broker
    at `read_at` (ns since the epoch; default now)."""
    export = ExportMetricsServiceRequest()
    metric = export.resource_metrics.add().scope_metrics.add().metrics.add()
    metric.name = name
    for api_key, api_version, count in points:
        point = metric.sum.data_points.add()
        point.as_int = count
        point.time_unix_nano = time.time_ns() if read_at is None else read_at
        for key, value in (("api_key", api_key), ("api_version", api_version)):
            attribute = point.attributes.add()
            attribute.key = key
            attribute.value.int_value = value
    return export.SerializeToString()


def test_broker_requests_are_summed_over_api_versions_and_named() -> None:
    counts, read_at = broker_requests(_export((0, 7, 40), (0, 9, 2), (1, 11, 300), (77, 0, 1), read_at=123))

    assert counts == {"produce": 42, "fetch": 300, "api_key_77": 1}
    assert read_at == 123
    assert broker_requests(_export((0, 7, 40), name="tansu_bytes_sent")) == ({}, 0)


def test_the_sink_hands_out_only_counters_the_broker_read_after_the_call() -> None:
    with OtlpSink() as sink:
        post = functools.partial(httpx.post, headers={"content-type": "application/x-protobuf"})
        post(sink.endpoint + METRICS_PATH, content=_export((0, 7, 5)))

        async def read_while_posting(*exports: Callable[[], bytes]) -> dict[str, float] | None:
            """A reading asked for, then `exports` made and posted while it waits."""
            reading = asyncio.ensure_future(sink.fresh_broker_requests(timeout=1))
            await asyncio.sleep(0.2)
            for export in exports:
                await asyncio.to_thread(post, sink.endpoint + METRICS_PATH, content=export())
            return await reading

        # Read before the call: stale, even when it arrives after it.
        assert asyncio.run(sink.fresh_broker_requests(timeout=0.3)) is None
        assert asyncio.run(read_while_posting(lambda: _export((0, 7, 7), read_at=time.time_ns() - 10**9))) is None
        # Read after the call; an older reading arriving later does not replace it.
        fresh = asyncio.run(read_while_posting(lambda: _export((0, 7, 9)), lambda: _export((0, 7, 8), read_at=1)))
        assert fresh == {"produce": 9}


def test_broker_request_figures_divide_what_grew() -> None:
    figures = broker_request_figures(
        {"produce": 10, "fetch": 100}, {"produce": 60, "fetch": 400, "heartbeat": 3}, per=50
    )

    assert figures == {"produce": 1.0, "by_api": {"fetch": 6.0, "heartbeat": 0.06, "produce": 1.0}}
    assert broker_request_figures(None, {"produce": 1}, per=1) is None
