"""Firing periodic and cron workflows when their slot is due.

A look costs what is due soon, not what exists: one indexed query for the workflows whose slot falls within the
next `lookahead` (earliest first, a batch at a time). Each one found is armed, and fired when its slot comes, in
a task of its own: the query is not on any slot's path, and a fire that waits on a round trip (the claim, the
execution record, the broker) never holds back the slots after it. The loop looks again shortly before the end
of what it knows, and at once when woken by a change.

`fire_schedule` claims the slot atomically in the repository, so any number of schedulers may fire at once and
each slot still fires at most once. A workflow fetched ahead may have changed by its slot (paused, rescheduled,
deleted, or fired by another scheduler): the claim then finds its precondition gone and loses, harmlessly.

Each slot is fired in a span of its own (`schedule fire`): the root of the fired execution's trace.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from opentelemetry.trace import Tracer

from wfa.domain.errors import DependencyUnavailable
from wfa.domain.workflow import Workflow
from wfa.observability.tracing import Attributes, default_tracer
from wfa.ports.repositories import SlotOutcome
from wfa.service_layer.triggering import Triggering, fire_schedule
from wfa_scheduler.concurrency import run_bounded
from wfa_scheduler.metrics import SchedulerMetrics

log = structlog.get_logger(__name__)

DEFAULT_CONCURRENCY = 16
# How far ahead a look fetches. The next look comes RELOOK_MARGIN before its horizon (so that its query is done
# by then): a second after the last one, which is also when the loop's capped sleep (1 s) would wake it, so an
# idle scheduler queries once a second.
DEFAULT_LOOKAHEAD = timedelta(milliseconds=1100)
# A live owner fires a slot within milliseconds (within a second or two on a saturated database): one still due
# this long past its time is taken over by any scheduler that sees it.
DEFAULT_TAKEOVER_AFTER = timedelta(seconds=3)
RELOOK_MARGIN = timedelta(milliseconds=100)
# With a batch of fires in flight the loop stops looking until some are done, so that a backlog (after downtime)
# is taken a bounded part at a time; it checks again after this many seconds.
_SATURATED_PAUSE = 0.01

Slot = tuple[str, datetime]


def _every_workflow(workflow_id: str) -> bool:
    return True


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
        lookahead: timedelta = DEFAULT_LOOKAHEAD,
        tracer: Tracer | None = None,
        owns: Callable[[str], bool] = _every_workflow,
        takeover_after: timedelta = DEFAULT_TAKEOVER_AFTER,
    ) -> None:
        """`owns`: whether this process fires a workflow's slots (its share of the shards, see shards.py). A slot
        of another process's share still due `takeover_after` past its time is fired here too: its owner is dead or
        stuck, and waiting until its shard lease runs out would collapse several slots into one late fire. The
        claim keeps such a slot fired once, whoever comes first."""
        self._deps = deps
        self._metrics = metrics
        self._tracer = tracer or default_tracer()
        self._batch = batch
        self._concurrency = concurrency
        self._lookahead = lookahead
        self._owns = owns
        self._takeover_after = takeover_after
        self._gate = asyncio.Semaphore(concurrency)
        self._armed: list[Workflow] = []  # fetched by the last look, not fired yet; earliest slot first
        self._known_until: datetime | None = None  # every slot at or before this was fetched by the last look
        self._planned: datetime | None = None  # when the last step asked to be called again
        self._in_flight: dict[Slot, asyncio.Task[None]] = {}
        # Slots this process claimed (whatever the outcome) since the current look's query was sent: that query
        # may have read the database before the claim, and must not arm them again.
        self._handled: set[Slot] = set()

    async def run_once(self, now: datetime) -> FiringPass:
        """Fire every slot due at `now` (up to one batch), all done when it returns."""
        fetched = await self._deps.workflows.due_for_schedule(now=now, limit=self._batch)
        due = [workflow for workflow in fetched if self._mine(workflow, now)]
        outcomes = await run_bounded(due, self._fire, limit=self._concurrency)
        counts: dict[SlotOutcome, int] = {}
        for outcome in outcomes:
            counts[outcome] = counts.get(outcome, 0) + 1
        return FiringPass(due=len(due), outcomes=counts)

    async def step(self) -> float:
        """One turn of the forever-loop: look ahead when needed, launch the fires whose slot has come, and say
        how long until the next slot or look. The fires run on after it returns (see `drain`)."""
        now = self._deps.clock.now()
        woken = self._planned is not None and now < self._planned
        if woken or self._known_until is None or now >= self._known_until - RELOOK_MARGIN:
            if len(self._in_flight) >= self._batch:
                self._planned = None
                return _SATURATED_PAUSE
            await self._look(now)
            now = self._deps.clock.now()
        assert self._known_until is not None
        while self._armed and _slot(self._armed[0]) <= now:
            self._launch(self._armed.pop(0))
        self._planned = self._known_until - RELOOK_MARGIN
        if self._armed:
            self._planned = min(self._planned, _slot(self._armed[0]))
        return _seconds_until(self._planned, now)

    async def drain(self) -> None:
        """Forget what is armed and wait for the fires in flight: at shutdown, so that none is cut off between
        its claim and its execution record."""
        self._armed.clear()
        self._known_until = None
        if self._in_flight:
            await asyncio.gather(*self._in_flight.values(), return_exceptions=True)

    async def _look(self, now: datetime) -> None:
        horizon = now + self._lookahead
        # Fires in flight may not have claimed their slot yet, so the query finds them again: fetch that many more.
        limit = self._batch + len(self._in_flight)
        settled = set(self._handled)  # claimed before this query: what it reads already shows them moved on
        fetched = await self._deps.workflows.due_for_schedule(now=horizon, limit=limit)
        # Other processes' shards are filtered here, not in the query: SecantusDB serves no `shard: {$in: ...}`
        # clause from an index (measured: a scan of the whole collection), while the due-soon range it does serve
        # is small. The look reads the slots every scheduler reads; only the claims, the writes, are divided.
        self._armed = [
            workflow
            for workflow in fetched
            if _key(workflow) not in self._in_flight
            and _key(workflow) not in self._handled
            and self._mine(workflow, now)
        ]
        self._handled -= settled
        # A full batch may have left out later slots: only up to its last one is known.
        self._known_until = horizon if len(fetched) < limit else _slot(fetched[-1])

    def _mine(self, workflow: Workflow, now: datetime) -> bool:
        if self._owns(workflow.workflow_id):
            return True
        slot = workflow.trigger.next_run_at
        return slot is not None and slot <= now - self._takeover_after

    def _launch(self, workflow: Workflow) -> None:
        key = _key(workflow)
        task = asyncio.create_task(self._fire_in_background(workflow), name=f"fire {key[0]} {key[1].isoformat()}")
        self._in_flight[key] = task
        task.add_done_callback(lambda _: self._in_flight.pop(key, None))

    async def _fire_in_background(self, workflow: Workflow) -> None:
        # Nobody awaits this task: its failure is reported here. If the claim did not land, the slot is still due
        # and the next look arms it again once the dependency is back; if it landed but the execution record was
        # not stored, the slot is spent and the repair sweep sees to the lock (see wfa.service_layer.triggering).
        async with self._gate:
            try:
                await self._fire(workflow)
                # Before the task ends and leaves the in-flight set, so that the slot is always in one of them.
                self._handled.add(_key(workflow))
            except DependencyUnavailable as exc:
                self._metrics.loop_failures.labels(loop="firing").inc()
                log.warning("schedule.fire_failed", workflow_id=workflow.workflow_id, error=str(exc))
            except Exception as exc:
                self._metrics.loop_failures.labels(loop="firing").inc()
                log.error("schedule.fire_failed", workflow_id=workflow.workflow_id, exc_info=exc)

    async def _fire(self, workflow: Workflow) -> SlotOutcome:
        slot = workflow.trigger.next_run_at
        # fire_schedule reads the clock once more, for the execution's createdAt: the same moment, give or take
        # microseconds, so the histogram and the records agree.
        fired_at = self._deps.clock.now()
        with self._tracer.start_as_current_span(
            "schedule fire",
            attributes={
                Attributes.WORKFLOW_ID: workflow.workflow_id,
                Attributes.SCHEDULE_SLOT: slot.isoformat() if slot is not None else "",
            },
        ) as span:
            outcome = await fire_schedule(self._deps, workflow)
            span.set_attribute(Attributes.OUTCOME, outcome.value)
        self._metrics.fires.labels(outcome=outcome.value).inc()
        if outcome is SlotOutcome.FIRED and slot is not None:
            self._metrics.observe_fire_lateness(fired_at - slot)
        return outcome


def _slot(workflow: Workflow) -> datetime:
    slot = workflow.trigger.next_run_at
    assert slot is not None  # due_for_schedule returns only workflows with a slot
    return slot


def _key(workflow: Workflow) -> Slot:
    return workflow.workflow_id, _slot(workflow)


def _seconds_until(moment: datetime, now: datetime) -> float:
    # A millisecond more: the clock truncates to whole milliseconds, and waking a hair early finds nothing due.
    return (moment - now).total_seconds() + 0.001 if moment > now else 0.0
