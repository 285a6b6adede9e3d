"""Lifecycle events, published in order per execution without making the execution wait for Kafka.

Why not await each publish: an acknowledged publish (acks=all) is a broker round trip, and an execution emits
two events plus one per action; awaiting them would add that many round trips to every execution's latency,
for events the contract calls best effort. Why not fire-and-forget tasks: concurrent sends may reach the broker
out of order, and a consumer seeing `execution.succeeded` before `execution.started` is worse than a late one.
So each execution's events form a chain: an event is sent once the one before it was acknowledged (or given
up), while the execution itself moves on. Executions do not wait for each other's events.
"""

from __future__ import annotations

import asyncio

import structlog

from wfa.events import Event
from wfa.ports.publisher import LifecycleEventPublisher

log = structlog.get_logger(__name__)

# With Kafka down each publish waits out its timeout, so chains grow; past this many unsent events new ones
# are dropped (they are best effort) rather than piling up in memory.
DEFAULT_MAX_PENDING = 10_000


class LifecycleEvents:
    def __init__(self, publisher: LifecycleEventPublisher, *, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        self._publisher = publisher
        self._max_pending = max_pending
        self._tails: dict[str, asyncio.Task[None]] = {}
        self._pending: set[asyncio.Task[None]] = set()

    def emit(self, event: Event) -> None:
        """Queue `event` behind the earlier events of its execution (a workflow event naming none: of its
        workflow); returns at once."""
        if len(self._pending) >= self._max_pending:
            log.warning("lifecycle event dropped: too many unsent", event_type=str(event.type))
            return
        key = event.execution_id or event.workflow_id
        task = asyncio.create_task(self._publish_after(self._tails.get(key), event))
        self._tails[key] = task
        self._pending.add(task)
        task.add_done_callback(lambda done: self._forget(key, done))

    async def drain(self, timeout: float) -> bool:  # noqa: ASYNC109 - running out is an answer, not an error
        """Wait up to `timeout` seconds for every queued event to be sent; True when none is left."""
        if not self._pending:
            return True
        _, left = await asyncio.wait(set(self._pending), timeout=timeout)
        if left:
            log.warning("lifecycle events unsent at shutdown", count=len(left))
        return not left

    async def _publish_after(self, previous: asyncio.Task[None] | None, event: Event) -> None:
        if previous is not None:
            await asyncio.wait({previous})
        try:
            await self._publisher.publish_event(event)
        except Exception:
            # The port promises not to raise; should an implementation break that, the chain must not stop.
            log.warning("lifecycle event dropped", event_type=str(event.type), exc_info=True)

    def _forget(self, key: str, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if self._tails.get(key) is task:
            del self._tails[key]
