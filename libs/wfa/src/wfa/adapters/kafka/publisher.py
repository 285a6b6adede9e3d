"""Publishing to Kafka: execution requests, lifecycle events and dead letters, through one producer.

Delivery is acks=all without idempotence or transactions: Tansu (the embedded broker) rejects InitProducerId,
and the design does not need them, since the runner tolerates a duplicated request (an execution record is
claimed once; an action that succeeded is never run again).

Each request and event is sent inside a PRODUCER span (`send <topic>`, OpenTelemetry's messaging conventions),
whose context travels in the record's `traceparent` header: the runner's spans become its children.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata
from opentelemetry.trace import Span, SpanKind, Tracer

from wfa.adapters.kafka.errors import KAFKA, kafka_call
from wfa.adapters.kafka.headers import Headers, trace_headers
from wfa.adapters.kafka.metrics import MESSAGES_PRODUCED
from wfa.adapters.kafka.topics import ensure_topics
from wfa.domain.errors import DependencyUnavailable
from wfa.events import Event, ExecutionRequest, LifecycleEvent
from wfa.observability.tracing import Attributes, default_tracer
from wfa.settings import Settings

log = structlog.get_logger(__name__)

DLQ_REASON = "wfa-dlq-reason"
DLQ_SOURCE_TOPIC = "wfa-dlq-source-topic"
DLQ_SOURCE_PARTITION = "wfa-dlq-source-partition"
DLQ_SOURCE_OFFSET = "wfa-dlq-source-offset"
DLQ_TRUNCATED = "wfa-dlq-truncated"
_DLQ_HEADERS = frozenset({DLQ_REASON, DLQ_SOURCE_TOPIC, DLQ_SOURCE_PARTITION, DLQ_SOURCE_OFFSET, DLQ_TRUNCATED})
# A pydantic error for a large garbage payload can be long; a header is not the place for all of it.
_MAX_REASON_BYTES = 4_096
# A truncated dead letter: enough of the record to see what it was, far below any broker's or producer's limit
# (Kafka's smallest default, message.max.bytes, is about 1 MiB).
TRUNCATED_VALUE_BYTES = 64 * 1024
_TRUNCATED_KEY_BYTES = 1_024


class KafkaPublisher:
    """Implements ExecutionRequestPublisher and LifecycleEventPublisher.

    The producer connects lazily: `start()` tries once and only logs when the broker is down, so that a service
    can start (and report itself not ready) without Kafka; each publish or ping connects if needed. Every
    publish is bounded by `kafka_request_timeout_ms`, so an API call never hangs on a dead broker.

    `topics` are the topics this process publishes to. After the broker failed to answer (a publish or a ping),
    the next publish first creates those that are missing: a broker that comes back without its topics (Tansu
    keeps them in memory; a rebuilt cluster) gets them again with the configured partitions, instead of
    whatever broker-side auto-creation picks, or, where that is off, never.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        client_id: str | None = None,
        topics: Sequence[str] = (),
        tracer: Tracer | None = None,
    ) -> None:
        self._settings = settings
        self._client_id = client_id or settings.kafka_client_id
        self._tracer = tracer or default_tracer()
        self.topics = tuple(topics)
        self._recreate_topics = False
        self._ensuring = asyncio.Lock()
        self._timeout = settings.kafka_request_timeout_ms / 1000
        self._producer: AIOKafkaProducer | None = None
        self._connecting = asyncio.Lock()
        self._stopped = False

    async def start(self) -> None:
        self._stopped = False
        try:
            async with kafka_call("connecting the producer", self._timeout):
                await self._connected()
        except DependencyUnavailable as exc:
            log.warning("kafka producer not connected at start-up; will retry on first use", error=str(exc))

    async def stop(self) -> None:
        """Flush what is in flight (within the publish bound) and close the connections."""
        self._stopped = True
        async with self._connecting:
            producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await asyncio.wait_for(producer.stop(), self._timeout)
            except TimeoutError:
                log.warning("kafka producer did not flush within the bound; unsent messages dropped")

    async def ping(self) -> None:
        """Return when the cluster answers a metadata request; raise DependencyUnavailable otherwise."""
        try:
            async with kafka_call("ping", self._settings.kafka_ping_timeout_ms / 1000):
                producer = await self._connected()
                await producer.client.fetch_all_metadata()
        except DependencyUnavailable:
            self._recreate_topics = bool(self.topics)
            raise

    async def publish(self, request: ExecutionRequest) -> None:
        """Send one request to the runner group, keyed by workflowId so that one workflow's requests stay in
        order on one partition. Raises DependencyUnavailable when Kafka does not acknowledge it in time."""
        topic = self._settings.requests_topic
        with self._producing(topic, request.workflow_id) as span:
            span.set_attribute(Attributes.EXECUTION_ID, request.execution_id)
            span.set_attribute(Attributes.ATTEMPT, request.attempt)
            sent = await self._send(
                topic, key=request.workflow_id.encode(), value=request.to_json(), headers=trace_headers()
            )
            _record_position(span, sent)

    async def publish_event(self, event: Event) -> None:
        """Best effort: a lifecycle event that cannot be delivered is logged and dropped, never raised."""
        topic = self._settings.events_topic
        try:
            with self._producing(topic, event.workflow_id) as span:
                if event.execution_id is not None:
                    span.set_attribute(Attributes.EXECUTION_ID, event.execution_id)
                if isinstance(event, LifecycleEvent):
                    span.set_attribute(Attributes.ATTEMPT, event.attempt)
                span.set_attribute(Attributes.EVENT_TYPE, str(event.type))
                sent = await self._send(
                    topic, key=event.workflow_id.encode(), value=event.to_json(), headers=trace_headers()
                )
                _record_position(span, sent)
        except DependencyUnavailable as exc:
            log.warning(
                "lifecycle event dropped",
                event_type=str(event.type),
                execution_id=event.execution_id,
                error=str(exc),
            )
        except Exception:
            # The port promises that a lost event never fails an execution, whatever went wrong.
            log.warning("lifecycle event dropped", event_type=str(event.type), exc_info=True)

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
    ) -> None:
        """Park a message the runner cannot use, byte for byte, with why (header `wfa-dlq-reason`) and where it
        came from. Raises DependencyUnavailable while Kafka is down: the caller must not commit past the message
        unless this succeeded; raises MessageRejected when Kafka refuses it for good (too large, say).

        `truncate` sends a copy that fits instead: the first TRUNCATED_VALUE_BYTES of the value, the first KiB of
        the key, none of the original headers (they may be what is too large), and `wfa-dlq-truncated` set to the
        original value's size in bytes."""
        if truncate:
            headers: Headers = [(DLQ_TRUNCATED, str(len(raw_value or b"")).encode())]
            raw_key = raw_key[:_TRUNCATED_KEY_BYTES] if raw_key is not None else None
            raw_value = raw_value[:TRUNCATED_VALUE_BYTES] if raw_value is not None else None
        else:
            headers = [
                (key, value if value is not None else b"")
                for key, value in (original_headers or ())
                if key not in _DLQ_HEADERS
            ]
        headers.append((DLQ_REASON, reason.encode()[:_MAX_REASON_BYTES]))
        if source_topic is not None:
            headers.append((DLQ_SOURCE_TOPIC, source_topic.encode()))
        if source_partition is not None:
            headers.append((DLQ_SOURCE_PARTITION, str(source_partition).encode()))
        if source_offset is not None:
            headers.append((DLQ_SOURCE_OFFSET, str(source_offset).encode()))
        await self._send(self._settings.dlq_topic, key=raw_key, value=raw_value, headers=headers)

    def _producing(self, topic: str, workflow_id: str) -> AbstractContextManager[Span]:
        return self._tracer.start_as_current_span(
            f"send {topic}",
            kind=SpanKind.PRODUCER,
            attributes={
                Attributes.MESSAGING_SYSTEM: "kafka",
                Attributes.MESSAGING_OPERATION_NAME: "send",
                Attributes.MESSAGING_OPERATION_TYPE: "send",
                Attributes.MESSAGING_DESTINATION: topic,
                Attributes.MESSAGING_CLIENT_ID: self._client_id,
                Attributes.MESSAGING_KAFKA_KEY: workflow_id,
                Attributes.WORKFLOW_ID: workflow_id,
            },
        )

    async def _send(self, topic: str, *, key: bytes | None, value: bytes | None, headers: Headers) -> RecordMetadata:
        # On a timeout the message may still sit in aiokafka's buffer and go out later; that is a duplicate at
        # worst, which every consumer of these topics tolerates.
        try:
            async with kafka_call(f"publishing to {topic}", self._timeout):
                producer = await self._connected()
                if self._recreate_topics:
                    await self._ensure_topics()
                sent = await producer.send_and_wait(topic, value=value, key=key, headers=headers)
        except DependencyUnavailable:
            self._recreate_topics = bool(self.topics)
            raise
        MESSAGES_PRODUCED.labels(topic=topic).inc()
        return sent

    async def _ensure_topics(self) -> None:
        # One at a time: after an outage, every publish waiting to go out would otherwise open an admin client.
        async with self._ensuring:
            if self._recreate_topics:
                await ensure_topics(self._settings, self.topics)
                self._recreate_topics = False

    async def _connected(self) -> AIOKafkaProducer:
        if self._producer is not None:
            return self._producer
        async with self._connecting:
            if self._stopped:
                raise DependencyUnavailable(KAFKA, "the publisher is stopped")
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self._settings.kafka_bootstrap,
                    client_id=self._client_id,
                    acks="all",
                    # Never on: Tansu answers InitProducerId with UnknownError (see the module docstring).
                    enable_idempotence=False,
                    request_timeout_ms=self._settings.kafka_request_timeout_ms,
                    # Each request is one message that someone waits for; batching would only add latency.
                    linger_ms=0,
                )
                try:
                    await producer.start()
                except BaseException:
                    # A producer whose start failed cannot be started again; close its half-open client.
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer


def _record_position(span: Span, sent: RecordMetadata) -> None:
    span.set_attribute(Attributes.MESSAGING_PARTITION, str(sent.partition))
    span.set_attribute(Attributes.MESSAGING_KAFKA_OFFSET, sent.offset)
