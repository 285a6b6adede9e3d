"""The forever-loop around a job's pass: sleep until the job has work, wake early on a change, survive outages.

A job is a `step()` coroutine: it does whatever is due now and returns how long to sleep before the next step.
The loop adds only the waiting, the waking and the error handling, so that the job itself stays testable one
pass at a time with a fake clock.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from contextlib import suppress

import structlog

from wfa.domain.errors import DependencyUnavailable
from wfa.outage_backoff import Backoff
from wfa_scheduler.metrics import SchedulerMetrics

log = structlog.get_logger(__name__)

Step = Callable[[], Awaitable[float]]
"""Does what is due and returns the seconds until it next has work (math.inf: nothing scheduled)."""


class Loop:
    """Runs `step` until stopped, sleeping at most `max_sleep` between steps.

    The cap bounds how stale a sleeping loop can be when no change feed wakes it (the feed is down, or a change
    came from somewhere it does not see). A step that raises is logged and retried after a backoff: the loop
    never dies of an outage, and recovers without a restart when the dependency comes back.
    """

    def __init__(
        self,
        name: str,
        step: Step,
        *,
        max_sleep: float,
        metrics: SchedulerMetrics,
        wake: asyncio.Event | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.name = name
        self._step = step
        self._max_sleep = max_sleep
        self._metrics = metrics
        self._wake = wake if wake is not None else asyncio.Event()
        self._backoff = backoff if backoff is not None else Backoff()
        self._stopping = False

    def stop(self) -> None:
        """Ask the loop to end after the step in progress (it returns from `run`)."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        bound = log.bind(loop=self.name)
        bound.info("scheduler.loop_started")
        while not self._stopping:
            # Cleared before the step: a change that lands while the step runs still cuts the next sleep short.
            self._wake.clear()
            delay = await self._guarded_step(bound)
            if self._stopping:
                break
            await self._sleep(delay)
        bound.info("scheduler.loop_stopped")

    async def _guarded_step(self, bound: structlog.stdlib.BoundLogger) -> float:
        """The seconds to sleep next: until the job has work (capped), or a backoff after a failure."""
        try:
            delay = await self._step()
        except DependencyUnavailable as exc:
            return self._failed(bound, exc)
        except Exception as exc:
            return self._failed(bound, exc, unexpected=True)
        if self._backoff.failures:
            bound.info("scheduler.loop_recovered", failed_passes=self._backoff.failures)
        self._backoff.reset()
        return min(delay, self._max_sleep)

    def _failed(self, bound: structlog.stdlib.BoundLogger, exc: Exception, *, unexpected: bool = False) -> float:
        delay = self._backoff.next_delay()
        self._metrics.loop_failures.labels(loop=self.name).inc()
        if unexpected:
            bound.error("scheduler.pass_failed", retry_in_s=delay, exc_info=exc)
        else:
            bound.warning("scheduler.pass_failed", retry_in_s=delay, error=str(exc))
        return delay

    async def _sleep(self, seconds: float) -> None:
        if seconds <= 0 or math.isnan(seconds):
            # Give the rest of the process (HTTP probes, the other loops) a turn before the next step.
            await asyncio.sleep(0)
            return
        with suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
