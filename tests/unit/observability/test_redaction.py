"""The Redactor: secret values, in every form they travel in, are masked in text, JSON-like values and log lines."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from wfa.observability.logging import configure_logging
from wfa.observability.redaction import MASK, RedactingSpanExporter, Redactor

SECRET = 's3cr3t/v@lue with spaces&"quotes"'


def test_a_known_value_is_masked_in_text() -> None:
    redactor = Redactor(["hunter2"])

    assert redactor.text("password=hunter2; again hunter2") == f"password={MASK}; again {MASK}"
    assert redactor.text("nothing to hide") == "nothing to hide"


@pytest.mark.parametrize(
    "form",
    [
        SECRET,
        quote(SECRET, safe=""),  # in a URL, fully encoded
        quote(SECRET, safe="!$&'()*+,;=:@/?~"),  # in a URL as httpx encodes a query
        json.dumps(SECRET)[1:-1],  # inside a JSON string
    ],
    ids=["raw", "percent-encoded", "as-httpx-sends-it", "json-escaped"],
)
def test_a_value_is_masked_in_the_forms_it_travels_in(form: str) -> None:
    assert Redactor([SECRET]).text(f"before {form} after") == f"before {MASK} after"


def test_the_longer_of_two_overlapping_values_is_masked_whole() -> None:
    assert Redactor(["abc", "abcdef"]).text("xabcdefx") == f"x{MASK}x"


def test_json_like_values_are_masked_everywhere_keys_included() -> None:
    redactor = Redactor(["tok"])
    value = {"status": 200, "body": "echo tok", "headers": {"x-tok": ["a", "tok"]}, "ok": True, "n": None}

    assert redactor.value(value) == {
        "status": 200,
        "body": f"echo {MASK}",
        "headers": {f"x-{MASK}": ["a", MASK]},
        "ok": True,
        "n": None,
    }


def test_values_remembered_later_are_masked_from_then_on() -> None:
    redactor = Redactor()
    assert redactor.text("rotated-value") == "rotated-value"

    redactor.remember(["rotated-value", ""])

    assert redactor.text("rotated-value") == MASK


def test_with_values_extends_a_copy() -> None:
    process = Redactor(["process-secret"])

    action = process.with_values(["Bearer literal-token"])

    assert action.text("process-secret Bearer literal-token") == f"{MASK} {MASK}"
    assert process.text("Bearer literal-token") == "Bearer literal-token"


def test_an_empty_redactor_changes_nothing() -> None:
    value = {"a": ["b"]}

    assert Redactor().value(value) is value
    assert Redactor([""]).text("") == ""


# --- log lines, through the logging configuration the services use --------------------------------------------


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """configure_logging changes process-wide state; put it back so other tests see what they expect."""
    config = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        structlog.configure(**config)
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest.mark.usefixtures("restored_logging")
@pytest.mark.parametrize("fmt", ["json", "console"])
def test_no_log_line_carries_a_known_secret(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(service="test", fmt=fmt, redactor=Redactor([SECRET]))
    log = structlog.get_logger(f"redaction-test-{fmt}")  # a logger of its own: nothing else caches this config

    log.info("called", url=f"https://api.example.com/?key={quote(SECRET, safe='')}", nested={"auth": [SECRET]})
    logging.getLogger("some.library").warning("stdlib line holding %s", SECRET)
    try:
        raise RuntimeError(f"failed with {SECRET}")
    except RuntimeError:
        log.exception("crashed")

    output = capsys.readouterr().err
    assert "called" in output and "stdlib line holding" in output and "RuntimeError" in output
    assert SECRET not in output
    assert quote(SECRET, safe="") not in output
    assert json.dumps(SECRET)[1:-1] not in output
    assert output.count(MASK) >= 4


# --- spans ---------------------------------------------------------------------------------------------------


def test_exported_spans_carry_no_known_secret() -> None:
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(RedactingSpanExporter(exported, Redactor([SECRET]))))
    tracer = provider.get_tracer("test")

    with tracer.start_as_current_span("POST", attributes={"url.full": f"https://x.example/?k={quote(SECRET)}"}) as span:
        span.add_link(span.get_span_context(), {"why": SECRET})
        span.record_exception(RuntimeError(f"failed with {SECRET}"))
        span.set_status(Status(StatusCode.ERROR, f"failed with {SECRET}"))

    (finished,) = exported.get_finished_spans()
    shown = json.dumps(
        {
            "attributes": dict(finished.attributes or {}),
            "events": [dict(event.attributes or {}) for event in finished.events],
            "links": [dict(link.attributes or {}) for link in finished.links],
            "status": finished.status.description,
        }
    )
    assert SECRET not in shown and quote(SECRET) not in shown and json.dumps(SECRET)[1:-1] not in shown
    assert finished.attributes is not None and finished.attributes["url.full"] == f"https://x.example/?k={MASK}"
    assert finished.status.description == f"failed with {MASK}"
    assert finished.events[0].attributes is not None and MASK in str(
        finished.events[0].attributes["exception.stacktrace"]
    )
