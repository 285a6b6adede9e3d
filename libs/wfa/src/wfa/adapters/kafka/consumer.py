"""A consumer-group member for one topic: manual commits, earliest reset, readiness once assigned.

Group timings decide how long a crashed runner's partitions sit unread, so the session and heartbeat timeouts
come from Settings. Measured on Tansu 0.6.0 (memory storage, 6 partitions, aiokafka 0.14, from start() of the
joining member to the assignment callback; differences between repeated runs were within 0.1-0.3 s):

    session / heartbeat (ms)          6000/500   3000/300   10000/1000  6000/200  6000/1000  6000/2000
    first member joins                   3.0        2.0         5.0        3.0       3.0        3.0
    second member joins                  4.0        3.0         6.0        4.0       4.0        5.0
    survivor owns all after a leave      3.5        2.2         6.0        3.2       4.0        5.0
    survivor owns all after a SIGKILL    9.1        4.9        15.8        9.1       8.1        8.8
    new member joins after that          4.0        3.0         6.0        4.0       4.0        5.0
    SIGKILL + replacement started at once, two members before:
        replacement assigned             4.0        7.1
        live members own all partitions 10.1        7.1
    the only member SIGKILLed, replacement started at once:
        replacement owns all            11.1        7.2
    the only member stopped cleanly, a new one started:
        new member owns all              3.0  (11.1 without _leave_generation_zero below)

What these say about Tansu: a join completes after about half the session timeout (rounded up to a second,
whatever rebalance_timeout_ms says), a member already in the group notices a rebalance on its next heartbeat,
and a killed member is dropped when its session expires, at which point a fresh join delay begins. No run
showed a spurious rebalance over 30 s of idle polling, 1 s sessions included.

Defaults chosen (Settings): session 6000 ms, because that is Apache Kafka's default
group.min.session.timeout.ms (a shorter session is refused there with INVALID_SESSION_TIMEOUT) and on Tansu it
recovers a crashed runner's partitions in about 9-11 s; heartbeat 500 ms, a twelfth of the session, so a live
member is never mistaken for a dead one and learns of a rebalance within half a second (200 ms gained a
quarter of a second for two and a half times the requests). On Tansu alone, WFA_KAFKA_SESSION_TIMEOUT_MS=3000
with WFA_KAFKA_HEARTBEAT_INTERVAL_MS=300 roughly halves every figure above.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError
from aiokafka.protocol.group import LeaveGroupRequest

from wfa.adapters.kafka.errors import KAFKA, kafka_call
from wfa.adapters.kafka.metrics import MESSAGES_CONSUMED
from wfa.domain.errors import DependencyUnavailable
from wfa.settings import Settings

log = structlog.get_logger(__name__)

_POSITION_WAIT_SECONDS = 0.1


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
        """True once the group has completed a join that included this member, and from then on until `stop()`.

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
            rebalance_timeout_ms=settings.kafka_rebalance_timeout_ms,
        )
        try:
            async with kafka_call(f"starting consumer for {self.topic}", settings.kafka_request_timeout_ms / 1000):
                await consumer.start()
        except BaseException:
            await consumer.stop()
            raise
        # Subscribing after start() rather than before: aiokafka's start() would otherwise block until the group
        # assigned partitions (seconds), and a slow join is not a failure to connect.
        consumer.subscribe([self.topic], listener=_AssignmentTracker(self))
        self._consumer = consumer

    async def stop(self) -> None:
        """Leave the group (so the others rebalance at once instead of after the session timeout) and close."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await _leave_generation_zero(consumer, self._settings.kafka_ping_timeout_ms / 1000)
            await consumer.stop()
        self._assignment = frozenset()
        self._joined.clear()

    async def getmany(self, timeout_ms: int, max_records: int | None = None) -> list[ConsumerRecord]:
        """The records fetched within `timeout_ms` (at most `max_records`, by default `kafka_max_poll_records`),
        in offset order within each partition; an empty list when none arrived. Records beyond `max_records`
        stay buffered for the next call. Every call counts as a poll for `max_poll_interval_ms`, paused or not."""
        batches = await self._running().getmany(timeout_ms=timeout_ms, max_records=max_records)
        records = [record for batch in batches.values() for record in batch]
        if records:
            MESSAGES_CONSUMED.labels(topic=self.topic).inc(len(records))
        return records

    async def lag(self) -> dict[TopicPartition, int]:
        """Per partition held now, the records on the broker this member has not fetched yet (highwater minus
        position); only partitions whose highwater is known, i.e. that a fetch has answered for."""
        consumer = self._running()
        lags: dict[TopicPartition, int] = {}
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            try:
                # position() waits while the partition's offset is being reset, as during a rebalance.
                async with asyncio.timeout(_POSITION_WAIT_SECONDS):
                    position = await consumer.position(tp)
            except (TimeoutError, IllegalStateError):
                continue
            lags[tp] = max(highwater - position, 0)
        return lags

    def pause(self) -> None:
        """Stop fetching from every partition held now (a busy member keeps polling without taking more work).
        Partitions assigned later start unpaused: call again after a rebalance."""
        consumer = self._running()
        consumer.pause(*consumer.assignment())

    def resume(self) -> None:
        consumer = self._running()
        consumer.resume(*consumer.paused())

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


async def _leave_generation_zero(consumer: AIOKafkaConsumer, within: float) -> None:
    """Send the LeaveGroup that aiokafka leaves out when the group's generation is 0.

    aiokafka only leaves a group whose generation is above 0, which is always so on Apache Kafka (generations
    start at 1). Tansu numbers a group's first generation 0, so without this a runner stopped cleanly before any
    rebalance still holds its partitions until its session expires: measured, the next member to join waited
    11 s instead of 3 s. This reaches into aiokafka's coordinator; should that change shape, it does nothing
    and stopping costs a session timeout, as before.
    """
    coordinator = getattr(consumer, "_coordinator", None)
    if coordinator is None or getattr(coordinator, "generation", None) != 0:
        return
    member_id = getattr(coordinator, "member_id", "")
    if not member_id or getattr(coordinator, "_group_instance_id", None) is not None:
        return
    try:
        # Heartbeats must stop first, or one sent after the leave would make the coordinator join again.
        await coordinator.close()
        await asyncio.wait_for(coordinator._send_req(LeaveGroupRequest(coordinator.group_id, member_id)), within)
    except Exception as exc:
        log.info("kafka group leave not sent; the broker drops this member when its session expires", error=repr(exc))


def _names(partitions: set[TopicPartition]) -> list[str]:
    return sorted(f"{tp.topic}[{tp.partition}]" for tp in partitions)
