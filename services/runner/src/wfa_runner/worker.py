"""The Kafka consumer loop: fetch execution requests, run up to `concurrency` of them at once, commit what is done.

- A record that is not an ExecutionRequest goes to the dead-letter topic; the loop commits past it only once
  the dead letter was acknowledged. One that Kafka refuses for good (too large with the dead-letter headers) goes
  there truncated, and if even that is refused it is logged and skipped: no record holds its partition forever.
- While MongoDB is down a request is retried with backoff, never committed past, never dropped.
- Offsets are committed per partition only up to the oldest record still running (see offsets.py).
- When every slot is busy the partitions are paused, but polling goes on: a member that stops polling for
  `max_poll_interval_ms` is thrown out of the group, and long HTTP actions could make it do just that.
- `stop()`: no new records; what runs gets `grace` seconds to finish; what finished is committed.
- Each request is processed in a CONSUMER span (`process <topic>`) whose parent is the context the producer put
  in the record's headers, so the trigger's trace continues here (hand-made: the aiokafka instrumentation's
  consumer spans end inside getmany, before any processing).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from enum import StrEnum
from functools import partial
from typing import Protocol

import structlog
from aiokafka import TopicPartition
from opentelemetry.trace import SpanKind, Tracer
from opentelemetry.util.types import AttributeValue
from pydantic import ValidationError

from wfa.adapters.kafka import context_from_headers
from wfa.domain.errors import DependencyUnavailable
from wfa.events import ExecutionRequest
from wfa.observability.tracing import Attributes, default_tracer
from wfa.until_done import Backoff, until_done
from wfa_runner.metrics import RunnerMetrics
from wfa_runner.offsets import OffsetTracker

log = structlog.get_logger(__name__)

Handler = Callable[[ExecutionRequest], Awaitable[object]]
"""Runs one request; raises DependencyUnavailable when it should be retried later."""


class Record(Protocol):
    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


class RecordSource(Protocol):
    """The group consumer, as the worker uses it (wfa.adapters.kafka.GroupConsumer)."""

    async def getmany(self, timeout_ms: int, max_records: int | None = None) -> Sequence[Record]: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    async def commit(self, offsets: Mapping[TopicPartition, int]) -> bool: ...


class DeadLetters(Protocol):
    """The dead-letter publisher (wfa.adapters.kafka.KafkaPublisher). Raises DependencyUnavailable while the broker
    is down, MessageRejected when it refuses the message for good; `truncate` asks for a copy small enough to fit."""

    async def publish_dead_letter(
        self,
        raw_value: bytes | None,
        raw_key: bytes | None,
        reason: str,
        original_headers: Iterable[tuple[str, bytes | None]] | None = None,
        *,
        source_topic: str | None = None,
        source_partition: int | None = None,
        source_offset: int | None = None,
        truncate: bool = False,
    ) -> None: ...


class DeadLetterOutcome(StrEnum):
    DEAD_LETTERED = "dead_lettered"
    TRUNCATED = "truncated"
    SKIPPED = "skipped"


class InvalidRecord(Exception):
    """A record that can never become an ExecutionRequest; the message says why."""


def parse_request(record: Record) -> ExecutionRequest:
    if record.value is None:
        raise InvalidRecord("the record has no value")
    try:
        return ExecutionRequest.from_json(record.value)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'value'}: {error['msg']}"
            for error in exc.errors(include_url=False)[:5]
        )
        raise InvalidRecord(f"not an ExecutionRequest of schemaVersion 1: {problems}") from exc


class Worker:
    def __init__(
        self,
        source: RecordSource,
        dead_letters: DeadLetters,
        handle: Handler,
        *,
        concurrency: int,
        commit_interval: float = 1.0,
        poll_timeout_ms: int = 200,
        retry_initial: float = 0.5,
        retry_cap: float = 10.0,
        consumer_group: str | None = None,
        metrics: RunnerMetrics | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency is at least 1")
        self._source = source
        self._dead_letters = dead_letters
        self._handle = handle
        self._concurrency = concurrency
        self._commit_interval = commit_interval
        self._poll_timeout_ms = poll_timeout_ms
        self._backoff = Backoff(initial=retry_initial, cap=retry_cap)
        self._consumer_group = consumer_group
        self._metrics = metrics or RunnerMetrics.private()
        self._tracer = tracer or default_tracer()
        self._offsets: OffsetTracker[TopicPartition] = OffsetTracker()
        self._tasks: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._paused = False
        self._last_commit = time.monotonic()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def stop(self) -> None:
        """Stop fetching; `run` returns once what runs has finished (or its grace ran out)."""
        self._stopping.set()

    async def run(self, *, grace: float) -> None:
        """Fetch and run records until `stop()`, then give what runs `grace` seconds and commit what finished."""
        self._last_commit = time.monotonic()
        while not self._stopping.is_set():
            try:
                records = await until_done(
                    self._fetch,
                    retry_on=Exception,
                    delays=self._backoff,
                    give_up=self._stopping.is_set,
                    on_retry=self._fetch_failed,
                    sleep=self._pause_then_commit,
                )
            except Exception:
                break  # every error is retried: one that comes out means it gave up, as the worker is stopping
            for record in records:
                self._start(record)
            await self._commit_if_due()
        await self._finish(grace)
        await self._commit()

    def _fetch_failed(self, error: Exception, wait: float) -> None:
        log.warning("runner.fetch_failed", retry_in_s=round(wait, 3), error=str(error) or repr(error))

    async def _pause_then_commit(self, seconds: float) -> None:
        # Records that finish while fetching fails are committed all the same.
        await self._pause_for(seconds)
        await self._commit_if_due()

    async def _commit_if_due(self) -> None:
        if time.monotonic() - self._last_commit >= self._commit_interval:
            await self._commit()
            self._last_commit = time.monotonic()

    async def _fetch(self) -> Sequence[Record]:
        free = self._concurrency - len(self._tasks)
        if free > 0:
            if self._paused:
                self._source.resume()
                self._paused = False
            return await self._source.getmany(self._poll_timeout_ms, max_records=free)
        # Paused on every turn: partitions assigned since the last turn start unpaused.
        self._source.pause()
        self._paused = True
        self._slot_freed.clear()
        try:
            async with asyncio.timeout(self._poll_timeout_ms / 1000):
                await self._slot_freed.wait()
        except TimeoutError:
            pass
        # Returns nothing from paused partitions, and counts as the poll that keeps this member in the group.
        return await self._source.getmany(0, max_records=1)

    def _start(self, record: Record) -> None:
        partition = TopicPartition(record.topic, record.partition)
        self._offsets.started(partition, record.offset)
        task = asyncio.create_task(self._process(record, partition), name=f"record {partition}@{record.offset}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slot_freed.set()

    async def _process(self, record: Record, partition: TopicPartition) -> None:
        bound = log.bind(topic=record.topic, partition=record.partition, offset=record.offset)
        try:
            request = parse_request(record)
        except InvalidRecord as exc:
            done = await self._dead_letter(record, str(exc), bound)
        else:
            # Bound here too (the execution runner binds them for its own lines): the worker's lines about this
            # request (deferred, crashed) then carry them as well.
            with (
                structlog.contextvars.bound_contextvars(
                    workflow_id=request.workflow_id, execution_id=request.execution_id, attempt=request.attempt
                ),
                self._tracer.start_as_current_span(
                    f"process {record.topic}",
                    context=context_from_headers(record.headers),
                    kind=SpanKind.CONSUMER,
                    attributes=self._span_attributes(record, request),
                ),
                self._metrics.in_flight.track_inprogress(),
            ):
                done = await self._run(request, bound)
        if done:
            self._offsets.finished(partition, record.offset)

    def _span_attributes(self, record: Record, request: ExecutionRequest) -> dict[str, AttributeValue]:
        attributes: dict[str, AttributeValue] = {
            Attributes.MESSAGING_SYSTEM: "kafka",
            Attributes.MESSAGING_OPERATION_NAME: "process",
            Attributes.MESSAGING_OPERATION_TYPE: "process",
            Attributes.MESSAGING_DESTINATION: record.topic,
            Attributes.MESSAGING_PARTITION: str(record.partition),
            Attributes.MESSAGING_KAFKA_OFFSET: record.offset,
            Attributes.MESSAGING_KAFKA_KEY: request.workflow_id,
            Attributes.WORKFLOW_ID: request.workflow_id,
            Attributes.EXECUTION_ID: request.execution_id,
            Attributes.ATTEMPT: request.attempt,
        }
        if self._consumer_group is not None:
            attributes[Attributes.MESSAGING_CONSUMER_GROUP] = self._consumer_group
        return attributes

    async def _run(self, request: ExecutionRequest, bound: structlog.stdlib.BoundLogger) -> bool:
        """Run the request, retrying while a dependency is down. False when stopped before it could run."""
        try:
            return await self._until_done(
                lambda: self._handle(request), bound, "runner.request_deferred", execution_id=request.execution_id
            )
        except Exception:
            # A bug, not an outage: retrying would fail the same way and hold the partition's commits back
            # forever. The execution, if it was claimed, is taken over by the repair sweep after its lease.
            bound.exception("runner.request_crashed", execution_id=request.execution_id)
            return True

    async def _dead_letter(self, record: Record, reason: str, bound: structlog.stdlib.BoundLogger) -> bool:
        """Dead-letter the record as it is, else a truncated copy, else skip it: every path ends in a commit, so
        no record holds its partition back for good. False only when stopped while Kafka was down."""
        size = len(record.value or b"")
        for truncate, outcome in ((False, DeadLetterOutcome.DEAD_LETTERED), (True, DeadLetterOutcome.TRUNCATED)):
            try:
                done = await self._until_done(
                    partial(
                        self._dead_letters.publish_dead_letter,
                        record.value,
                        record.key,
                        reason,
                        record.headers,
                        source_topic=record.topic,
                        source_partition=record.partition,
                        source_offset=record.offset,
                        truncate=truncate,
                    ),
                    bound,
                    "runner.dead_letter_deferred",
                )
            except Exception as exc:
                # Refused for good (MessageRejected), or a bug: the same bytes would fail the same way forever.
                bound.warning("runner.dead_letter_refused", truncated=truncate, value_bytes=size, error=repr(exc))
                continue
            if done:
                self._metrics.dead_letters.labels(outcome=outcome).inc()
                bound.warning("runner.dead_lettered", reason=reason, truncated=truncate, value_bytes=size)
            return done
        # Nothing of the record could be parked; the log line is all that is left of it.
        self._metrics.dead_letters.labels(outcome=DeadLetterOutcome.SKIPPED).inc()
        bound.error("runner.dead_letter_skipped", reason=reason, value_bytes=size)
        return True

    async def _until_done(
        self,
        call: Callable[[], Awaitable[object]],
        bound: structlog.stdlib.BoundLogger,
        deferred_event: str,
        **fields: object,
    ) -> bool:
        """Await `call` until it succeeds, backing off while a dependency is down. False when stopped first."""

        def deferred(error: Exception, wait: float) -> None:
            bound.warning(deferred_event, retry_in_s=round(wait, 3), error=str(error), **fields)

        try:
            await until_done(
                call,
                retry_on=DependencyUnavailable,
                delays=self._backoff,
                give_up=self._stopping.is_set,
                on_retry=deferred,
                sleep=self._pause_for,
            )
        except DependencyUnavailable:
            return False  # an outage is retried, so one that comes out means it gave up: the worker is stopping
        return True

    async def _pause_for(self, seconds: float) -> None:
        """Sleep `seconds`, or less if stopped first."""
        with suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stopping.wait()

    async def _finish(self, grace: float) -> None:
        if not self._tasks:
            return
        log.info("runner.draining", in_flight=len(self._tasks), grace_s=grace)
        _, late = await asyncio.wait(set(self._tasks), timeout=grace)
        if late:
            # Their executions stay claimed until the lease runs out; the scheduler's stall sweep then sends
            # them again, and the records, not committed, are read again by whoever owns the partitions.
            log.warning("runner.grace_exceeded", cancelled=len(late))
            for task in late:
                task.cancel()
            await asyncio.wait(late)

    async def _commit(self) -> None:
        offsets = self._offsets.committable()
        if not offsets:
            return
        try:
            await self._source.commit(offsets)
        except DependencyUnavailable as exc:
            log.warning("runner.commit_failed", error=str(exc))
            return
        # Partitions that moved away in a rebalance are skipped by the consumer; their new owner reads from the
        # last commit and the claim turns the repeats into no-ops, so they count as settled here too.
        self._offsets.committed(offsets)
