"""Structured logs: JSON lines for machines, colours for a person at a terminal.

Context bound with `structlog.contextvars.bind_contextvars` (workflow_id, execution_id, attempt, ...) is added
to every line logged in that task, including lines from the standard `logging` module (uvicorn, aiokafka), and
so are the trace_id and span_id of the span active then (wfa.observability.tracing).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from wfa.observability.redaction import Redactor
from wfa.observability.tracing import add_trace_ids

_QUIET_LOGGERS = ("aiokafka", "pymongo", "httpx", "httpcore", "uvicorn.access")


def configure_logging(
    *, service: str, level: str = "info", fmt: str = "auto", redactor: Redactor | None = None
) -> None:
    """`redactor` (the runner's: it knows the secret values) rewrites every event and every rendered line."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_trace_ids,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        _add_service(service),
    ]
    redacting: list[Any] = [redactor] if redactor is not None else []
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        # Plain tracebacks when redacting: rich ones show local variables (a resolved secret among them) and wrap
        # long lines, which could split a value where the pass over the rendered line would no longer find it.
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(),
            exception_formatter=(
                structlog.dev.plain_traceback if redacting else structlog.dev.default_exception_formatter
            ),
        )
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *([structlog.processors.format_exc_info] if use_json else []),
                *redacting,
                renderer,
                *redacting,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def _add_service(service: str) -> Any:
    def processor(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
        event.setdefault("service", service)
        return event

    return processor
