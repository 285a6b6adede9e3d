"""One trace from the API call to the last action, and the metrics of that run.

The workflows API (over in-memory repositories), a real Kafka broker, the runner's worker and execution runner, and
the scheduler's retry dispatch all run in this process, and every span they make goes to an InMemorySpanExporter.
In-process rather than the three services as processes: an exporter in memory is the one way to look at each span
as the SDK made it (parent, links, kind, attributes) without running a collector, and the hop that matters, the
trace context crossing Kafka in a record header, is real here. The e2e tests check the same correlation across
processes, in the services' logs (tests/e2e/test_observability.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode, format_trace_id
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from tests.e2e.target import TargetServer

from wfa.adapters.kafka import GroupConsumer, KafkaPublisher, ensure_topics
from wfa.adapters.memory import InMemoryExecutionRepository, InMemoryWorkflowRepository
from wfa.adapters.memory_versions import InMemoryVersionRepository
from wfa.domain.clock import SystemClock
from wfa.domain.execution import Execution, ExecutionStatus
from wfa.observability.tracing import current_traceparent, span_context_of, tracer_of
from wfa.service_layer.triggering import Triggering
from wfa.settings import Settings
from wfa_runner.actions import HttpRequestRunner, LogActionRunner, http_client
from wfa_runner.execution_runner import ExecutionRunner
from wfa_runner.lifecycle_events import LifecycleEvents
from wfa_runner.main import consumer_group
from wfa_runner.metrics import RunnerMetrics
from wfa_runner.service import RunnerService
from wfa_runner.worker import Worker
from wfa_scheduler.metrics import SchedulerMetrics
from wfa_scheduler.retries import Retries
from wfa_workflows.app import ApiDependencies, create_app
from wfa_workflows.metrics import ApiMetrics
from wfa_workflows.use_cases import WorkflowUseCases

pytestmark = pytest.mark.integration

JOIN_DEADLINE = 30.0
DEADLINE = 30.0
TRIGGER_ROUTE = "/workflows/{workflow_id}/trigger"


@dataclass
class System:
    settings: Settings
    api: httpx.AsyncClient
    exporter: InMemorySpanExporter
    executions: InMemoryExecutionRepository
    retries: Retries
    target: TargetServer
    api_registry: CollectorRegistry
    runner_registry: CollectorRegistry

    def spans(self, trace_id: int | None = None) -> list[ReadableSpan]:
        return [
            span for span in self.exporter.get_finished_spans() if trace_id is None or span.context.trace_id == trace_id
        ]

    async def create(self, workflow_id: str, actions: list[dict[str, Any]], **extra: Any) -> None:
        body = {"workflowId": workflow_id, "trigger": {"type": "manual"}, "actions": actions, **extra}
        response = await self.api.post("/workflows", json=body)
        assert response.status_code == 201, response.text

    async def trigger(self, workflow_id: str) -> str:
        response = await self.api.post(f"/workflows/{workflow_id}/trigger")
        assert response.status_code == 202, response.text
        execution_id: str = response.json()["executionId"]
        return execution_id

    async def reaches(self, execution_id: str, status: ExecutionStatus) -> Execution:
        async def there() -> bool:
            return (await self.executions.get(execution_id)).status is status

        await until(there, f"execution {execution_id} {status.value}")
        return await self.executions.get(execution_id)

    async def spans_named(self, names: Sequence[str], execution_id: str) -> dict[str, list[ReadableSpan]]:
        """Once every name in `names` has as many ended spans of `execution_id` as it appears in `names`."""

        async def ended() -> bool:
            found = self._by_name(execution_id)
            return all(len(found.get(name, [])) >= names.count(name) for name in names)

        await until(ended, f"spans {names} of {execution_id}")
        return self._by_name(execution_id)

    def _by_name(self, execution_id: str) -> dict[str, list[ReadableSpan]]:
        traces = {s.context.trace_id for s in self.spans() if attribute(s, "wfa.execution_id") == execution_id}
        found: dict[str, list[ReadableSpan]] = {}
        for span in sorted(self.spans(), key=lambda s: s.start_time or 0):
            if span.context.trace_id in traces:
                found.setdefault(span.name, []).append(span)
        return found

    def metrics(self, registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """The registry as /metrics shows it (the exposition text, parsed): {(sample, labels): value}."""
        text = generate_latest(registry).decode()
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }


def attribute(span: ReadableSpan, name: str) -> Any:
    return (span.attributes or {}).get(name)


def sample(metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return metrics.get((name, tuple(sorted(labels.items()))), 0.0)


async def until(condition: Callable[[], Awaitable[bool]], what: str, deadline: float = DEADLINE) -> None:
    give_up = time.monotonic() + deadline
    while not await condition():
        assert time.monotonic() < give_up, f"not within {deadline:g}s: {what}"
        await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
def target() -> Iterator[TargetServer]:
    server = TargetServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
async def system(kafka_bootstrap: str, target: TargetServer) -> AsyncIterator[System]:
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=f"test.obs{time.monotonic_ns()}.",
        kafka_partitions=2,
        kafka_session_timeout_ms=3_000,
        kafka_heartbeat_interval_ms=300,
    )
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = tracer_of(provider)
    clock = SystemClock()
    workflows, executions = InMemoryWorkflowRepository(), InMemoryExecutionRepository()
    api_registry, runner_registry = CollectorRegistry(), CollectorRegistry()

    # The workflows service.
    api_publisher = KafkaPublisher(settings, client_id="obs-workflows", tracer=tracer)
    triggering = Triggering(
        workflows=workflows,
        executions=executions,
        publisher=api_publisher,
        clock=clock,
        trace_context=current_traceparent,
    )
    use_cases = WorkflowUseCases(
        triggering, InMemoryVersionRepository(), events=api_publisher, metrics=ApiMetrics(api_registry)
    )
    app = create_app(ApiDependencies(use_cases=use_cases, tracer_provider=provider))

    # The runner.
    runner_metrics = RunnerMetrics(runner_registry)
    runner_publisher = KafkaPublisher(settings, client_id="obs-runner", tracer=tracer)
    http = http_client(allow_private_networks=True, max_redirects=5)
    HTTPXClientInstrumentor.instrument_client(http, tracer_provider=provider)
    events = LifecycleEvents(runner_publisher)
    runner = ExecutionRunner(
        workflows=workflows,
        executions=executions,
        actions={
            "log": LogActionRunner(),
            "http-request": HttpRequestRunner(http, clock=clock, output_max_bytes=256, max_response_bytes=65_536),
        },
        events=events,
        clock=clock,
        owner="obs-runner",
        lease=timedelta(seconds=30),
        metrics=runner_metrics,
        tracer=tracer,
    )
    consumer = GroupConsumer(settings, topic=settings.requests_topic, group_id=consumer_group(settings))
    worker = Worker(
        consumer,
        runner_publisher,
        runner.run,
        concurrency=4,
        commit_interval=0.2,
        consumer_group=consumer.group_id,
        metrics=runner_metrics,
        tracer=tracer,
    )

    async def prepare() -> None:
        await ensure_topics(settings, [settings.requests_topic, settings.events_topic, settings.dlq_topic])

    service = RunnerService(prepare=prepare, consumer=consumer, worker=worker, grace=5.0)

    # The scheduler's retry dispatch.
    retries = Retries(triggering, metrics=SchedulerMetrics(CollectorRegistry()), batch=10, tracer=tracer)

    await api_publisher.start()
    await runner_publisher.start()
    service.start()
    try:

        async def assigned() -> bool:
            return consumer.assigned

        await until(assigned, "the runner's group assignment", JOIN_DEADLINE)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api.test") as api:
            yield System(settings, api, exporter, executions, retries, target, api_registry, runner_registry)
    finally:
        await service.stop()
        await events.drain(5.0)
        await runner_publisher.stop()
        await api_publisher.stop()
        await http.aclose()
        provider.shutdown()


def only(spans: dict[str, list[ReadableSpan]], name: str) -> ReadableSpan:
    (span,) = spans[name]
    return span


def parent_of(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


async def test_one_trace_runs_from_the_trigger_through_kafka_to_the_last_action(system: System) -> None:
    path = system.target.path("ok")
    system.target.respond(path, 200)
    await system.create(
        "wf-traced",
        [
            {"type": "http-request", "name": "call", "url": system.target.url(path)},
            {"type": "log", "name": "note", "message": "done"},
        ],
    )
    requests, events = system.settings.requests_topic, system.settings.events_topic

    execution_id = await system.trigger("wf-traced")
    await system.reaches(execution_id, ExecutionStatus.SUCCEEDED)
    spans = await system.spans_named(
        [f"POST {TRIGGER_ROUTE}", f"send {requests}", f"process {requests}", "execution attempt"]
        + ["action http-request", "action log", "GET"]
        + [f"send {events}"] * 4,  # execution.started, action.succeeded twice, execution.succeeded
        execution_id,
    )

    server = only(spans, f"POST {TRIGGER_ROUTE}")
    produced = only(spans, f"send {requests}")
    processed = only(spans, f"process {requests}")
    attempt = only(spans, "execution attempt")
    call, note = only(spans, "action http-request"), only(spans, "action log")
    client = only(spans, "GET")
    # One trace, and each span beneath the one that caused it.
    chain = [server, produced, processed, attempt, call, client]
    assert {span.context.trace_id for span in [*chain, note]} == {server.context.trace_id}
    assert server.parent is None
    assert [parent_of(span) for span in chain[1:]] == [span.context.span_id for span in chain[:-1]]
    assert parent_of(note) == attempt.context.span_id
    assert [span.kind for span in chain] == [
        SpanKind.SERVER,
        SpanKind.PRODUCER,
        SpanKind.CONSUMER,
        SpanKind.INTERNAL,
        SpanKind.INTERNAL,
        SpanKind.CLIENT,
    ]
    # What each one says.
    assert attribute(server, "http.route") == TRIGGER_ROUTE
    assert (attribute(server, "wfa.workflow_id"), attribute(server, "wfa.execution_id")) == ("wf-traced", execution_id)
    for span, operation in ((produced, "send"), (processed, "process")):
        assert attribute(span, "messaging.system") == "kafka"
        assert attribute(span, "messaging.destination.name") == requests
        assert attribute(span, "messaging.operation.type") == operation
        assert attribute(span, "messaging.kafka.message.key") == "wf-traced"
        assert (attribute(span, "wfa.execution_id"), attribute(span, "wfa.attempt")) == (execution_id, 1)
    assert attribute(processed, "messaging.consumer.group.name") == consumer_group(system.settings)
    assert attribute(processed, "messaging.kafka.offset") == attribute(produced, "messaging.kafka.offset")
    assert attribute(processed, "messaging.destination.partition.id") == attribute(
        produced, "messaging.destination.partition.id"
    )
    assert {key: attribute(attempt, key) for key in ("wfa.workflow_id", "wfa.attempt", "wfa.outcome")} == {
        "wfa.workflow_id": "wf-traced",
        "wfa.attempt": 1,
        "wfa.outcome": "succeeded",
    }
    assert not attempt.links  # the first attempt runs in the trace that created the execution
    assert [(attribute(s, "wfa.action.name"), attribute(s, "wfa.outcome")) for s in (call, note)] == [
        ("call", "succeeded"),
        ("note", "succeeded"),
    ]
    assert {attribute(span, "wfa.event.type") for span in spans[f"send {events}"]} == {
        "execution.started",
        "action.succeeded",
        "execution.succeeded",
    }
    # The context goes on: into the action's HTTP request, and onto the execution for later attempts.
    (received,) = system.target.requests(path)
    headers = {name.lower(): value for name, value in received.headers.items()}
    assert headers["traceparent"].split("-")[1] == format_trace_id(server.context.trace_id)
    stored = span_context_of((await system.executions.get(execution_id)).traceparent)
    assert stored is not None and stored.span_id == server.context.span_id


async def test_a_retry_runs_in_a_trace_of_its_own_linked_to_the_first_attempts(system: System) -> None:
    path = system.target.path("flaky")
    system.target.respond_in_turn(path, 503, 200)
    await system.create(
        "wf-retried",
        [{"type": "http-request", "name": "call", "url": system.target.url(path)}],
        retry={"maxAttempts": 3, "initialInterval": "1s"},
    )
    requests = system.settings.requests_topic

    execution_id = await system.trigger("wf-retried")
    await system.reaches(execution_id, ExecutionStatus.PENDING)

    async def dispatched() -> bool:
        done = await system.retries.run_once(SystemClock().now())
        return done.due > 0

    await until(dispatched, "the retry dispatched")
    await system.reaches(execution_id, ExecutionStatus.SUCCEEDED)
    spans = await system.spans_named(
        [
            f"POST {TRIGGER_ROUTE}",
            "retry dispatch",
            *["execution attempt", f"process {requests}", "action http-request"] * 2,
        ],
        execution_id,
    )

    server, dispatch = only(spans, f"POST {TRIGGER_ROUTE}"), only(spans, "retry dispatch")
    first, second = sorted(spans["execution attempt"], key=lambda span: attribute(span, "wfa.attempt"))
    failed, succeeded = spans["action http-request"]
    assert first.context.trace_id == server.context.trace_id
    assert (attribute(first, "wfa.outcome"), first.status.status_code) == ("pending", StatusCode.ERROR)
    assert (attribute(failed, "wfa.outcome"), attribute(failed, "error.type")) == ("failed", "http_status")
    # The retry: a trace that starts at the scheduler's dispatch, linked to the first attempt's.
    assert dispatch.parent is None and dispatch.context.trace_id != server.context.trace_id
    assert second.context.trace_id == dispatch.context.trace_id
    assert (attribute(second, "wfa.attempt"), attribute(second, "wfa.outcome")) == (2, "succeeded")
    for span in (dispatch, second):
        assert [(link.context.trace_id, link.context.span_id) for link in span.links] == [
            (server.context.trace_id, server.context.span_id)
        ]
    assert attribute(succeeded, "wfa.action.attempt") == 2
    assert parent_of(succeeded) == second.context.span_id


async def test_metrics_count_and_time_what_ran(system: System) -> None:
    path = system.target.path("counted")
    system.target.respond_in_turn(path, 200, 404)
    await system.create(
        "wf-counted",
        [{"type": "http-request", "name": "call", "url": system.target.url(path)}, {"type": "log", "message": "x"}],
    )
    api_before, runner_before = system.metrics(system.api_registry), system.metrics(system.runner_registry)

    def grew(after: dict[Any, float], before: dict[Any, float], name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    await system.reaches(await system.trigger("wf-counted"), ExecutionStatus.SUCCEEDED)
    await system.reaches(await system.trigger("wf-counted"), ExecutionStatus.FAILED)

    async def settled() -> bool:  # the runner counts an execution just after storing its final status
        runner = system.metrics(system.runner_registry)
        done = grew(runner, runner_before, "wfa_executions_total", status="failed", reason="manual") > 0
        return done and sample(runner, "wfa_runner_in_flight_executions") == 0

    await until(settled, "the runner's counters settled")
    api, runner = system.metrics(system.api_registry), system.metrics(system.runner_registry)
    assert grew(runner, runner_before, "wfa_executions_total", status="succeeded", reason="manual") == 1
    assert grew(runner, runner_before, "wfa_executions_total", status="failed", reason="manual") == 1
    assert grew(runner, runner_before, "wfa_execution_duration_seconds_count", status="succeeded") == 1
    assert grew(runner, runner_before, "wfa_execution_duration_seconds_count", status="failed") == 1
    assert grew(runner, runner_before, "wfa_execution_attempts_total", outcome="failed") == 1
    assert grew(runner, runner_before, "wfa_actions_total", type="http-request", outcome="succeeded") == 1
    assert grew(runner, runner_before, "wfa_actions_total", type="http-request", outcome="failed") == 1
    assert grew(runner, runner_before, "wfa_actions_total", type="log", outcome="succeeded") == 1
    assert grew(runner, runner_before, "wfa_action_duration_seconds_count", type="log", outcome="succeeded") == 1
    trigger = {"method": "POST", "route": TRIGGER_ROUTE}
    assert grew(api, api_before, "wfa_http_requests_total", **trigger, status="202") == 2
    assert grew(api, api_before, "wfa_http_request_duration_seconds_count", **trigger) == 2


async def test_a_cancel_is_counted_by_the_api(system: System) -> None:
    path = system.target.path("held")
    system.target.hold(path)
    await system.create("wf-cancelled", [{"type": "http-request", "name": "wait", "url": system.target.url(path)}])
    before = system.metrics(system.api_registry)
    execution_id = await system.trigger("wf-cancelled")
    await system.reaches(execution_id, ExecutionStatus.RUNNING)

    response = await system.api.post(f"/executions/{execution_id}/cancel")
    system.target.release(path)

    assert response.status_code == 200, response.text
    after = system.metrics(system.api_registry)
    grew = sample(after, "wfa_executions_total", status="cancelled", reason="manual") - sample(
        before, "wfa_executions_total", status="cancelled", reason="manual"
    )
    assert grew == 1
