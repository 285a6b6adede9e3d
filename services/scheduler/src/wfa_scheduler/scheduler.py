"""The scheduler process's work: prepare the stores, then run the loops until stopped (firing, retries, repair,
retention, and the shard leases that divide the firing among scheduler processes).

Preparing (indexes, topics) is retried in the background rather than failing the start: the process serves
/healthz and an honest /readyz while MongoDB or Kafka are down, and starts its loops as soon as they are back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass

import structlog

from wfa.domain.errors import DependencyUnavailable
from wfa.until_done import log_failure, until_done
from wfa_scheduler.backlog import Backlog
from wfa_scheduler.changes import Wake, Wakeup, WorkflowChanges, follow_changes
from wfa_scheduler.firing import Firing
from wfa_scheduler.loop import Loop
from wfa_scheduler.metrics import SchedulerMetrics
from wfa_scheduler.repair import Repair
from wfa_scheduler.retention import Retention
from wfa_scheduler.retries import Retries
from wfa_scheduler.shards import ShardOwnership

log = structlog.get_logger(__name__)

Prepare = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class SchedulerJobs:
    firing: Firing
    retries: Retries
    repair: Repair
    retention: Retention | None = None  # None: WFA_RETENTION=off, executions are kept forever
    shards: ShardOwnership | None = None  # None: this process fires every workflow
    backlog: Backlog | None = None  # None: backfills and `catchup: all` catch-ups are not fired by this process


class Scheduler:
    def __init__(
        self,
        jobs: SchedulerJobs,
        *,
        prepare: Prepare,
        changes: WorkflowChanges | None,
        metrics: SchedulerMetrics,
        max_sleep: float,
        repair_interval: float,
    ) -> None:
        self._prepare = prepare
        self._changes = changes
        self._firing = jobs.firing
        self._wakeup = Wakeup()
        wake = self._wakeup.subscribe
        firing_wake = wake(Wake.FIRING)
        self._shards = jobs.shards
        self.loops = [
            Loop("firing", jobs.firing.step, max_sleep=max_sleep, metrics=metrics, wake=firing_wake),
            Loop("retries", jobs.retries.step, max_sleep=max_sleep, metrics=metrics, wake=wake(Wake.RETRIES)),
            Loop("repair", jobs.repair.step, max_sleep=repair_interval, metrics=metrics),
        ]
        if jobs.backlog is not None:
            self.loops.append(Loop("backlog", jobs.backlog.step, max_sleep=max_sleep, metrics=metrics))
        if jobs.retention is not None:
            # Capped by its own interval: the sweep is paced by time, not woken by changes.
            self.loops.append(
                Loop("retention", jobs.retention.step, max_sleep=jobs.retention.interval_seconds, metrics=metrics)
            )
        if jobs.shards is not None:
            # Shards taken over may hold slots due before the firing loop's next look: it looks again at once.
            jobs.shards.on_change = firing_wake.set
            self.loops.append(Loop("shards", jobs.shards.step, max_sleep=jobs.shards.interval, metrics=metrics))
        self._main: asyncio.Task[None] | None = None
        self._feed: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._main = asyncio.create_task(self._run(), name="scheduler")

    async def stop(self, grace: float) -> None:
        """Let each loop finish the pass in progress (within `grace` seconds), then cancel what is left."""
        self._stopping = True
        for loop in self.loops:
            loop.stop()
        if self._feed is not None:
            self._feed.cancel()
        if self._main is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._main), grace)
        except TimeoutError:
            log.warning("scheduler.stop_timed_out", grace_s=grace)
            self._main.cancel()
            with suppress(asyncio.CancelledError):
                await self._main

    async def _run(self) -> None:
        if not await self._prepare_until_done():
            return
        if self._changes is not None:
            self._feed = asyncio.create_task(follow_changes(self._changes, self._wakeup), name="workflow-changes")
        try:
            await asyncio.gather(*(loop.run() for loop in self.loops))
            await self._firing.drain()
            await self._leave()
        finally:
            if self._feed is not None:
                self._feed.cancel()
                with suppress(asyncio.CancelledError):
                    await self._feed

    async def _leave(self) -> None:
        if self._shards is None:
            return
        try:
            await self._shards.leave()
        except DependencyUnavailable as exc:
            # The leases run out by themselves; the others take the shards over then.
            log.warning("scheduler.leave_failed", error=str(exc))

    async def _prepare_until_done(self) -> bool:
        """False when stopped first."""
        if self._stopping:
            return False
        try:
            await until_done(
                self._prepare,
                retry_on=Exception,
                give_up=lambda: self._stopping,
                on_retry=lambda error, wait: log_failure(
                    log, "scheduler.prepare_failed", error, retry_in_s=round(wait, 3)
                ),
            )
        except Exception:
            # Every error is retried, so one that comes out means it gave up: the scheduler is stopping.
            return False
        log.info("scheduler.prepared")
        return True
