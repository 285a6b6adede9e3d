"""Watching the `execution-events` topic: when did each execution's final event reach a client?

The throughput and cost scenarios wait for executions this way instead of polling the API, so that waiting
adds no request (and no MongoDB command) to what is measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Collection
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.api import BenchError

#: Event types after which an execution changes no more (contract: Kafka, execution-events).
FINAL_EVENT_TYPES = frozenset({"execution.succeeded", "execution.failed", "execution.cancelled"})

_FETCH_MAX_WAIT_MS = 20  # Tansu answers a waiting fetch only when this runs out: it is the watcher's delay


@dataclass(frozen=True)
class FinalEvent:
    execution_id: str
    type: str
    seen_at: float  # time.monotonic() when the watcher read it


def final_event_of(raw: bytes | None) -> tuple[str, str] | None:
    """`(executionId, type)` of a lifecycle event that ends its execution; None for any other or unreadable message."""
    if raw is None:
        return None
    try:
        event = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    event_type, execution_id = event.get("type"), event.get("executionId")
    if event_type in FINAL_EVENT_TYPES and isinstance(execution_id, str):
        return execution_id, str(event_type)
    return None


class FinalEventWatcher:
    """Reads every partition of `topic` from the beginning (no consumer group, nothing committed) and records
    the first final event of each execution."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self._bootstrap = bootstrap
        self._seen: dict[str, FinalEvent] = {}
        self._changed = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=_FETCH_MAX_WAIT_MS,
            client_id="wfa-bench",
        )
        await consumer.start()
        self._consumer = consumer
        partitions = await self._partitions(consumer, timeout)
        consumer.assign([TopicPartition(self.topic, partition) for partition in sorted(partitions)])
        await consumer.seek_to_beginning()
        self._task = asyncio.create_task(self._read(consumer), name="bench-event-watcher")

    async def _partitions(self, consumer: AIOKafkaConsumer, timeout: float) -> set[int]:  # noqa: ASYNC109
        # The runner creates the topic at start-up; ask until the metadata shows it.
        deadline = time.monotonic() + timeout
        while True:
            await consumer.topics()
            partitions = consumer.partitions_for_topic(self.topic)
            if partitions:
                return set(partitions)
            if time.monotonic() >= deadline:
                raise BenchError(f"topic {self.topic} does not exist after {timeout:.0f}s")
            await asyncio.sleep(0.2)

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=1_000)
            now = time.monotonic()
            for records in batches.values():
                for record in records:
                    final = final_event_of(record.value)
                    if final is not None and final[0] not in self._seen:
                        self._seen[final[0]] = FinalEvent(final[0], final[1], now)
                        self._changed.set()

    def finals(self) -> list[FinalEvent]:
        """Every final event read so far, one per execution."""
        return list(self._seen.values())

    async def wait_for(self, execution_ids: Collection[str], timeout: float) -> dict[str, FinalEvent]:  # noqa: ASYNC109
        """The final events of all `execution_ids` once each has been seen; BenchError after `timeout` seconds
        (naming how many are missing) or if the watcher stopped."""
        wanted = set(execution_ids)
        deadline = time.monotonic() + timeout
        while not wanted <= self._seen.keys():
            if self._task is not None and self._task.done():
                raise BenchError(f"the event watcher stopped: {self._task.exception()!r}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                missing = sorted(wanted - self._seen.keys())
                raise BenchError(
                    f"{len(missing)} of {len(wanted)} executions not finished within {timeout:.0f}s "
                    f"(no final event on {self.topic}); first missing: {missing[:5]}"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=min(remaining, 1.0))
        return {execution_id: self._seen[execution_id] for execution_id in wanted}

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()
