"""The runner process's composition root: settings, clients, repositories, the use case, the worker, the app.

Nothing else in the package creates a client or reads the environment.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import timedelta
from functools import partial

import structlog
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from starlette.applications import Starlette

from wfa.adapters.kafka import GroupConsumer, KafkaPublisher, ensure_topics
from wfa.adapters.mongo import DatabaseClock, MongoStore
from wfa.adapters.secrets import build_secret_source
from wfa.entrypoints.ops_http import ops_app
from wfa.entrypoints.serve import serve
from wfa.observability.logging import configure_logging
from wfa.observability.redaction import Redactor
from wfa.observability.tracing import configure_tracing, tracer_of
from wfa.ports.secrets import SecretSource
from wfa.service_layer.triggering import Triggering, start_waiting
from wfa.settings import Settings, settings_for
from wfa_runner.actions import HttpRequestRunner, LogActionRunner, http_client
from wfa_runner.execution_runner import ExecutionRunner
from wfa_runner.lifecycle_events import LifecycleEvents
from wfa_runner.metrics import RunnerMetrics, report_consumer_lag
from wfa_runner.service import RunnerService
from wfa_runner.worker import Worker

DEFAULT_PORT = 8082
# Events still queued at shutdown get this long; the publisher's stop then flushes within its own bound.
EVENT_DRAIN_SECONDS = 3.0
# wfa_kafka_consumer_lag is refreshed this often: a scrape every 15 s or so sees a recent figure.
LAG_REPORT_SECONDS = 5.0

log = structlog.get_logger(__name__)


def owner_id() -> str:
    """Names this process on the leases it holds: which host, which process, and a nonce so that a restarted
    process reusing a pid (containers start at pid 1) is never mistaken for its predecessor."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"


def consumer_group(settings: Settings) -> str:
    """`wfa-runner` under the default prefix; a prefix of its own (tests, a second installation on one broker)
    gets a group of its own, so unrelated runners never rebalance each other."""
    stem = settings.topic_prefix.rstrip(".-_") or "wfa"
    return f"{stem}-runner"


def create_app(
    settings: Settings,
    *,
    secret_source: SecretSource | None = None,
    redactor: Redactor | None = None,
    tracer_provider: TracerProvider | None = None,
) -> Starlette:
    """Without `secret_source` no secret resolves; `run` passes the real one, the redactor its logs use, and the
    process's tracer provider (without one no spans are made)."""
    store = MongoStore.from_url(settings.mongo_url, timeout_ms=settings.mongo_timeout_ms)
    client_id = f"{settings.kafka_client_id}-runner"
    tracer = tracer_of(tracer_provider) if tracer_provider is not None else None
    metrics = RunnerMetrics.default()
    publisher = KafkaPublisher(
        settings,
        client_id=client_id,
        topics=[settings.requests_topic, settings.events_topic, settings.dlq_topic],
        tracer=tracer,
    )
    consumer = GroupConsumer(
        settings, topic=settings.requests_topic, group_id=consumer_group(settings), client_id=client_id
    )
    # A lease this runner writes is compared by other runners and the scheduler: all read the database's clock.
    clock = DatabaseClock(store.server_time)
    http = http_client(
        allow_private_networks=settings.allow_private_networks,
        max_redirects=settings.http_max_redirects,
        max_connections=settings.runner_concurrency,
    )
    if tracer_provider is not None:
        # A client span per HTTP exchange, beneath its action's span (and the traceparent header on the request).
        HTTPXClientInstrumentor.instrument_client(http, tracer_provider=tracer_provider)
    events = LifecycleEvents(publisher)
    runner = ExecutionRunner(
        workflows=store.workflows,
        executions=store.executions,
        actions={
            "log": LogActionRunner(),
            "http-request": HttpRequestRunner(
                http,
                clock=clock,
                output_max_bytes=settings.action_output_max_bytes,
                max_response_bytes=settings.http_max_response_bytes,
                secrets=secret_source,
                redactor=redactor,
                sensitive_headers=settings.sensitive_headers,
            ),
        },
        events=events,
        clock=clock,
        owner=owner_id(),
        lease=timedelta(seconds=settings.lease_seconds),
        metrics=metrics,
        tracer=tracer,
        start_waiting=partial(
            start_waiting,
            Triggering(workflows=store.workflows, executions=store.executions, publisher=publisher, clock=clock),
        ),
    )
    worker = Worker(
        consumer,
        publisher,
        runner.run,
        concurrency=settings.runner_concurrency,
        consumer_group=consumer.group_id,
        metrics=metrics,
        tracer=tracer,
    )

    async def prepare() -> None:
        await clock.sync()
        await store.ensure_indexes()
        await ensure_topics(settings, publisher.topics)

    service = RunnerService(prepare=prepare, consumer=consumer, worker=worker, grace=settings.shutdown_grace_seconds)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await publisher.start()
        clock.start()
        service.start()
        lag_report = asyncio.create_task(
            report_consumer_lag(consumer, metrics, every=LAG_REPORT_SECONDS), name="consumer-lag"
        )
        log.info(
            "runner.started",
            port=settings.http_port,
            owner=runner.owner,
            group=consumer.group_id,
            concurrency=settings.runner_concurrency,
            allow_private_networks=settings.allow_private_networks,
        )
        try:
            yield
        finally:
            lag_report.cancel()
            with suppress(asyncio.CancelledError):
                await lag_report
            await service.stop()
            await clock.stop()
            await events.drain(EVENT_DRAIN_SECONDS)
            await publisher.stop()
            await http.aclose()
            await store.close()
            log.info("runner.stopped")

    return ops_app(
        {"mongodb": store.ping, "kafka": publisher.ping, "consumer": service.check_assigned}, lifespan=lifespan
    )


def run() -> None:
    settings = settings_for(DEFAULT_PORT)
    secret_source = build_secret_source(settings, os.environ)
    # Every secret known at start-up is redacted from the first log line on; one added later, when first used.
    redactor = Redactor(secret_source.values())
    configure_logging(service="runner", level=settings.log_level, fmt=settings.log_format, redactor=redactor)
    tracer_provider = configure_tracing("runner-svc", os.environ, redactor=redactor)
    try:
        serve(
            create_app(settings, secret_source=secret_source, redactor=redactor, tracer_provider=tracer_provider),
            settings,
        )
    finally:
        tracer_provider.shutdown()  # exports the spans still queued
