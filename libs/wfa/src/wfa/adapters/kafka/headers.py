"""Kafka record headers: W3C trace context in and out, and the shape aiokafka wants.

aiokafka takes and gives headers as a sequence of `(str, bytes)` pairs; OpenTelemetry's propagators work on a
string mapping. These two functions are the only bridge between them.
"""

from __future__ import annotations

from collections.abc import Iterable

from opentelemetry import propagate
from opentelemetry.context import Context

Headers = list[tuple[str, bytes]]


def trace_headers() -> Headers:
    """The current trace context (`traceparent`, and `tracestate`/`baggage` when set) as Kafka headers.

    Empty when no span is active: a message without trace context is still a valid message.
    """
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return [(key, value.encode()) for key, value in carrier.items()]


def context_from_headers(headers: Iterable[tuple[str, bytes | None]] | None) -> Context:
    """The trace context a producer put in a record's headers (an empty context when there is none).

    The first occurrence of a header wins: should the aiokafka auto-instrumentation also be enabled it appends
    its own `traceparent` after ours, and ours is the one that links to the span that asked for the work.
    """
    carrier: dict[str, str] = {}
    for key, value in headers or ():
        if value is not None:
            carrier.setdefault(key, value.decode("utf-8", errors="replace"))
    return propagate.extract(carrier)
