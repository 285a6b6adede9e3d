"""The Kafka adapters against a real broker: topics, publishing, the group consumer, dead letters, outages.

Each test works under a topic prefix and consumer groups of its own, so tests never see each other's messages.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

from wfa.adapters.kafka import (
    DLQ_REASON,
    DLQ_SOURCE_OFFSET,
    DLQ_SOURCE_PARTITION,
    DLQ_SOURCE_TOPIC,
    DLQ_TRUNCATED,
    GroupConsumer,
    KafkaPublisher,
    context_from_headers,
    ensure_topics,
)
from wfa.adapters.kafka.publisher import TRUNCATED_VALUE_BYTES
from wfa.domain.errors import DependencyUnavailable, MessageRejected
from wfa.domain.execution import Reason
from wfa.events import ExecutionRequest, LifecycleEvent, LifecycleEventType
from wfa.ports.publisher import ExecutionRequestPublisher, LifecycleEventPublisher
from wfa.settings import Settings
from wfa_devstack import EmbeddedKafka, free_port

pytestmark = pytest.mark.integration

# A group join on Tansu takes about half the session timeout, and a killed member is dropped only when its
# session expires: the deadlines below leave room for both, and for a loaded CI machine.
JOIN_DEADLINE = 30.0
RECEIVE_DEADLINE = 30.0


@pytest.fixture
def settings(kafka_bootstrap: str, unique_prefix: str) -> Settings:
    return Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=unique_prefix, kafka_partitions=3)


@pytest.fixture
async def topics(settings: Settings) -> Settings:
    await ensure_topics(settings, [settings.requests_topic, settings.events_topic, settings.dlq_topic])
    return settings


@pytest.fixture
async def publisher(topics: Settings) -> AsyncIterator[KafkaPublisher]:
    publisher = KafkaPublisher(topics)
    await publisher.start()
    try:
        yield publisher
    finally:
        await publisher.stop()


@pytest.fixture
def tracer_provider() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    """A provider of the test's own: spans are created from it directly, never installed globally."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        yield provider, exporter
    finally:
        provider.shutdown()


def request_for(workflow_id: str, execution_id: str = "exec-1") -> ExecutionRequest:
    return ExecutionRequest(
        execution_id=execution_id,
        workflow_id=workflow_id,
        workflow_version=1,
        attempt=1,
        reason=Reason.MANUAL,
        requested_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )


async def started_consumer(settings: Settings, topic: str, group: str) -> GroupConsumer:
    # Group ids are per test too: a member killed by one test must not hold up the joins of the next.
    consumer = GroupConsumer(settings, topic=topic, group_id=settings.topic_prefix + group)
    await consumer.start()
    return consumer


async def receive(consumer: GroupConsumer, count: int, deadline: float = RECEIVE_DEADLINE) -> list[ConsumerRecord]:
    """Poll until `count` records arrived; fail at the deadline with what did."""
    records: list[ConsumerRecord] = []
    give_up = time.monotonic() + deadline
    while len(records) < count:
        assert time.monotonic() < give_up, f"received {len(records)} of {count} records within {deadline:g}s"
        records += await consumer.getmany(timeout_ms=200)
    return records


async def receive_until(consumer: GroupConsumer, last_key: bytes) -> list[ConsumerRecord]:
    """Poll until a record keyed `last_key` arrives; return everything received up to and including it."""
    records: list[ConsumerRecord] = []
    give_up = time.monotonic() + RECEIVE_DEADLINE
    while not any(record.key == last_key for record in records):
        assert time.monotonic() < give_up, f"no record keyed {last_key!r} within {RECEIVE_DEADLINE:g}s"
        records += await consumer.getmany(timeout_ms=200)
    return records


def next_offsets(records: list[ConsumerRecord]) -> dict[TopicPartition, int]:
    offsets: dict[TopicPartition, int] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        offsets[tp] = max(offsets.get(tp, 0), record.offset + 1)
    return offsets


def header(record: ConsumerRecord, name: str) -> bytes | None:
    return next((value for key, value in record.headers if key == name), None)


def produced(topic: str) -> float:
    return REGISTRY.get_sample_value("wfa_kafka_messages_produced_total", {"topic": topic}) or 0.0


async def test_ensure_topics_creates_missing_topics_with_the_configured_partitions(settings: Settings) -> None:
    names = [settings.requests_topic, settings.dlq_topic]

    await ensure_topics(settings, names)
    await ensure_topics(settings, [*names, settings.events_topic])  # again, with one more: no error

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([*names, settings.events_topic])
    finally:
        await admin.close()
    assert {topic["topic"]: len(topic["partitions"]) for topic in described} == {
        settings.requests_topic: 3,
        settings.dlq_topic: 3,
        settings.events_topic: 3,
    }


async def test_ensure_topics_raises_dependency_unavailable_when_the_broker_is_unreachable(settings: Settings) -> None:
    unreachable = settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{free_port()}"})

    with pytest.raises(DependencyUnavailable) as raised:
        await ensure_topics(unreachable, [settings.requests_topic])

    assert raised.value.dependency == "kafka"


async def test_published_request_round_trips_keyed_by_workflow_with_trace_context(
    topics: Settings,
    publisher: KafkaPublisher,
    tracer_provider: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, _ = tracer_provider
    request = request_for("wf-round-trip")
    before = produced(topics.requests_topic)
    port: ExecutionRequestPublisher = publisher
    with provider.get_tracer("test").start_as_current_span("trigger") as span:
        await port.publish(request)
    consumer = await started_consumer(topics, topics.requests_topic, "runners")
    try:
        (record,) = await receive(consumer, 1)
    finally:
        await consumer.stop()

    assert record.key == b"wf-round-trip"
    assert ExecutionRequest.from_json(record.value) == request
    traceparent = header(record, "traceparent")
    assert traceparent is not None
    assert traceparent.decode().split("-")[1] == format(span.get_span_context().trace_id, "032x")
    remote = trace.get_current_span(context_from_headers(record.headers)).get_span_context()
    assert (remote.trace_id, remote.span_id) == (span.get_span_context().trace_id, span.get_span_context().span_id)
    assert produced(topics.requests_topic) == before + 1


async def test_request_published_outside_a_span_has_no_trace_headers(
    topics: Settings, publisher: KafkaPublisher
) -> None:
    await publisher.publish(request_for("wf-untraced"))
    consumer = await started_consumer(topics, topics.requests_topic, "runners")
    try:
        (record,) = await receive(consumer, 1)
    finally:
        await consumer.stop()

    assert header(record, "traceparent") is None
    assert not trace.get_current_span(context_from_headers(record.headers)).get_span_context().is_valid


async def test_lifecycle_event_is_published_keyed_by_workflow(topics: Settings, publisher: KafkaPublisher) -> None:
    event = LifecycleEvent(
        type=LifecycleEventType.EXECUTION_SUCCEEDED,
        execution_id="exec-7",
        workflow_id="wf-events",
        attempt=1,
        status="succeeded",
        occurred_at=datetime(2026, 1, 2, tzinfo=UTC),
    )

    port: LifecycleEventPublisher = publisher
    await port.publish_event(event)
    consumer = await started_consumer(topics, topics.events_topic, "event-readers")
    try:
        (record,) = await receive(consumer, 1)
    finally:
        await consumer.stop()

    assert record.key == b"wf-events"
    assert LifecycleEvent.model_validate_json(record.value) == event


async def test_committed_messages_are_not_delivered_again_to_the_group(
    topics: Settings, publisher: KafkaPublisher
) -> None:
    for n in range(3):
        await publisher.publish(request_for(f"wf-committed-{n}"))
    first = await started_consumer(topics, topics.requests_topic, "runners")
    try:
        records = await receive(first, 3)
        assert await first.commit(next_offsets(records))
    finally:
        await first.stop()

    await publisher.publish(request_for("wf-after-commit"))
    second = await started_consumer(topics, topics.requests_topic, "runners")
    try:
        seen = await receive_until(second, b"wf-after-commit")
    finally:
        await second.stop()

    assert [record.key for record in seen] == [b"wf-after-commit"]


async def test_uncommitted_message_is_redelivered_to_a_new_member(topics: Settings, publisher: KafkaPublisher) -> None:
    await publisher.publish(request_for("wf-uncommitted"))
    first = await started_consumer(topics, topics.requests_topic, "runners")
    try:
        (taken,) = await receive(first, 1)
    finally:
        await first.stop()

    second = await started_consumer(topics, topics.requests_topic, "runners")
    try:
        (again,) = await receive(second, 1)
    finally:
        await second.stop()

    assert (again.key, again.partition, again.offset) == (taken.key, taken.partition, taken.offset)


async def test_commit_skips_partitions_the_member_does_not_hold(topics: Settings) -> None:
    consumer = await started_consumer(topics, topics.requests_topic, "runners")
    try:
        assert await consumer.wait_assigned(JOIN_DEADLINE)
        foreign = {TopicPartition("some-other-topic", 0): 5}

        committed = await consumer.commit(foreign)
    finally:
        await consumer.stop()

    assert committed is False


async def test_a_stopped_member_leaves_the_group_at_once(topics: Settings) -> None:
    """The next member need not wait for the stopped one's session to expire (on Tansu that takes an explicit
    LeaveGroup in generation 0, which aiokafka alone does not send)."""
    first = await started_consumer(topics, topics.requests_topic, "runners")
    try:
        assert await first.wait_assigned(JOIN_DEADLINE)
    finally:
        await first.stop()

    started = time.monotonic()
    second = await started_consumer(topics, topics.requests_topic, "runners")
    try:
        assert await second.wait_assigned(JOIN_DEADLINE)
        elapsed = time.monotonic() - started
    finally:
        await second.stop()

    assert elapsed < topics.kafka_session_timeout_ms / 1000


async def test_uncommitted_message_of_a_killed_member_reaches_the_survivor(
    topics: Settings, publisher: KafkaPublisher
) -> None:
    """A runner killed mid-work (SIGKILL: no LeaveGroup, no commit) loses its partitions to the rest of the group
    once its session expires, and the message it held is delivered again."""
    survivor = await started_consumer(topics, topics.requests_topic, "runners")
    victim = _spawn_member(topics, topics.requests_topic, topics.topic_prefix + "runners")
    try:
        assert await survivor.wait_assigned(JOIN_DEADLINE)
        victim_partitions = json.loads((await _wait_for_line(victim, "ASSIGNED")).removeprefix("ASSIGNED"))
        await _wait_for(
            lambda: (
                {tp.partition for tp in survivor.assignment}
                == set(range(topics.kafka_partitions)) - set(victim_partitions)
            ),
            "the group to split",
        )
        # Keyed so that it lands on a partition the victim holds.
        key = next(
            f"wf-victim-{n}"
            for n in range(1_000)
            if _partition_of(f"wf-victim-{n}", topics.kafka_partitions) in victim_partitions
        )
        await publisher.publish(request_for(key))
        assert f"GOT {key}" in await _wait_for_line(victim, "GOT")
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()

        (record,) = await receive(survivor, 1, deadline=JOIN_DEADLINE)
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()
        await survivor.stop()

    assert record.key == key.encode()


async def test_dead_letter_carries_the_payload_the_reason_and_the_source(
    topics: Settings, publisher: KafkaPublisher
) -> None:
    before = produced(topics.dlq_topic)

    await publisher.publish_dead_letter(
        b"{not json",
        b"wf-broken",
        "invalid JSON: expected value at line 1",
        [("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"), (DLQ_REASON, b"stale")],
        source_topic=topics.requests_topic,
        source_partition=2,
        source_offset=41,
    )
    consumer = await started_consumer(topics, topics.dlq_topic, "dlq-readers")
    try:
        (record,) = await receive(consumer, 1)
    finally:
        await consumer.stop()

    assert (record.key, record.value) == (b"wf-broken", b"{not json")
    headers = dict(record.headers)
    assert [key for key, _ in record.headers].count(DLQ_REASON) == 1
    assert headers[DLQ_REASON] == b"invalid JSON: expected value at line 1"
    assert headers[DLQ_SOURCE_TOPIC] == topics.requests_topic.encode()
    assert (headers[DLQ_SOURCE_PARTITION], headers[DLQ_SOURCE_OFFSET]) == (b"2", b"41")
    assert headers["traceparent"].startswith(b"00-0af7651916cd43dd8448eb211c80319c")
    assert produced(topics.dlq_topic) == before + 1


async def test_wait_assigned_becomes_true_once_the_group_assigns_every_partition(topics: Settings) -> None:
    consumer = await started_consumer(topics, topics.requests_topic, "runners")
    try:
        assigned = await consumer.wait_assigned(JOIN_DEADLINE)

        assert assigned and consumer.assigned
        assert consumer.assignment == {
            TopicPartition(topics.requests_topic, partition) for partition in range(topics.kafka_partitions)
        }
    finally:
        await consumer.stop()


async def test_ping_succeeds_while_the_broker_answers(topics: Settings, publisher: KafkaPublisher) -> None:
    consumer = await started_consumer(topics, topics.requests_topic, "runners")
    try:
        await publisher.ping()
        await consumer.ping()
    finally:
        await consumer.stop()


async def test_publish_to_a_closed_port_raises_dependency_unavailable_within_the_bound(settings: Settings) -> None:
    unreachable = settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{free_port()}"})
    publisher = KafkaPublisher(unreachable)
    await publisher.start()  # logs, does not raise: the service starts and reports itself not ready
    try:
        started = time.monotonic()
        with pytest.raises(DependencyUnavailable) as raised:
            await publisher.publish(request_for("wf-nowhere"))
        elapsed = time.monotonic() - started

        with pytest.raises(DependencyUnavailable):
            await publisher.ping()
    finally:
        await publisher.stop()

    assert raised.value.dependency == "kafka"
    assert elapsed < unreachable.kafka_request_timeout_ms / 1000 + 1


async def test_publish_to_a_broker_that_never_answers_gives_up_within_the_bound(settings: Settings) -> None:
    """A port that accepts connections and then says nothing, like a hung broker: the bound is ours, not the
    operating system's."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        hung = settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{port}", "kafka_request_timeout_ms": 1_000})
        publisher = KafkaPublisher(hung)
        await publisher.start()
        try:
            started = time.monotonic()
            with pytest.raises(DependencyUnavailable):
                await publisher.publish(request_for("wf-hung"))
            elapsed = time.monotonic() - started
        finally:
            await publisher.stop()

    assert elapsed < 2.0


async def test_consumer_start_against_a_closed_port_raises_dependency_unavailable(settings: Settings) -> None:
    unreachable = settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{free_port()}"})
    consumer = GroupConsumer(unreachable, topic=settings.requests_topic, group_id=settings.topic_prefix + "runners")

    with pytest.raises(DependencyUnavailable):
        await consumer.start()

    assert not consumer.assigned


async def test_publisher_fails_fast_while_the_broker_is_down_and_recovers_when_it_returns(
    settings: Settings, tmp_path: Path
) -> None:
    """A broker of the test's own, stopped and started again on the same port (memory storage: it comes back
    empty): the publisher creates its topics again by itself. The events topic proves it: nothing is published
    there, and it has the configured partitions, not the default of Tansu's auto-creation (4)."""
    port = free_port()
    broker = EmbeddedKafka(port, tmp_path / "kafka.log", die_with_parent=True)
    own = settings.model_copy(update={"kafka_bootstrap": broker.bootstrap, "kafka_request_timeout_ms": 2_000})
    await asyncio.to_thread(broker.start)
    publisher = KafkaPublisher(own, topics=[own.requests_topic, own.events_topic])
    try:
        await ensure_topics(own, publisher.topics)
        await publisher.start()
        await publisher.publish(request_for("wf-before"))

        await asyncio.to_thread(broker.stop)
        started = time.monotonic()
        with pytest.raises(DependencyUnavailable):
            await publisher.publish(request_for("wf-while-down"))
        elapsed_down = time.monotonic() - started
        with pytest.raises(DependencyUnavailable):
            await publisher.ping()

        broker = EmbeddedKafka(port, tmp_path / "kafka.log", die_with_parent=True)
        await asyncio.to_thread(broker.start)
        await _eventually(lambda: publisher.publish(request_for("wf-after")), "a publish after the restart")
        await publisher.ping()
        partitions = await _partition_counts(own.kafka_bootstrap, publisher.topics)
    finally:
        await publisher.stop()
        await asyncio.to_thread(broker.stop)

    assert elapsed_down < own.kafka_request_timeout_ms / 1000 + 1
    assert own.requests_topic in partitions
    assert partitions[own.events_topic] == own.kafka_partitions


async def _partition_counts(bootstrap: str, topics: tuple[str, ...]) -> dict[str, int]:
    """Partitions per existing topic among `topics`."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    return {topic["topic"]: len(topic["partitions"]) for topic in described if topic["error_code"] == 0}


async def test_lifecycle_event_to_an_unreachable_broker_is_dropped_without_raising(settings: Settings) -> None:
    publisher = KafkaPublisher(settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{free_port()}"}))
    event = LifecycleEvent(
        type=LifecycleEventType.EXECUTION_STARTED,
        execution_id="exec-1",
        workflow_id="wf-lost-event",
        attempt=1,
        status="running",
        occurred_at=datetime(2026, 1, 2, tzinfo=UTC),
    )
    try:
        await publisher.publish_event(event)
    finally:
        await publisher.stop()


# A group member in a process of its own, so that it can be killed without a chance to leave the group.
_MEMBER = textwrap.dedent(
    """
    import asyncio, json, sys
    from wfa.adapters.kafka import GroupConsumer
    from wfa.settings import Settings

    async def main() -> None:
        bootstrap, topic, group, partitions = sys.argv[1:5]
        settings = Settings(kafka_bootstrap=bootstrap, kafka_partitions=int(partitions))
        consumer = GroupConsumer(settings, topic=topic, group_id=group, client_id="victim")
        await consumer.start()
        await consumer.wait_assigned(60)
        print("ASSIGNED", json.dumps(sorted(tp.partition for tp in consumer.assignment)), flush=True)
        while True:
            for record in await consumer.getmany(timeout_ms=200):
                print("GOT", record.key.decode(), flush=True)

    asyncio.run(main())
    """
)


def _spawn_member(settings: Settings, topic: str, group_id: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _MEMBER, settings.kafka_bootstrap, topic, group_id, str(settings.kafka_partitions)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


async def _wait_for_line(process: subprocess.Popen[str], prefix: str) -> str:
    assert process.stdout is not None
    stdout = process.stdout
    give_up = time.monotonic() + JOIN_DEADLINE
    while True:
        line = await asyncio.wait_for(asyncio.to_thread(stdout.readline), max(0.1, give_up - time.monotonic()))
        assert line, f"the member process exited before printing {prefix!r}"
        if line.startswith(prefix):
            return line


async def _wait_for(condition: Callable[[], bool], what: str) -> None:
    give_up = time.monotonic() + JOIN_DEADLINE
    while not condition():
        assert time.monotonic() < give_up, f"{what} did not happen within {JOIN_DEADLINE:g}s"
        await asyncio.sleep(0.05)


async def _eventually(attempt: Callable[[], Awaitable[None]], what: str) -> None:
    """Retry `attempt` while it raises DependencyUnavailable, until it succeeds or the deadline passes."""
    give_up = time.monotonic() + RECEIVE_DEADLINE
    while True:
        try:
            await attempt()
            return
        except DependencyUnavailable:
            assert time.monotonic() < give_up, f"{what} kept failing for {RECEIVE_DEADLINE:g}s"
            await asyncio.sleep(0.2)


def _partition_of(key: str, partitions: int) -> int:
    """The partition aiokafka's default partitioner picks for `key` (murmur2, as the Java client does)."""
    from aiokafka.partitioner import murmur2

    hashed: int = murmur2(key.encode())
    return (hashed & 0x7FFFFFFF) % partitions


async def test_a_dead_letter_too_large_is_rejected_for_good_and_its_truncated_copy_fits(
    topics: Settings, publisher: KafkaPublisher
) -> None:
    # Over aiokafka's max_request_size (1 MiB), the limit this producer meets first: Tansu itself takes far more.
    value = b"x" * (2 * 1024 * 1024)

    async def dead_letter(*, truncate: bool) -> None:
        await publisher.publish_dead_letter(
            value, b"k", "too big", [("h", b"v")], source_topic="t", source_offset=7, truncate=truncate
        )

    with pytest.raises(MessageRejected):
        await dead_letter(truncate=False)
    await dead_letter(truncate=True)

    consumer = await started_consumer(topics, topics.dlq_topic, "dlq-truncated-readers")
    try:
        (record,) = await receive(consumer, 1)
    finally:
        await consumer.stop()
    headers = dict(record.headers)
    assert (record.key, record.value) == (b"k", value[:TRUNCATED_VALUE_BYTES])
    assert headers[DLQ_TRUNCATED] == str(len(value)).encode()
    assert headers[DLQ_REASON] == b"too big"
    assert headers[DLQ_SOURCE_OFFSET] == b"7"
    assert "h" not in headers
