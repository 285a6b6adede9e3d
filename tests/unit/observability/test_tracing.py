"""wfa.observability.tracing: the exporter the environment asks for, trace context as a string, log correlation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer, format_span_id, format_trace_id

from wfa.observability.tracing import (
    add_trace_ids,
    current_traceparent,
    link_to_trace_of,
    span_context_of,
    span_exporters,
    tracer_of,
)

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def recorded() -> Iterator[tuple[Tracer, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield tracer_of(provider), exporter
    provider.shutdown()


@pytest.mark.parametrize("environ", [{}, {"OTEL_TRACES_EXPORTER": "none"}, {"OTEL_TRACES_EXPORTER": " "}])
def test_no_exporter_unless_one_is_asked_for(environ: dict[str, str]) -> None:
    assert span_exporters(environ) == []


def test_console_and_otlp_exporters_are_chosen_by_name() -> None:
    exporters = span_exporters({"OTEL_TRACES_EXPORTER": "console, OTLP"})

    assert [type(exporter) for exporter in exporters] == [ConsoleSpanExporter, OTLPSpanExporter]


def test_the_otlp_exporter_sends_to_the_standard_endpoint_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")

    (exporter,) = span_exporters({"OTEL_TRACES_EXPORTER": "otlp"})

    assert isinstance(exporter, OTLPSpanExporter)
    assert exporter._endpoint == "http://collector:4318/v1/traces"


@pytest.mark.parametrize(
    "environ",
    [
        {"OTEL_TRACES_EXPORTER": "zipkin"},
        {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
        {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"},
    ],
)
def test_an_exporter_or_protocol_not_installed_stops_the_start(environ: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        span_exporters(environ)


def test_the_current_traceparent_names_the_active_span(recorded: tuple[Tracer, InMemorySpanExporter]) -> None:
    tracer, _ = recorded
    assert current_traceparent() is None

    with tracer.start_as_current_span("work") as span:
        traceparent = current_traceparent()

    context = span_context_of(traceparent)
    assert context is not None
    assert (context.trace_id, context.span_id) == (span.get_span_context().trace_id, span.get_span_context().span_id)


@pytest.mark.parametrize("traceparent", [None, "", "garbage", "00-" + "0" * 32 + "-" + "0" * 16 + "-01"])
def test_a_missing_or_malformed_traceparent_names_no_span(traceparent: str | None) -> None:
    assert span_context_of(traceparent) is None


def test_a_span_links_to_a_traceparent_of_another_trace_only(recorded: tuple[Tracer, InMemorySpanExporter]) -> None:
    tracer, exporter = recorded
    with tracer.start_as_current_span("first") as first:
        link_to_trace_of(first, TRACEPARENT)
        same_trace = current_traceparent()
        with tracer.start_as_current_span("child") as child:
            link_to_trace_of(child, same_trace)

    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert [format_trace_id(link.context.trace_id) for link in spans["first"].links] == [TRACEPARENT.split("-")[1]]
    assert not spans["child"].links


def test_log_lines_carry_the_ids_of_the_span_active_when_they_are_logged(
    recorded: tuple[Tracer, InMemorySpanExporter],
) -> None:
    tracer, _ = recorded
    outside: dict[str, Any] = add_trace_ids(None, "info", {"event": "x"})

    with tracer.start_as_current_span("work") as span:
        inside: dict[str, Any] = add_trace_ids(None, "info", {"event": "x"})

    context = span.get_span_context()
    assert outside == {"event": "x"}
    assert inside == {
        "event": "x",
        "trace_id": format_trace_id(context.trace_id),
        "span_id": format_span_id(context.span_id),
    }
