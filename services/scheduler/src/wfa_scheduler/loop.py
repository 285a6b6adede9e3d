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

from wfa.until_done import Backoff, log_failure, until_done
from wfa_scheduler.metrics import SchedulerMetrics

log = structlog.get_logger(__name__)

Step = Callable[[], Awaitable[float]]
"""Does what is due and returns the seconds until it next has work (math.inf: nothing scheduled)."""


class Loop:
    """Runs `step` until stopped, sleeping at most `max_sleep` between steps.

    The cap bounds how stale a sleeping loop can be when no change feed wakes it (the feed is down, or a change
    came from somewhere it does not see). A step that raises is logged and retried after a backoff (`until_done`):
    the loop never dies of an outage, and recovers without a restart when the dependency comes back.
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
            delay = await self._pass(bound)
            if delay is None or self._stopping:
                break
            await self._sleep(delay)
        bound.info("scheduler.loop_stopped")

    async def _pass(self, bound: structlog.stdlib.BoundLogger) -> float | None:
        """The seconds to sleep until the job has work (capped), once a step succeeded; a step that fails is
        stepped again after a backoff. None when stopped while steps failed."""
        retried = 0
        reported = False

        async def step() -> float:
            nonlocal reported
            reported = False
            # Cleared before the step: a change that lands while the step runs still cuts the next sleep short.
            self._wake.clear()
            return await self._step()

        def retrying(error: Exception, wait: float) -> None:
            nonlocal retried, reported
            retried += 1
            reported = True
            self._failed(bound, error, retry_in_s=round(wait, 3))

        try:
            delay = await until_done(
                step,
                retry_on=Exception,
                delays=self._backoff,
                give_up=lambda: self._stopping,
                on_retry=retrying,
                sleep=self._sleep,
            )
        except Exception as exc:
            # Given up, as the loop is stopping: a failure it did not get to retry is reported all the same.
            if not reported:
                self._failed(bound, exc)
            return None
        if retried:
            bound.info("scheduler.loop_recovered", failed_passes=retried)
        return min(delay, self._max_sleep)

    def _failed(self, bound: structlog.stdlib.BoundLogger, error: Exception, **fields: object) -> None:
        self._metrics.loop_failures.labels(loop=self.name).inc()
        log_failure(bound, "scheduler.pass_failed", error, **fields)

    async def _sleep(self, seconds: float) -> None:
        if seconds <= 0 or math.isnan(seconds):
            # Give the rest of the process (HTTP probes, the other loops) a turn before the next step.
            await asyncio.sleep(0)
            return
        with suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
