"""When a scheduled workflow fires.

Periodic workflows fire on the grid `anchor + k × interval` (the anchor is the creation time, or the time of
an update that changed the trigger); cron workflows on their expression in their time zone. Both answer the
same question: the first slot strictly after a moment, keeping to the grid the last slot belonged to.

Daylight saving time follows classic cron: a fixed-time job (neither minute nor hour starts with `*`) whose time
falls in the hour skipped in spring fires once, as the clocks jump; in the hour repeated in autumn it fires
once, at the first pass. Jobs with a wildcard minute or hour keep to elapsed time and also fire in the repeated
hour.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from wfa.domain.clock import truncate_to_ms
from wfa.domain.workflow import (
    CRON_SEARCH_YEARS,
    DEFAULT_CATCHUP_WINDOW,
    RECENT_FIRES,
    Catchup,
    TriggerSpec,
    TriggerType,
)

MAX_CATCHUP = 100
"""`catchup: all` fires at most this many missed slots (the newest); older ones are counted as missed."""
ON_TIME = timedelta(seconds=60)
"""`catchup: none`: the latest due slot still fires when the scheduler comes to it at most this late (a scheduler
fires within milliseconds, a few seconds when taking over a dead one's shard); later, it was missed."""
MAX_COUNTED = 10_000
"""Missed cron slots are counted one by one up to this many per fire (a periodic grid's are counted exactly)."""
MAX_BACKFILL = 1_000
"""A backfill covers at most this many slots."""


def first_fire(trigger: TriggerSpec, anchor: datetime) -> datetime | None:
    """The first slot of a grid anchored at `anchor` (creation, or an update that changed the trigger)."""
    if trigger.type is TriggerType.PERIODIC:
        assert trigger.interval is not None
        return anchor + trigger.interval
    if trigger.type is TriggerType.CRON:
        return _next_cron(trigger, anchor)
    return None


def next_fire_after(trigger: TriggerSpec, slot: datetime, now: datetime) -> datetime | None:
    """The first slot strictly after `now` on the grid that `slot` belongs to.

    Missed slots between `slot` and `now` are not returned: after downtime they collapse into the one fire
    that is due now.
    """
    if trigger.type is TriggerType.PERIODIC:
        assert trigger.interval is not None
        if slot > now:
            return slot
        missed = (now - slot) // trigger.interval
        return slot + (missed + 1) * trigger.interval
    if trigger.type is TriggerType.CRON:
        return _next_cron(trigger, max(slot, now))
    return None


def _next_cron(trigger: TriggerSpec, after: datetime) -> datetime:
    assert trigger.cron is not None
    zone = ZoneInfo(trigger.timezone or "UTC")
    # A definition that validated matches within this many years of any moment (see wfa.domain.workflow).
    iterator = croniter(trigger.cron, after.astimezone(zone), max_years_between_matches=CRON_SEARCH_YEARS)
    fixed_time = not any(field.startswith("*") for field in trigger.cron.split()[:2])
    while True:
        fire: datetime = iterator.get_next(datetime)
        # croniter yields a repeated wall-clock time twice (once per offset); a fixed-time job runs once a day.
        if not (fixed_time and _is_second_pass(fire, zone)):
            return truncate_to_ms(fire.astimezone(UTC))


def _is_second_pass(moment: datetime, zone: ZoneInfo) -> bool:
    """True when `moment` is the second occurrence of a wall-clock time that the autumn change repeats."""
    local = moment.astimezone(UTC).astimezone(zone)  # from UTC, so that `fold` is set
    return local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset()


@dataclass(frozen=True)
class Missed:
    """Slots given up at a fire: how many, and the newest of them (oldest first) for the recent outcomes."""

    count: int = 0
    newest: tuple[datetime, ...] = ()


NOTHING_MISSED = Missed()


@dataclass(frozen=True)
class FirePlan:
    """What the fire of a due slot does, by the trigger's `catchup` (the contract, "Schedules and concurrency").

    `fires`: the slot an execution starts for now (None: none does); `backlog`: slots that wait for the lock and
    fire one after another, oldest first (`catchup: all`); `missed`: the slots given up; `next_run_at`: the next
    slot the schedule waits for."""

    fires: datetime | None
    next_run_at: datetime | None
    missed: Missed = NOTHING_MISSED
    backlog: tuple[datetime, ...] = ()


def plan_fire(trigger: TriggerSpec, slot: datetime, now: datetime) -> FirePlan:
    """The fire of `slot` (the stored nextRunAt, due) at `now`. On time (no later slot due) every mode fires it."""
    following = next_fire_after(trigger, slot, now)
    mode = trigger.catchup or Catchup.LATEST
    if mode is Catchup.LATEST:
        # v1: the stored slot fires for all the due ones; those after it never will.
        return FirePlan(fires=slot, next_run_at=following, missed=_count(trigger, _after(trigger, slot), now))
    if mode is Catchup.NONE:
        latest = _latest_due(trigger, slot, now)
        if now - latest <= ON_TIME:
            return FirePlan(fires=latest, next_run_at=following, missed=_count(trigger, slot, latest, inclusive=False))
        return FirePlan(fires=None, next_run_at=following, missed=_count(trigger, slot, now))
    window_start = now - (trigger.catchup_window or DEFAULT_CATCHUP_WINDOW)
    first_kept = slot if slot >= window_start else _first_at_or_after(trigger, window_start, grid=slot)
    kept = list(_slots(trigger, first_kept, now, limit=None, newest=MAX_CATCHUP)) if first_kept <= now else []
    start = kept[0] if kept else now
    missed = _count(trigger, slot, start, inclusive=not kept)
    if len(kept) <= 1:
        return FirePlan(fires=kept[0] if kept else None, next_run_at=following, missed=missed)
    return FirePlan(fires=None, next_run_at=following, missed=missed, backlog=tuple(kept))


def next_fires(trigger: TriggerSpec, start: datetime | None, count: int) -> list[datetime]:
    """The next `count` slots from the stored nextRunAt `start` (itself included); [] when there is none."""
    if start is None or not trigger.is_scheduled:
        return []
    fires = [start]
    while len(fires) < count:
        fires.append(_after(trigger, fires[-1]))
    return fires


def slots_between(
    trigger: TriggerSpec, start: datetime, end: datetime, *, grid: datetime, limit: int
) -> list[datetime]:
    """The slots in [start, end), at most `limit` + 1 (so that a caller can tell there are more than `limit`).
    A periodic grid is the one `grid` (any of its slots) belongs to, extended backwards and forwards; cron slots
    are the expression's times in its time zone."""
    if start >= end or not trigger.is_scheduled:
        return []
    first = _first_at_or_after(trigger, start, grid=grid)
    return list(_slots(trigger, first, end - timedelta(microseconds=1), limit=limit + 1))


def _after(trigger: TriggerSpec, slot: datetime) -> datetime:
    """The slot after `slot` on its grid."""
    following = next_fire_after(trigger, slot, slot)
    assert following is not None
    return following


def _first_at_or_after(trigger: TriggerSpec, moment: datetime, *, grid: datetime) -> datetime:
    if trigger.type is TriggerType.PERIODIC:
        assert trigger.interval is not None
        steps = -((grid - moment) // trigger.interval)  # ceil((moment - grid) / interval)
        return grid + steps * trigger.interval
    return _next_cron(trigger, moment - timedelta(milliseconds=1))


def _latest_due(trigger: TriggerSpec, slot: datetime, now: datetime) -> datetime:
    if trigger.type is TriggerType.PERIODIC:
        assert trigger.interval is not None
        return slot + ((now - slot) // trigger.interval) * trigger.interval
    latest = slot
    for later in _slots(trigger, slot, now, limit=MAX_COUNTED):
        latest = later
    return latest


def _slots(
    trigger: TriggerSpec, first: datetime, until: datetime, *, limit: int | None, newest: int | None = None
) -> Iterator[datetime]:
    """The slots from `first` (a slot) up to and including `until`, the first `limit` of them, or the last
    `newest` of them."""
    if newest is not None:
        if trigger.type is TriggerType.PERIODIC and first <= until:
            assert trigger.interval is not None
            last = first + ((until - first) // trigger.interval) * trigger.interval
            first = max(first, last - (newest - 1) * trigger.interval)
        kept: deque[datetime] = deque(maxlen=newest)
        kept.extend(_slots(trigger, first, until, limit=limit))
        yield from kept
        return
    slot, produced = first, 0
    while slot <= until and (limit is None or produced < limit):
        yield slot
        produced += 1
        slot = _after(trigger, slot)


def _count(trigger: TriggerSpec, first: datetime, until: datetime, *, inclusive: bool = True) -> Missed:
    """The slots from `first` (a slot) to `until` (included or not)."""
    if first > until or (first == until and not inclusive):
        return NOTHING_MISSED
    if trigger.type is TriggerType.PERIODIC:
        assert trigger.interval is not None
        count = (until - first) // trigger.interval + 1
        if not inclusive and (until - first) % trigger.interval == timedelta(0):
            count -= 1
        last = first + (count - 1) * trigger.interval
        newest = [last - k * trigger.interval for k in range(min(count, RECENT_FIRES))]
        return Missed(count, tuple(reversed(newest)))
    recent: deque[datetime] = deque(maxlen=RECENT_FIRES)
    count = 0
    for slot in _slots(trigger, first, until, limit=MAX_COUNTED):
        if slot == until and not inclusive:
            break
        recent.append(slot)
        count += 1
    return Missed(count, tuple(recent))


_BACKLOG_NAMESPACE = uuid.UUID("6f1c7a52-3a59-4d0e-9a55-2f4c6c0e0b1d")


def backlog_execution_id(workflow_id: str, created_at: datetime, slot: datetime) -> str:
    """The id of the execution a backlog slot becomes: the same for every attempt to fire it (after a crash, by
    another scheduler), so that storing it twice is refused and a slot fires once. `created_at` tells a workflow
    from a later one under a deleted one's id."""
    name = f"{workflow_id}|{created_at.isoformat()}|{slot.astimezone(UTC).isoformat()}"
    return uuid.uuid5(_BACKLOG_NAMESPACE, name).hex
