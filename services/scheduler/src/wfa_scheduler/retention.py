"""Retention: executions finished more than `retention` ago are removed, with them their share of the statistics
(computed from the executions), except each workflow's newest `keep_last`, whatever their age or status.

Age is taken from `finishedAt`: an execution is kept for the whole retention after it ends, however long it ran
or waited for retries, and one never finished (queued, running, pending) is never removed.

A pass is bounded: it reads at most `batch` candidates (finished before the cutoff, by finishedAt on an index),
asks each of their workflows for its keep-last boundary (the `keep_last`-th newest execution: one indexed read
per workflow), and removes the candidates older than their workflow's boundary in one delete. Candidates that
keep-last protects stay expired and would come first again in the next pass; so a pass resumes after the last
candidate the previous one read, and starts over from the oldest once it reaches the end, as the repair sweep's
lock pages do: kept executions never hide removable ones.

Why no TTL index, although MongoDB and SecantusDB both have them: a TTL index removes by one date alone and
cannot spare a workflow's newest `keep_last`. A TTL on a date that this sweep sets only on executions beyond the
boundary would save nothing: the sweep would find the same candidates and boundaries, and write each one once
(an update instead of the delete), for the server to delete up to a minute later.

Several schedulers may sweep at once: a boundary only moves to newer executions as a workflow gets new ones, so a
boundary read a moment ago protects at least what it should, and the delete checks again, on the server, that each
execution is final and finished before the cutoff; removing is idempotent.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from wfa.domain.clock import Clock
from wfa.ports.repositories import ExecutionRepository, FinishedExecution, FinishedPosition
from wfa_scheduler.metrics import SchedulerMetrics

log = structlog.get_logger(__name__)

# After a pass that filled its batch and removed something, the next one comes this soon rather than after the
# interval, so that a backlog (retention just enabled or shortened) drains at a batch a second, not a minute.
BACKLOG_PAUSE_SECONDS = 1.0


@dataclass(frozen=True)
class RetentionPass:
    examined: int = 0  # candidates read: finished before the cutoff
    removed: int = 0
    more: bool = False  # the batch was full: more candidates follow


class Retention:
    def __init__(
        self,
        executions: ExecutionRepository,
        clock: Clock,
        *,
        metrics: SchedulerMetrics,
        retention: timedelta,
        keep_last: int,
        batch: int,
        interval: timedelta,
    ) -> None:
        self._executions = executions
        self._clock = clock
        self._metrics = metrics
        self._retention = retention
        self._keep_last = keep_last
        self._batch = batch
        self._interval = interval
        self._after: FinishedPosition | None = None

    async def run_once(self, now: datetime) -> RetentionPass:
        started = time.perf_counter()
        cutoff = now - self._retention
        page = await self._executions.find_finished_before(before=cutoff, after=self._after, limit=self._batch)
        doomed = await self._beyond_keep_last(page.items)
        removed = await self._executions.remove_finished(doomed, finished_before=cutoff) if doomed else 0
        self._after = page.resume_after
        elapsed = time.perf_counter() - started
        self._metrics.retention_removed.inc(removed)
        self._metrics.retention_pass_seconds.set(elapsed)
        if removed:
            log.info(
                "retention.removed",
                removed=removed,
                examined=len(page.items),
                finished_before=cutoff.isoformat(),
                duration_s=round(elapsed, 3),
            )
        return RetentionPass(examined=len(page.items), removed=removed, more=page.resume_after is not None)

    @property
    def interval_seconds(self) -> float:
        return self._interval.total_seconds()

    async def step(self) -> float:
        result = await self.run_once(self._clock.now())
        if result.more and result.removed:
            return BACKLOG_PAUSE_SECONDS
        return self.interval_seconds

    async def _beyond_keep_last(self, candidates: list[FinishedExecution]) -> list[str]:
        """The ids of the candidates older than their workflow's keep-last boundary."""
        if self._keep_last == 0:
            return [candidate.execution_id for candidate in candidates]
        by_workflow: defaultdict[str, list[FinishedExecution]] = defaultdict(list)
        for candidate in candidates:
            by_workflow[candidate.workflow_id].append(candidate)
        doomed: list[str] = []
        for workflow_id, group in by_workflow.items():
            boundary = await self._executions.keep_last_boundary(workflow_id, keep_last=self._keep_last)
            if boundary is None:
                continue  # the workflow has no more than keep_last executions: all stay
            doomed += [candidate.execution_id for candidate in group if candidate.in_history < boundary]
        return doomed
