"""Firing periodic and cron workflows when their slot is due.

A pass costs what is due, not what exists: one indexed query for the due workflows (earliest first, a batch at
a time), then one `fire_schedule` each, side by side. `fire_schedule` claims the slot atomically in the
repository, so any number of schedulers may run passes at once and each slot still fires at most once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from wfa.domain.workflow import Workflow
from wfa.ports.repositories import SlotOutcome
from wfa.service_layer.triggering import Triggering, fire_schedule
from wfa_scheduler.concurrency import run_bounded
from wfa_scheduler.metrics import SchedulerMetrics

DEFAULT_CONCURRENCY = 16


@dataclass(frozen=True)
class FiringPass:
    due: int
    outcomes: dict[SlotOutcome, int] = field(default_factory=dict)

    def count(self, outcome: SlotOutcome) -> int:
        return self.outcomes.get(outcome, 0)


class Firing:
    def __init__(
        self,
        deps: Triggering,
        *,
        metrics: SchedulerMetrics,
        batch: int,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        self._deps = deps
        self._metrics = metrics
        self._batch = batch
        self._concurrency = concurrency
        # When the last look said the next slot is due: reaching it by sleeping needs no second look.
        self._expected: datetime | None = None

    async def run_once(self, now: datetime) -> FiringPass:
        """Fire every slot due at `now` (up to one batch)."""
        due = await self._deps.workflows.due_for_schedule(now=now, limit=self._batch)
        outcomes = await run_bounded(due, self._fire, limit=self._concurrency)
        counts: dict[SlotOutcome, int] = {}
        for outcome in outcomes:
            counts[outcome] = counts.get(outcome, 0) + 1
        return FiringPass(due=len(due), outcomes=counts)

    async def step(self) -> float:
        """One turn of the forever-loop: fire what is due, or say how long until something is."""
        now = self._deps.clock.now()
        if self._expected is None or self._expected > now:
            # Woken before the expected slot (a workflow changed), or nothing known yet: look again.
            self._expected = await self._deps.workflows.earliest_next_run_at()
            now = self._deps.clock.now()
            if self._expected is None:
                return math.inf
            if self._expected > now:
                return _seconds_until(self._expected, now)
        self._expected = None
        done = await self.run_once(now)
        # Look again at once: more may be due (a full batch), and the time of the following slot is needed anyway.
        return 0.0 if done.due else _NOTHING_DUE_PAUSE

    async def _fire(self, workflow: Workflow) -> SlotOutcome:
        slot = workflow.trigger.next_run_at
        # fire_schedule reads the clock once more, for the execution's createdAt: the same moment, give or take
        # microseconds, so the histogram and the records agree.
        fired_at = self._deps.clock.now()
        outcome = await fire_schedule(self._deps, workflow)
        self._metrics.fires.labels(outcome=outcome.value).inc()
        if outcome is SlotOutcome.FIRED and slot is not None:
            self._metrics.observe_fire_lateness(fired_at - slot)
        return outcome


# The earliest slot said "due" but the due query found nothing (the workflow changed in between): pause briefly
# rather than spin should the two queries ever disagree for longer.
_NOTHING_DUE_PAUSE = 0.05


def _seconds_until(moment: datetime, now: datetime) -> float:
    # A millisecond more: the clock truncates to whole milliseconds, and waking a hair early finds nothing due.
    return (moment - now).total_seconds() + 0.001
