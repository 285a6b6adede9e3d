"""The scheduler's spans: a fire is the root of its execution's trace; a retry is dispatched in a trace of its own,
linked to its execution's first attempt."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tests.unit.fakes import add_workflow
from tests.unit.scheduler.fakes import run_until_pending, seconds

from wfa.domain.clock import FakeClock
from wfa.events import ExecutionRequest
from wfa.observability.tracing import current_traceparent, span_context_of, tracer_of
from wfa.ports.repositories import ExecutionFilter
from wfa.service_layer.triggering import Triggering, trigger_manually
from wfa_scheduler.firing import Firing
from wfa_scheduler.metrics import SchedulerMetrics
from wfa_scheduler.retries import Retries


class ContextRecordingPublisher:
    """Keeps the trace context each request was published in (what the Kafka publisher puts in its headers)."""

    def __init__(self) -> None:
        self.traceparents: list[str | None] = []

    async def publish(self, request: ExecutionRequest) -> None:
        self.traceparents.append(current_traceparent())


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


async def test_a_retry_is_dispatched_in_a_span_linked_to_the_first_attempts_trace(
    deps: Triggering,
    clock: FakeClock,
    metrics: SchedulerMetrics,
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    tracer = tracer_of(provider)
    publisher = ContextRecordingPublisher()
    traced = replace(deps, trace_context=current_traceparent, publisher=publisher)
    await add_workflow(traced, {"type": "manual"}, workflow_id="w")
    with tracer.start_as_current_span("POST /workflows/{workflow_id}/trigger") as trigger_span:
        started = await trigger_manually(traced, "w")
    await run_until_pending(traced, started.execution.execution_id)
    clock.advance(seconds(2))

    await Retries(traced, metrics=metrics, batch=10, tracer=tracer).run_once(clock.now())

    (dispatch,) = [span for span in exporter.get_finished_spans() if span.name == "retry dispatch"]
    assert dispatch.parent is None  # a trace of its own
    assert [link.context.span_id for link in dispatch.links] == [trigger_span.get_span_context().span_id]
    assert dispatch.attributes is not None
    assert dict(dispatch.attributes) == {
        "wfa.workflow_id": "w",
        "wfa.execution_id": started.execution.execution_id,
        "wfa.attempt": 2,
        "wfa.outcome": "dispatched",
    }
    # The request is published within the dispatch span: the runner's spans will be its children.
    retried = span_context_of(publisher.traceparents[-1])
    assert retried is not None and retried.trace_id == dispatch.context.trace_id


async def test_a_scheduled_fire_is_the_root_span_of_the_execution_it_creates(
    deps: Triggering, clock: FakeClock, metrics: SchedulerMetrics, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = spans
    publisher = ContextRecordingPublisher()
    traced = replace(deps, trace_context=current_traceparent, publisher=publisher)
    workflow = await add_workflow(traced, {"type": "periodic", "interval": "10s"}, workflow_id="p")
    clock.advance(seconds(10))

    await Firing(traced, metrics=metrics, batch=10, tracer=tracer_of(provider)).run_once(clock.now())

    (fire,) = [span for span in exporter.get_finished_spans() if span.name == "schedule fire"]
    assert fire.parent is None
    assert fire.attributes is not None
    assert dict(fire.attributes) == {
        "wfa.workflow_id": "p",
        "wfa.schedule.slot": workflow.trigger.next_run_at.isoformat() if workflow.trigger.next_run_at else "",
        "wfa.outcome": "fired",
    }
    (execution,) = (await traced.executions.newest_first(ExecutionFilter(workflow_id="p"), limit=10, cursor=None)).items
    stored = span_context_of(execution.traceparent)
    published = span_context_of(publisher.traceparents[-1])
    assert stored is not None and stored.span_id == fire.context.span_id
    assert published is not None and published.trace_id == fire.context.trace_id
