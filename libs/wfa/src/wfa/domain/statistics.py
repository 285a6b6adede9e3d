"""Execution statistics over a time window: counts by status, rates, durations, per action, the slowest actions.

The repositories compute the inputs (MongoDB in an aggregation pipeline, the in-memory one with `summarize`);
the rates and the ordering are decided here, once, for both.

Definitions:
- An execution is in the window when its `createdAt` is in [since, until].
- Rates are over finished executions (succeeded, failed or cancelled): `successRate` = succeeded / finished,
  `errorRate` = failed / finished; null when none finished.
- Durations are `durationMs` of the executions that have one (the finished ones), and of an action its last
  attempt's. Percentiles are nearest-rank: an observed value (MongoDB computes them with `$percentile`, whose
  accumulator is approximate, t-digest, on large groups).
- An action counts once per execution in which it finished (succeeded or failed); `attempts` adds up its runs,
  retries included.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from wfa.domain.base import Model
from wfa.domain.execution import ActionStatus, Execution, ExecutionStatus

SLOWEST_ACTIONS = 5
MAX_ACTIONS = 1_000
"""At most this many actions are listed (the slowest ones): a window over every workflow could hold many."""

_FINISHED_ACTION = (ActionStatus.SUCCEEDED, ActionStatus.FAILED)


class DurationSummary(Model):
    count: int
    """How many durations were summarised."""
    avg: float | None = None
    """The mean, in milliseconds."""
    p50: float | None = None
    """The median, in milliseconds."""
    p95: float | None = None
    """The 95th percentile, in milliseconds."""


class StatusCounts(Model):
    queued: int = 0
    """Executions queued."""
    running: int = 0
    """Executions running."""
    pending: int = 0
    """Executions waiting for a retry."""
    succeeded: int = 0
    """Executions that succeeded."""
    failed: int = 0
    """Executions that failed for good."""
    cancelled: int = 0
    """Executions cancelled."""

    @property
    def total(self) -> int:
        return self.queued + self.running + self.pending + self.finished

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed + self.cancelled


class ActionStatistics(Model):
    workflow_id: str
    """The workflow the action belongs to."""
    name: str
    """The action's name."""
    type: str
    """The action's type."""
    runs: int
    """Executions in which the action ended (succeeded or failed)."""
    succeeded: int
    """Of those, how many succeeded."""
    failed: int
    """Of those, how many failed."""
    attempts: int
    """Runs of the action, retries included."""
    error_rate: float | None
    """failed / runs; null without runs."""
    duration_ms: DurationSummary
    """Durations of its last runs."""


class ExecutionStatistics(Model):
    workflow_id: str | None
    """The workflow; null for the statistics of every workflow."""
    since: datetime
    """The window's start: executions created at or after it count."""
    until: datetime
    """The window's end."""
    executions: int
    """Executions created within the window."""
    by_status: StatusCounts
    """Those executions by status."""
    success_rate: float | None
    """succeeded / finished; null when none finished."""
    error_rate: float | None
    """failed / finished; null when none finished."""
    duration_ms: DurationSummary
    """Durations of the finished executions."""
    actions: list[ActionStatistics]
    """Per action."""
    slowest_actions: list[ActionStatistics]
    """The actions with the highest p95 duration, slowest first."""

    @classmethod
    def of(
        cls,
        *,
        workflow_id: str | None,
        since: datetime,
        until: datetime,
        by_status: StatusCounts,
        duration_ms: DurationSummary,
        actions: Sequence[ActionStatistics],
    ) -> ExecutionStatistics:
        """`actions` in any order: listed by workflow and name, the slowest (by p95, then mean) picked out."""
        slowest = sorted(actions, key=_slowness)
        return cls(
            workflow_id=workflow_id,
            since=since,
            until=until,
            executions=by_status.total,
            by_status=by_status,
            success_rate=ratio(by_status.succeeded, by_status.finished),
            error_rate=ratio(by_status.failed, by_status.finished),
            duration_ms=duration_ms,
            actions=sorted(slowest[:MAX_ACTIONS], key=lambda a: (a.workflow_id, a.name, a.type)),
            slowest_actions=slowest[:SLOWEST_ACTIONS],
        )


def _slowness(action: ActionStatistics) -> tuple[float, float, str, str, str]:
    duration = action.duration_ms
    return (-(duration.p95 or 0.0), -(duration.avg or 0.0), action.workflow_id, action.name, action.type)


def ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def nearest_rank(ordered: Sequence[float], p: float) -> float | None:
    """The p-quantile (0 < p ≤ 1) of ascending `ordered`: the value at rank ceil(p × n)."""
    if not ordered:
        return None
    return ordered[max(math.ceil(p * len(ordered)), 1) - 1]


def duration_summary(values: Iterable[float]) -> DurationSummary:
    ordered = sorted(values)
    if not ordered:
        return DurationSummary(count=0)
    return DurationSummary(
        count=len(ordered),
        avg=sum(ordered) / len(ordered),
        p50=nearest_rank(ordered, 0.5),
        p95=nearest_rank(ordered, 0.95),
    )


@dataclass
class _ActionTally:
    succeeded: int = 0
    failed: int = 0
    attempts: int = 0
    durations: list[float] = field(default_factory=list)


def summarize(
    executions: Iterable[Execution], *, workflow_id: str | None, since: datetime, until: datetime
) -> ExecutionStatistics:
    """The statistics of `executions` (those in the window and of `workflow_id`, when given, are picked here)."""
    counts = dict.fromkeys(ExecutionStatus, 0)
    durations: list[float] = []
    tallies: dict[tuple[str, str, str], _ActionTally] = {}
    for execution in executions:
        if not since <= execution.created_at <= until:
            continue
        if workflow_id is not None and execution.workflow_id != workflow_id:
            continue
        counts[execution.status] += 1
        if execution.duration_ms is not None:
            durations.append(execution.duration_ms)
        for run in execution.actions:
            if run.status not in _FINISHED_ACTION:
                continue
            tally = tallies.setdefault((execution.workflow_id, run.name, run.type), _ActionTally())
            tally.succeeded += run.status is ActionStatus.SUCCEEDED
            tally.failed += run.status is ActionStatus.FAILED
            tally.attempts += run.attempts
            if run.duration_ms is not None:
                tally.durations.append(run.duration_ms)
    actions = [
        ActionStatistics(
            workflow_id=key[0],
            name=key[1],
            type=key[2],
            runs=tally.succeeded + tally.failed,
            succeeded=tally.succeeded,
            failed=tally.failed,
            attempts=tally.attempts,
            error_rate=ratio(tally.failed, tally.succeeded + tally.failed),
            duration_ms=duration_summary(tally.durations),
        )
        for key, tally in tallies.items()
    ]
    return ExecutionStatistics.of(
        workflow_id=workflow_id,
        since=since,
        until=until,
        by_status=StatusCounts(**{status.value: count for status, count in counts.items()}),
        duration_ms=duration_summary(durations),
        actions=actions,
    )
