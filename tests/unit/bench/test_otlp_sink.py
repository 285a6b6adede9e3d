"""The bench's stand-in OTLP receiver and the flags that point the services at it."""

from __future__ import annotations

import pytest
from bench.cli import parser
from bench.otlp_sink import TRACES_PATH, OtlpSink
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
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
