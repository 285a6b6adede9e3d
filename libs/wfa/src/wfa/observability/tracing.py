"""Traces: one TracerProvider per process, its exporter chosen by the standard OpenTelemetry variables.

Each composition root calls `configure_tracing` once and passes the tracer it gets (`provider.get_tracer(...)`)
to whatever makes spans, so a test can build the same objects on a provider of its own (an InMemorySpanExporter)
without touching the process-wide one. The provider is also installed globally, once, for instrumentation
that looks it up there.

Exporters (`OTEL_TRACES_EXPORTER`, comma-separated): `none` (the default), `console` (spans as JSON on stdout,
for debugging), `otlp` (OTLP over HTTP/protobuf: `OTEL_EXPORTER_OTLP_ENDPOINT`, or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, and the other standard `OTEL_EXPORTER_OTLP_*` variables, read by the
exporter itself). Sampling follows `OTEL_TRACES_SAMPLER`; `OTEL_SDK_DISABLED=true` turns tracing off.
With `none` spans are still made: log lines carry their trace and span ids, and a trace can be followed through
the logs of the three services even where nothing collects spans.

Trace context crosses Kafka in W3C `traceparent` headers (wfa.adapters.kafka.headers). An execution also keeps
the context of the request that created it (`Execution.traceparent`), so that a retry, started by the scheduler
in a trace of its own, can link back to the trace of the first attempt.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, Final

import structlog
from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Span, SpanContext, Tracer, format_span_id, format_trace_id
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from wfa.observability.redaction import RedactingSpanExporter, Redactor

log = structlog.get_logger(__name__)

TRACER_NAME: Final = "wfa"
_TRACEPARENT: Final = "traceparent"
_W3C = TraceContextTextMapPropagator()
_OTLP_PROTOCOLS: Final = frozenset({"http/protobuf"})


class Attributes:
    """Span attribute names: OpenTelemetry's semantic conventions (messaging.*), and the project's own (wfa.*)."""

    MESSAGING_SYSTEM: Final = "messaging.system"
    MESSAGING_OPERATION_NAME: Final = "messaging.operation.name"
    MESSAGING_OPERATION_TYPE: Final = "messaging.operation.type"
    MESSAGING_DESTINATION: Final = "messaging.destination.name"
    MESSAGING_PARTITION: Final = "messaging.destination.partition.id"
    MESSAGING_CONSUMER_GROUP: Final = "messaging.consumer.group.name"
    MESSAGING_CLIENT_ID: Final = "messaging.client.id"
    MESSAGING_KAFKA_KEY: Final = "messaging.kafka.message.key"
    MESSAGING_KAFKA_OFFSET: Final = "messaging.kafka.offset"
    ERROR_TYPE: Final = "error.type"

    WORKFLOW_ID: Final = "wfa.workflow_id"
    EXECUTION_ID: Final = "wfa.execution_id"
    ATTEMPT: Final = "wfa.attempt"
    REASON: Final = "wfa.execution.reason"
    OUTCOME: Final = "wfa.outcome"
    ACTION_NAME: Final = "wfa.action.name"
    ACTION_TYPE: Final = "wfa.action.type"
    ACTION_INDEX: Final = "wfa.action.index"
    ACTION_ATTEMPT: Final = "wfa.action.attempt"
    ACTION_SECTION: Final = "wfa.action.section"  # actions | compensations | onFailure
    EVENT_TYPE: Final = "wfa.event.type"
    SCHEDULE_SLOT: Final = "wfa.schedule.slot"


def configure_tracing(service: str, environ: Mapping[str, str], *, redactor: Redactor | None = None) -> TracerProvider:
    """The process's TracerProvider, exporting as `environ` says, installed as the global one. With `redactor`
    (the runner's, which knows the secret values) every span is redacted before it is exported.

    Call once per process, from its composition root, and `shutdown()` the provider on the way out (it flushes
    the spans still queued). Raises ValueError for an exporter or OTLP protocol this installation lacks: a
    misspelt setting should stop the start, not silently drop every span.
    """
    attributes: dict[str, Any] = {}
    if not environ.get("OTEL_SERVICE_NAME"):
        attributes[SERVICE_NAME] = service
    # Resource.create adds OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME; the sampler comes from OTEL_TRACES_SAMPLER.
    provider = TracerProvider(resource=Resource.create(attributes))
    exporters = span_exporters(environ)
    for exporter in exporters:
        provider.add_span_processor(
            BatchSpanProcessor(RedactingSpanExporter(exporter, redactor) if redactor is not None else exporter)
        )
    trace.set_tracer_provider(provider)
    log.info("tracing.configured", exporters=[type(exporter).__name__ for exporter in exporters] or "none")
    return provider


def span_exporters(environ: Mapping[str, str]) -> list[SpanExporter]:
    names = [name.strip().lower() for name in environ.get("OTEL_TRACES_EXPORTER", "none").split(",") if name.strip()]
    exporters: list[SpanExporter] = []
    for name in names:
        if name == "none":
            continue
        if name == "console":
            exporters.append(ConsoleSpanExporter(out=sys.stdout))
        elif name == "otlp":
            exporters.append(_otlp_exporter(environ))
        else:
            raise ValueError(f"OTEL_TRACES_EXPORTER: unknown exporter {name!r} (use none, console or otlp)")
    return exporters


def _otlp_exporter(environ: Mapping[str, str]) -> SpanExporter:
    protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    if protocol not in _OTLP_PROTOCOLS:
        raise ValueError(f"OTLP protocol {protocol!r} is not installed; use http/protobuf (port 4318)")
    # Imported here: only a process that exports over OTLP pays for loading protobuf.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # endpoint, headers, timeout and compression from OTEL_EXPORTER_OTLP_*


def tracer_of(provider: trace.TracerProvider) -> Tracer:
    return provider.get_tracer(TRACER_NAME)


def default_tracer() -> Tracer:
    """The tracer of the global provider: no-op until a composition root configured one. The default of every
    component that takes a tracer, so that tests that do not look at spans need not pass one."""
    return trace.get_tracer(TRACER_NAME)


# -- the trace context as a string, to keep on an execution ----------------------------------------------------


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the span active now; None outside a (valid) span."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    return carrier.get(_TRACEPARENT)


def span_context_of(traceparent: str | None) -> SpanContext | None:
    """The span context a `traceparent` names; None when it is absent or malformed."""
    if not traceparent:
        return None
    context = trace.get_current_span(_W3C.extract({_TRACEPARENT: traceparent})).get_span_context()
    return context if context.is_valid else None


def link_to_trace_of(span: Span, traceparent: str | None) -> None:
    """Link `span` to the span `traceparent` names, when that one belongs to another trace (a retry, a
    redelivery after a crash); within the same trace the parent chain already says it."""
    target = span_context_of(traceparent)
    if target is not None and target.trace_id != span.get_span_context().trace_id:
        span.add_link(target, {"wfa.link": "first_attempt"})


# -- logs ------------------------------------------------------------------------------------------------------


def add_trace_ids(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: the trace and span ids of the span active when the line is logged (none outside a
    span), so that log lines and traces can be joined on trace_id."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", format_trace_id(context.trace_id))
        event.setdefault("span_id", format_span_id(context.span_id))
    return event
