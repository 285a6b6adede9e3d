"""The Kafka consumer loop on a fake consumer: concurrency, contiguous commits, dead letters, outages, shutdown."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pytest
from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry
from tests.unit.runner.fakes import START, eventually

from wfa.domain.errors import DependencyUnavailable, MessageRejected
from wfa.domain.execution import Reason
from wfa.events import ExecutionRequest
from wfa_runner.metrics import RunnerMetrics
from wfa_runner.worker import InvalidRecord, Worker, parse_request

TOPIC = "t.execution-requests"
P0 = TopicPartition(TOPIC, 0)


def request_bytes(execution_id: str) -> bytes:
    return ExecutionRequest(
        execution_id=execution_id,
        workflow_id="w",
        workflow_version=1,
        attempt=1,
        reason=Reason.MANUAL,
        requested_at=START,
    ).to_json()


@dataclass
class FakeRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = ()


@dataclass
class FakeConsumer:
    """A group consumer holding partitions of TOPIC, fed by the test."""

    queue: deque[FakeRecord] = field(default_factory=deque)
    committed: dict[TopicPartition, int] = field(default_factory=dict)
    next_offsets: dict[int, int] = field(default_factory=dict)
    paused: bool = False
    was_paused: bool = False
    failing_fetches: int = 0

    def add(self, value: bytes | None, *, partition: int = 0, headers: Sequence[tuple[str, bytes]] = ()) -> int:
        offset = self.next_offsets.get(partition, 0)
        self.next_offsets[partition] = offset + 1
        self.queue.append(FakeRecord(TOPIC, partition, offset, b"w", value, headers))
        return offset

    async def getmany(self, timeout_ms: int, max_records: int | None = None) -> Sequence[FakeRecord]:
        if self.failing_fetches:
            self.failing_fetches -= 1
            raise DependencyUnavailable("kafka", "test broker is down")
        if self.paused or not self.queue:
            await asyncio.sleep(0.001)  # a broker's fetch wait, kept short
            return []
        batch: list[FakeRecord] = []
        while self.queue and len(batch) < (max_records or 100):
            batch.append(self.queue.popleft())
        return batch

    def pause(self) -> None:
        self.paused = self.was_paused = True

    def resume(self) -> None:
        self.paused = False

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> bool:
        self.committed.update(offsets)
        return True


@dataclass
class FakeDeadLetters:
    """Takes dead letters; rejects for good (as a broker does a message too large) a value over `max_value_bytes`
    and, with `rejects_truncated`, even the truncated copy; `failure` is what a rejection raises."""

    sent: list[dict[str, object]] = field(default_factory=list)
    down: bool = False
    attempts: int = 0
    max_value_bytes: int | None = None
    rejects_truncated: bool = False
    failure: Exception = field(default_factory=lambda: MessageRejected("kafka", "test: the message is too large"))

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
        self.attempts += 1
        if self.down:
            raise DependencyUnavailable("kafka", "test broker is down")
        too_large = self.max_value_bytes is not None and len(raw_value or b"") > self.max_value_bytes
        if (truncate and self.rejects_truncated) or (not truncate and too_large):
            raise self.failure
        self.sent.append(
            {
                "value": raw_value,
                "key": raw_key,
                "reason": reason,
                "headers": list(original_headers or ()),
                "source": (source_topic, source_partition, source_offset),
                "truncated": truncate,
            }
        )


class FakeHandler:
    """Runs requests: records them, may hold them at a gate, may fail while `down`."""

    def __init__(self) -> None:
        self.done: list[str] = []
        self.running: set[str] = set()
        self.most_at_once = 0
        self.gates: dict[str, asyncio.Event] = {}
        self.held = False
        self.down = False
        self.attempts: list[str] = []
        self.cancelled: list[str] = []

    def gate(self, execution_id: str) -> asyncio.Event:
        return self.gates.setdefault(execution_id, asyncio.Event())

    async def __call__(self, request: ExecutionRequest) -> None:
        execution_id = request.execution_id
        self.attempts.append(execution_id)
        if self.down:
            raise DependencyUnavailable("mongodb", "test database is down")
        if execution_id == "crash":
            raise RuntimeError("a bug")
        self.running.add(execution_id)
        self.most_at_once = max(self.most_at_once, len(self.running))
        try:
            if self.held:
                await self.gate(execution_id).wait()
        except asyncio.CancelledError:
            self.cancelled.append(execution_id)
            raise
        finally:
            self.running.discard(execution_id)
        self.done.append(execution_id)


@dataclass
class Running:
    worker: Worker
    consumer: FakeConsumer
    dead_letters: FakeDeadLetters
    handler: FakeHandler
    registry: CollectorRegistry
    task: asyncio.Task[None] | None = None

    def dead_letters_counted(self, outcome: str) -> float:
        return self.registry.get_sample_value("wfa_dead_letters_total", {"outcome": outcome}) or 0.0

    def start(self, grace: float = 5.0) -> None:
        self.task = asyncio.create_task(self.worker.run(grace=grace))

    async def stop(self) -> None:
        self.worker.stop()
        assert self.task is not None
        await asyncio.wait_for(self.task, 10.0)


def make(concurrency: int = 4) -> Running:
    consumer, dead_letters, handler = FakeConsumer(), FakeDeadLetters(), FakeHandler()
    registry = CollectorRegistry()
    worker = Worker(
        consumer,
        dead_letters,
        handler,
        concurrency=concurrency,
        commit_interval=0.0,
        poll_timeout_ms=5,
        retry_initial=0.001,
        retry_cap=0.005,
        metrics=RunnerMetrics(registry),
    )
    return Running(worker, consumer, dead_letters, handler, registry)


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    setup = make()
    setup.start()
    try:
        yield setup
    finally:
        setup.handler.held = False
        for gate in setup.handler.gates.values():
            gate.set()
        await setup.stop()


async def test_requests_are_run_and_committed(running: Running) -> None:
    running.consumer.add(request_bytes("e1"))
    running.consumer.add(request_bytes("e2"))

    await eventually(lambda: running.consumer.committed.get(P0) == 2, "offset 2 committed")

    assert sorted(running.handler.done) == ["e1", "e2"]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{not json", "not an ExecutionRequest of schemaVersion 1: value: Invalid JSON"),
        (None, "the record has no value"),
        (b'{"schemaVersion": 2, "executionId": "e"}', "not an ExecutionRequest of schemaVersion 1: schemaVersion"),
    ],
    ids=["bad-json", "no-value", "wrong-schema"],
)
async def test_an_unparseable_record_is_dead_lettered_and_the_next_one_still_runs(
    running: Running, value: bytes | None, reason: str
) -> None:
    running.consumer.add(value, headers=[("traceparent", b"00-abc-def-01")])
    running.consumer.add(request_bytes("after"))

    await eventually(lambda: running.consumer.committed.get(P0) == 2, "offset 2 committed")

    assert running.handler.done == ["after"]
    [letter] = running.dead_letters.sent
    assert str(letter["reason"]).startswith(reason)
    assert letter["value"] == value and letter["key"] == b"w"
    assert letter["source"] == (TOPIC, 0, 0)
    assert letter["headers"] == [("traceparent", b"00-abc-def-01")]


async def test_a_dead_letter_not_yet_acknowledged_holds_the_commit_back(running: Running) -> None:
    running.dead_letters.down = True
    running.consumer.add(b"garbage")
    running.consumer.add(request_bytes("after"))
    await eventually(lambda: running.dead_letters.attempts >= 3 and running.handler.done == ["after"], "retries")

    assert P0 not in running.consumer.committed

    running.dead_letters.down = False
    await eventually(lambda: running.consumer.committed.get(P0) == 2, "offset 2 committed")
    assert len(running.dead_letters.sent) == 1


@pytest.mark.parametrize(
    "failure",
    [MessageRejected("kafka", "test: the message is too large"), RuntimeError("a bug in the publisher")],
    ids=["rejected", "bug"],
)
async def test_a_record_too_large_to_dead_letter_goes_truncated_and_is_committed_past(
    running: Running, failure: Exception
) -> None:
    running.dead_letters.max_value_bytes = 100
    running.dead_letters.failure = failure
    running.consumer.add(b"x" * 1_000)
    running.consumer.add(request_bytes("after"))

    await eventually(lambda: running.consumer.committed.get(P0) == 2, "offset 2 committed")

    assert running.handler.done == ["after"]
    [letter] = running.dead_letters.sent
    assert letter["truncated"] is True
    assert str(letter["reason"]).startswith("not an ExecutionRequest")
    assert letter["source"] == (TOPIC, 0, 0)
    assert running.dead_letters_counted("truncated") == 1
    assert running.dead_letters_counted("dead_lettered") == 0


async def test_a_record_that_cannot_be_dead_lettered_even_truncated_is_skipped_and_committed_past(
    running: Running,
) -> None:
    running.dead_letters.max_value_bytes = 100
    running.dead_letters.rejects_truncated = True
    running.consumer.add(b"x" * 1_000)
    running.consumer.add(request_bytes("after"))

    await eventually(lambda: running.consumer.committed.get(P0) == 2, "offset 2 committed")

    assert running.handler.done == ["after"]
    assert running.dead_letters.sent == []
    assert running.dead_letters.attempts == 2  # the record as it is, then its truncated copy: no retry loop
    assert running.dead_letters_counted("skipped") == 1


async def test_each_dead_letter_is_counted(running: Running) -> None:
    running.consumer.add(b"garbage")
    running.consumer.add(b"more garbage")

    await eventually(lambda: running.consumer.committed.get(P0) == 2, "offset 2 committed")

    assert running.dead_letters_counted("dead_lettered") == 2


async def test_a_request_meeting_a_database_outage_is_retried_and_not_committed_past(running: Running) -> None:
    running.handler.down = True
    running.consumer.add(request_bytes("e1"))
    await eventually(lambda: running.handler.attempts.count("e1") >= 3, "three attempts")

    assert P0 not in running.consumer.committed

    running.handler.down = False
    await eventually(lambda: running.consumer.committed.get(P0) == 1, "offset 1 committed")
    assert running.handler.done == ["e1"]


async def test_a_request_that_crashes_is_committed_past(running: Running) -> None:
    running.consumer.add(request_bytes("crash"))
    running.consumer.add(request_bytes("e2"))

    await eventually(lambda: running.consumer.committed.get(P0) == 2, "offset 2 committed")

    assert running.handler.attempts.count("crash") == 1


async def test_commits_wait_for_the_oldest_running_record(running: Running) -> None:
    running.handler.held = True
    running.consumer.add(request_bytes("slow"))
    running.consumer.add(request_bytes("fast"))
    await eventually(lambda: running.handler.running == {"slow", "fast"}, "both running")

    running.handler.gate("fast").set()
    await eventually(lambda: running.handler.done == ["fast"], "fast done")
    assert P0 not in running.consumer.committed

    running.handler.gate("slow").set()
    await eventually(lambda: running.consumer.committed.get(P0) == 2, "offset 2 committed")


async def test_a_fetch_failure_is_retried() -> None:
    setup = make()
    setup.consumer.failing_fetches = 3
    setup.consumer.add(request_bytes("e1"))
    setup.start()
    try:
        await eventually(lambda: setup.handler.done == ["e1"], "e1 run after the broker came back")
    finally:
        await setup.stop()


async def test_no_more_than_concurrency_requests_run_at_once_and_fetching_pauses() -> None:
    setup = make(concurrency=2)
    setup.handler.held = True
    for n in range(5):
        setup.consumer.add(request_bytes(f"e{n}"))
    setup.start()
    try:
        await eventually(lambda: len(setup.handler.running) == 2, "two running")
        await eventually(lambda: setup.consumer.paused, "partitions paused")

        setup.handler.held = False
        for gate in list(setup.handler.gates.values()):
            gate.set()
        await eventually(lambda: setup.consumer.committed.get(P0) == 5, "all five committed")
    finally:
        await setup.stop()

    assert setup.handler.most_at_once == 2
    assert not setup.consumer.paused


async def test_stop_lets_running_requests_finish_and_commits_them() -> None:
    setup = make()
    setup.handler.held = True
    setup.consumer.add(request_bytes("e1"))
    setup.start()
    await eventually(lambda: setup.handler.running == {"e1"}, "e1 running")

    setup.worker.stop()
    setup.consumer.add(request_bytes("after-stop"))
    setup.handler.gate("e1").set()
    assert setup.task is not None
    await asyncio.wait_for(setup.task, 10.0)

    assert setup.handler.done == ["e1"]
    assert setup.consumer.committed == {P0: 1}


async def test_stop_cancels_what_outlives_the_grace_and_leaves_it_uncommitted() -> None:
    setup = make()
    setup.handler.held = True
    setup.consumer.add(request_bytes("e1"))
    setup.start(grace=0.01)
    await eventually(lambda: setup.handler.running == {"e1"}, "e1 running")

    await setup.stop()

    assert setup.handler.cancelled == ["e1"]
    assert setup.consumer.committed == {}


def test_parse_request_ignores_fields_it_does_not_know() -> None:
    raw = request_bytes("e1")[:-1] + b', "addedLater": true}'

    assert parse_request(FakeRecord(TOPIC, 0, 0, None, raw)).execution_id == "e1"


def test_parse_request_names_what_is_wrong() -> None:
    with pytest.raises(InvalidRecord, match="attempt"):
        parse_request(FakeRecord(TOPIC, 0, 0, None, request_bytes("e1").replace(b'"attempt":1', b'"attempt":0')))
