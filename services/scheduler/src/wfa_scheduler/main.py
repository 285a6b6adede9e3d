"""The scheduler process's composition root: settings, clients, repositories, jobs, and the ASGI app serving them.

Nothing else in the package creates a client or reads the environment.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import structlog
from opentelemetry.sdk.trace import TracerProvider
from starlette.applications import Starlette

from wfa.adapters.kafka import KafkaPublisher, ensure_topics
from wfa.adapters.mongo import DatabaseClock, MongoStore
from wfa.entrypoints.fault_injection import crash_at
from wfa.entrypoints.ops_http import ops_app
from wfa.entrypoints.serve import serve
from wfa.observability.logging import configure_logging
from wfa.observability.tracing import configure_tracing, current_traceparent, tracer_of
from wfa.service_layer.triggering import Triggering
from wfa.settings import Settings, settings_for
from wfa_scheduler.adapters.mongo_changes import MongoWorkflowChanges
from wfa_scheduler.backlog import Backlog
from wfa_scheduler.firing import Firing
from wfa_scheduler.metrics import SchedulerMetrics
from wfa_scheduler.repair import Repair
from wfa_scheduler.retention import Retention
from wfa_scheduler.retries import Retries
from wfa_scheduler.scheduler import Scheduler, SchedulerJobs
from wfa_scheduler.shards import ShardOwnership

DEFAULT_PORT = 8081
# The loops stop at the end of the pass in progress; a pass is a batch of database round trips, so a few
# seconds is plenty, and far below the orchestrator's kill timeout.
STOP_GRACE_SECONDS = 5.0

log = structlog.get_logger(__name__)


def create_app(settings: Settings, *, tracer_provider: TracerProvider | None = None) -> Starlette:
    """`tracer_provider`: the process's (see `run`); without one no spans are made."""
    store = MongoStore.from_url(settings.mongo_url, timeout_ms=settings.mongo_timeout_ms)
    # Lock ages and leases are compared with times other hosts wrote: all read the database server's clock.
    clock = DatabaseClock(store.server_time)
    tracer = tracer_of(tracer_provider) if tracer_provider is not None else None
    publisher = KafkaPublisher(
        settings,
        client_id=f"{settings.kafka_client_id}-scheduler",
        topics=[settings.requests_topic],
        tracer=tracer,
    )
    deps = Triggering(
        workflows=store.workflows,
        executions=store.executions,
        publisher=publisher,
        clock=clock,
        checkpoint=crash_at(settings.test_crash_at),
        trace_context=current_traceparent,
    )
    metrics = SchedulerMetrics.default()
    # A name of its own per process start: a restarted process is a new member, and its old leases just run out.
    owner = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    shards = ShardOwnership(
        store.shard_leases,
        clock,
        owner=owner,
        lease=timedelta(seconds=settings.scheduler_shard_lease_seconds),
        metrics=metrics,
    )
    jobs = SchedulerJobs(
        firing=Firing(deps, metrics=metrics, batch=settings.scheduler_batch, tracer=tracer, owns=shards.owns),
        retries=Retries(deps, metrics=metrics, batch=settings.scheduler_batch, tracer=tracer),
        backlog=Backlog(deps, batch=settings.scheduler_batch),
        repair=Repair(
            deps,
            metrics=metrics,
            batch=settings.scheduler_batch,
            redispatch_after=timedelta(seconds=settings.redispatch_after_seconds),
            repair_after=timedelta(seconds=settings.repair_after_seconds),
            interval=timedelta(seconds=settings.sweep_interval_seconds),
        ),
        retention=None
        if settings.retention is None
        else Retention(
            store.executions,
            clock,
            metrics=metrics,
            retention=settings.retention,
            keep_last=settings.retention_keep_last,
            batch=settings.retention_batch,
            interval=timedelta(seconds=settings.retention_interval_seconds),
        ),
        shards=shards,
    )

    async def prepare() -> None:
        await clock.sync()
        await store.ensure_indexes()
        await ensure_topics(settings, publisher.topics)

    scheduler = Scheduler(
        jobs,
        prepare=prepare,
        changes=MongoWorkflowChanges(store.workflows_collection),
        metrics=metrics,
        max_sleep=settings.scheduler_max_sleep_seconds,
        repair_interval=settings.sweep_interval_seconds,
    )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await publisher.start()
        clock.start()
        scheduler.start()
        log.info("scheduler.started", port=settings.http_port)
        try:
            yield
        finally:
            await scheduler.stop(grace=STOP_GRACE_SECONDS)
            await clock.stop()
            await publisher.stop()
            await store.close()
            log.info("scheduler.stopped")

    return ops_app({"mongodb": store.ping, "kafka": publisher.ping}, lifespan=lifespan)


def run() -> None:
    settings = settings_for(DEFAULT_PORT)
    configure_logging(service="scheduler", level=settings.log_level, fmt=settings.log_format)
    tracer_provider = configure_tracing("scheduler-svc", os.environ)
    try:
        serve(create_app(settings, tracer_provider=tracer_provider), settings)
    finally:
        tracer_provider.shutdown()  # exports the spans still queued
