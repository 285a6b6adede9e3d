"""Redaction: secret values never reach a log line, a stored execution record, an event or a span.

A `Redactor` knows secret values and replaces every occurrence of them, in text and in JSON-like values, with
MASK. It knows each value in the forms it takes on the way out as well: percent-encoded (a secret in a URL, as
httpx sends it and error messages quote it) and JSON-escaped (a secret in a JSON body echoed back, or in a JSON
log line). The runner tells it every secret value it reads, as it reads it, so a secret rotated while the
process runs is covered from its first use.

The same object is a structlog processor (`configure_logging(redactor=...)`): it rewrites every field of an
event, and the rendered line after it, so neither a field nor a traceback can carry a secret to the log. And
`RedactingSpanExporter` (`configure_tracing(redactor=...)`) does the same to every span on its way out: attributes
(an HTTP client span's `url.full`), events (a recorded exception's message and stack trace), status, links.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Sequence
from typing import Any, Final, TypeVar
from urllib.parse import quote, quote_plus

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Link, Status
from opentelemetry.util.types import Attributes

MASK: Final = "[redacted]"
# The characters httpx leaves unencoded in a query or path: a secret holding them is sent (and quoted) this way.
_URL_SAFE: Final = "!$&'()*+,;=:@/?~"

T = TypeVar("T")


def _forms(value: str) -> set[str]:
    return {
        value,
        quote(value, safe=""),
        quote(value),
        quote(value, safe=_URL_SAFE),
        quote_plus(value),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
    }


class Redactor:
    def __init__(self, values: Iterable[str] = ()) -> None:
        self._forms: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()  # log lines may come from threads; rebuilds must not interleave
        self.remember(values)

    def remember(self, values: Iterable[str]) -> None:
        """Redact `values` (and their encoded forms) from now on. The empty string is ignored."""
        added = {form for value in values if value for form in _forms(value)} - self._forms
        if not added:
            return
        with self._lock:
            self._set(self._forms | added)

    def with_values(self, values: Iterable[str]) -> Redactor:
        """A redactor knowing these values besides this one's (for one action: its sensitive header values)."""
        extended = Redactor()
        extended._set(self._forms | {form for value in values if value for form in _forms(value)})
        return extended

    def _set(self, forms: frozenset[str]) -> None:
        # Longest first: of two overlapping values, the longer one is masked whole.
        alternatives = sorted(forms, key=len, reverse=True)
        pattern = re.compile("|".join(re.escape(form) for form in alternatives)) if alternatives else None
        self._forms, self._pattern = forms, pattern

    @property
    def active(self) -> bool:
        """Whether there is anything to redact."""
        return self._pattern is not None

    def text(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(MASK, text) if pattern is not None else text

    def value(self, value: T) -> T:
        """`value` with every string in it redacted, dictionary keys included (dicts, lists and tuples are
        copied; anything else is returned as it is)."""
        if self._pattern is None:
            return value
        return self._walk(value)  # type: ignore[no-any-return]

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self._walk(key): self._walk(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._walk(item) for item in value]
        if type(value) is tuple:
            return tuple(self._walk(item) for item in value)
        return value

    def __call__(self, _: Any, __: str, event: Any) -> Any:
        """structlog processor: an event dict before rendering, or the rendered line after it."""
        if self._pattern is None:
            return event
        if isinstance(event, str | dict):
            return self._walk(event)
        return event


class RedactingSpanExporter(SpanExporter):
    """Hands `inner` copies of the spans with every string redacted; spans themselves are immutable once ended."""

    def __init__(self, inner: SpanExporter, redactor: Redactor) -> None:
        self._inner = inner
        self._redactor = redactor

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not self._redactor.active:
            return self._inner.export(spans)
        return self._inner.export([self._redacted(span) for span in spans])

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._inner.force_flush(timeout_millis)

    def _redacted(self, span: ReadableSpan) -> ReadableSpan:
        status = span.status
        return ReadableSpan(
            name=self._redactor.text(span.name),
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=self._attributes(span.attributes),
            events=[Event(event.name, self._attributes(event.attributes), event.timestamp) for event in span.events],
            links=[Link(link.context, self._attributes(link.attributes)) for link in span.links],
            kind=span.kind,
            status=Status(status.status_code, self._redactor.text(status.description))
            if status.description
            else status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    def _attributes(self, attributes: Attributes) -> Attributes:
        return None if attributes is None else self._redactor.value(dict(attributes))
