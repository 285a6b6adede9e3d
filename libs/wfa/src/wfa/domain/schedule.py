"""When a scheduled workflow fires.

Periodic workflows fire on the grid `anchor + k × interval` (the anchor is the creation time, or the time of
an update that changed the trigger); cron workflows on their expression in their time zone. Both answer the
same question: the first slot strictly after a moment, keeping to the grid the last slot belonged to.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from croniter import croniter

from wfa.domain.clock import truncate_to_ms
from wfa.domain.workflow import TriggerSpec, TriggerType


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
    iterator = croniter(trigger.cron, after.astimezone(zone))
    fire: datetime = iterator.get_next(datetime)
    return truncate_to_ms(fire.astimezone(UTC))
