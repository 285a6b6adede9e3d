"""A Clock that follows the MongoDB server's clock.

Lock ages and leases are written by one host and compared by another (lockedAt by the workflows service, checked
by the scheduler; leaseUntil by one runner, checked by another runner's claim and by the scheduler). Host clocks
drift apart, and a skew larger than a lease or the repair age would let a live lease be taken over or a fresh
lock be released. Every process therefore reads one clock, the database server's: it measures the offset of its
own system clock from the server's (`hello`'s localTime, at the midpoint of the round trip) at start-up and
every minute after, and returns system time + offset. Reading it is free; only the background sync talks to the
server. How far two processes can still disagree is the error of their measurements: half a round trip plus the
server's millisecond resolution, on each side.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import UTC, datetime
from typing import Final

import structlog

from wfa.adapters.mongo.metrics import CLOCK_OFFSET
from wfa.domain.clock import truncate_to_ms

log = structlog.get_logger(__name__)

ServerTime = Callable[[], Awaitable[datetime]]

SYNC_EVERY_SECONDS: Final = 60.0
# Each sync keeps the probe with the shortest round trip: its midpoint is the least uncertain.
_PROBES: Final = 3


class DatabaseClock:
    def __init__(
        self,
        server_time: ServerTime,
        *,
        every: float = SYNC_EVERY_SECONDS,
        system_time: Callable[[], float] = time.time,
    ) -> None:
        self._server_time = server_time
        self._every = every
        self._system_time = system_time
        self._offset = 0.0  # until the first sync: the host's own clock
        self._task: asyncio.Task[None] | None = None

    @property
    def offset(self) -> float:
        """Server time minus this host's system time, in seconds, as last measured."""
        return self._offset

    def now(self) -> datetime:
        return truncate_to_ms(datetime.fromtimestamp(self._system_time() + self._offset, UTC))

    async def sync(self) -> float:
        """Measure the offset and follow it from now on. Raises DependencyUnavailable when the server does not
        answer (the last offset stays)."""
        probes: list[tuple[float, float]] = []  # (round trip, offset)
        for _ in range(_PROBES):
            sent = self._system_time()
            server = (await self._server_time()).timestamp()
            received = self._system_time()
            if received >= sent:  # else the system clock was stepped meanwhile: the probe means nothing
                probes.append((received - sent, server - (sent + received) / 2))
        if probes:
            self._offset = min(probes)[1]
            CLOCK_OFFSET.set(self._offset)
        return self._offset

    async def follow(self) -> None:
        """Sync every `every` seconds until cancelled; a sync that fails keeps the last offset."""
        while True:
            await asyncio.sleep(self._every)
            try:
                await self.sync()
            except Exception as exc:
                log.warning("clock.sync_failed", offset_s=self._offset, error=str(exc) or type(exc).__name__)

    def start(self) -> None:
        self._task = asyncio.create_task(self.follow(), name="database-clock")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
