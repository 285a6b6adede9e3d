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

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from croniter import croniter

from wfa.domain.clock import truncate_to_ms
from wfa.domain.workflow import CRON_SEARCH_YEARS, TriggerSpec, TriggerType


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
