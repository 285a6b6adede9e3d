"""The workflows service's composition root: settings, logging, clients, repositories, use cases, the app.

Nothing else in the package reads the environment or creates a client.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider

from wfa.adapters.kafka import KafkaPublisher, ensure_topics
from wfa.adapters.mongo import DatabaseClock, MongoStore
from wfa.adapters.secrets import build_secret_source
from wfa.entrypoints.fault_injection import crash_at
from wfa.entrypoints.serve import serve
from wfa.observability.logging import configure_logging
from wfa.observability.tracing import configure_tracing, current_traceparent, tracer_of
from wfa.service_layer.triggering import Triggering
from wfa.settings import Settings, settings_for
from wfa_workflows.api.auth import parse_api_keys
from wfa_workflows.app import ApiDependencies, create_app
from wfa_workflows.metrics import ApiMetrics
from wfa_workflows.startup import preparing
from wfa_workflows.use_cases import WorkflowUseCases

DEFAULT_PORT = 8080

log = structlog.get_logger(__name__)


def build_app(settings: Settings, *, tracer_provider: TracerProvider | None = None) -> FastAPI:
    """`tracer_provider`: the process's (see `run`); without one no spans are made."""
    api_keys = parse_api_keys(settings.api_keys)
    if api_keys:
        log.info(
            "workflows.api_keys_loaded",
            names=[key.name for key in api_keys],
            read_only=[key.name for key in api_keys if key.read_only],
        )
    else:
        log.warning(
            "workflows.api_open",
            detail="WFA_API_KEYS is empty: the API accepts every request without authentication",
        )
    store = MongoStore.from_url(settings.mongo_url, timeout_ms=settings.mongo_timeout_ms)
    # lockedAt is compared by the scheduler, on another host: both read the database server's clock.
    clock = DatabaseClock(store.server_time)
    publisher = KafkaPublisher(
        settings,
        client_id=f"{settings.kafka_client_id}-workflows",
        topics=[settings.requests_topic, settings.events_topic],
        tracer=tracer_of(tracer_provider) if tracer_provider is not None else None,
    )
    use_cases = WorkflowUseCases(
        Triggering(
            workflows=store.workflows,
            executions=store.executions,
            publisher=publisher,
            clock=clock,
            checkpoint=crash_at(settings.test_crash_at),
            trace_context=current_traceparent,
        ),
        versions=store.versions,
        events=publisher,
        metrics=ApiMetrics.default(),
        secrets=build_secret_source(settings, os.environ),
    )

    async def prepare() -> None:
        await clock.sync()
        await store.ensure_indexes()
        await ensure_topics(settings, publisher.topics)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await publisher.start()  # logs and carries on when Kafka is down: readiness reports it
        clock.start()
        try:
            async with preparing(prepare):
                log.info("workflows.started", port=settings.http_port)
                yield
        finally:
            await clock.stop()
            await publisher.stop()
            await store.close()
            log.info("workflows.stopped")

    return create_app(
        ApiDependencies(
            use_cases=use_cases,
            api_keys=api_keys,
            readiness={"mongodb": store.ping, "kafka": publisher.ping},
            lifespan=lifespan,
            tracer_provider=tracer_provider,
        )
    )


def run() -> None:
    settings = settings_for(DEFAULT_PORT)
    configure_logging(service="workflows", level=settings.log_level, fmt=settings.log_format)
    tracer_provider = configure_tracing("workflows-svc", os.environ)
    try:
        serve(build_app(settings, tracer_provider=tracer_provider), settings)
    finally:
        tracer_provider.shutdown()  # exports the spans still queued
