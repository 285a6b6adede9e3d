"""A consumer-group member for one topic: manual commits, earliest reset, readiness once assigned.

Group timings (measured on Tansu; see the module's FIGURES section below) decide how long a crashed runner's
partitions sit unread, so session and heartbeat timeouts come from Settings and are tuned for fast recovery.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError

from wfa.adapters.kafka.errors import KAFKA, kafka_call
from wfa.adapters.kafka.metrics import MESSAGES_CONSUMED
from wfa.domain.errors import DependencyUnavailable
from wfa.settings import Settings

log = structlog.get_logger(__name__)


class _AssignmentTracker(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: GroupConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self._owner._assignment = frozenset()
        if revoked:
            log.info("kafka partitions revoked", partitions=_names(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._owner._assignment = frozenset(assigned)
        self._owner._joined.set()
        log.info("kafka partitions assigned", group=self._owner.group_id, partitions=_names(assigned))


class GroupConsumer:
    """Reads `topic` as a member of `group_id`. Offsets are committed only by `commit()`, so a message is
    redelivered (to this or another member) unless the caller says it is done with it."""

    def __init__(self, settings: Settings, *, topic: str, group_id: str, client_id: str | None = None) -> None:
        self.topic = topic
        self.group_id = group_id
        self._settings = settings
        self._client_id = client_id or settings.kafka_client_id
        self._consumer: AIOKafkaConsumer | None = None
        self._assignment: frozenset[TopicPartition] = frozenset()
        self._joined = asyncio.Event()

    @property
    def assigned(self) -> bool:
        """True once the group has completed a join that included this member, and from then on.

        It does not drop during later rebalances: a rebalance is routine (another runner starting or stopping)
        and readiness should not flap with it. `assignment` tells which partitions are held right now.
        """
        return self._joined.is_set()

    @property
    def assignment(self) -> frozenset[TopicPartition]:
        return self._assignment

    # A timeout parameter rather than the caller's asyncio.timeout: running out is an answer here, not an error.
    async def wait_assigned(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait up to `timeout` seconds for `assigned`; return whether it is."""
        try:
            async with asyncio.timeout(timeout):
                await self._joined.wait()
        except TimeoutError:
            pass
        return self.assigned

    async def start(self) -> None:
        """Connect and subscribe; the group join itself completes in the background (see `wait_assigned`).
        Raises DependencyUnavailable when the cluster cannot be reached."""
        settings = self._settings
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            client_id=self._client_id,
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
            session_timeout_ms=settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
            max_poll_records=settings.kafka_max_poll_records,
            max_poll_interval_ms=settings.kafka_max_poll_interval_ms,
        )
        consumer.subscribe([self.topic], listener=_AssignmentTracker(self))
        try:
            async with kafka_call(f"starting consumer for {self.topic}", settings.kafka_request_timeout_ms / 1000):
                await consumer.start()
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer

    async def stop(self) -> None:
        """Leave the group (so the others rebalance at once instead of after the session timeout) and close."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()
        self._assignment = frozenset()

    async def getmany(self, timeout_ms: int) -> list[ConsumerRecord]:
        """The records fetched within `timeout_ms` (at most `kafka_max_poll_records`), in offset order within
        each partition; an empty list when none arrived."""
        batches = await self._running().getmany(timeout_ms=timeout_ms)
        records = [record for batch in batches.values() for record in batch]
        if records:
            MESSAGES_CONSUMED.labels(topic=self.topic).inc(len(records))
        return records

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> bool:
        """Commit, per partition, the offset of the next record to read (last processed + 1).

        Partitions this member no longer holds are skipped: their new owner starts from the last committed offset
        and redelivers, which the runner tolerates. Returns False when anything was skipped or the group
        rejected the commit because it was rebalancing; raises DependencyUnavailable when the broker is down.
        """
        consumer = self._running()
        held = consumer.assignment()
        owned = {tp: offset for tp, offset in offsets.items() if tp in held}
        if not owned:
            return not offsets
        async with kafka_call(f"committing offsets of {self.topic}", self._settings.kafka_request_timeout_ms / 1000):
            try:
                await consumer.commit(owned)
            except (CommitFailedError, IllegalStateError) as exc:
                log.info("kafka commit skipped: partitions moved in a rebalance", error=repr(exc))
                return False
        return len(owned) == len(offsets)

    async def ping(self) -> None:
        """Return when the cluster answers a metadata request; raise DependencyUnavailable otherwise."""
        async with kafka_call("ping", self._settings.kafka_ping_timeout_ms / 1000):
            await self._running().topics()

    def _running(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise DependencyUnavailable(KAFKA, f"the consumer of {self.topic} is not started")
        return self._consumer


def _names(partitions: set[TopicPartition]) -> list[str]:
    return sorted(f"{tp.topic}[{tp.partition}]" for tp in partitions)
