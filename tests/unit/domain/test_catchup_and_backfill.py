"""What a fire does with missed slots (`trigger.catchup`), the next fires a schedule lists, and the slots a backfill
covers."""

from datetime import UTC, datetime, timedelta

import pytest

from wfa.domain.schedule import (
    MAX_CATCHUP,
    ON_TIME,
    backlog_execution_id,
    next_fires,
    plan_fire,
    slots_between,
)
from wfa.domain.workflow import TriggerSpec

ANCHOR = datetime(2026, 5, 1, 8, 0, 0, 123_000, tzinfo=UTC)
TEN = timedelta(seconds=10)


def _periodic(interval: str = "10s", **extra: str) -> TriggerSpec:
    return TriggerSpec.model_validate({"type": "periodic", "interval": interval, **extra})


def _cron(expression: str, timezone: str = "UTC", **extra: str) -> TriggerSpec:
    return TriggerSpec.model_validate({"type": "cron", "cron": expression, "timezone": timezone, **extra})


# -- definitions ---------------------------------------------------------------------------------------------------


def test_scheduled_triggers_default_to_latest_catchup_within_an_hour() -> None:
    trigger = _periodic()
    assert (trigger.catchup, trigger.catchup_window) == ("latest", timedelta(hours=1))


def test_a_manual_trigger_takes_no_catchup() -> None:
    with pytest.raises(ValueError, match="catchup"):
        TriggerSpec.model_validate({"type": "manual", "catchup": "all"})
    assert TriggerSpec.model_validate({"type": "manual"}).catchup is None


# -- a fire on time: every mode fires the slot -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["latest", "none", "all"])
def test_a_slot_fired_on_time_fires_and_misses_nothing(mode: str) -> None:
    slot = ANCHOR + TEN
    plan = plan_fire(_periodic(catchup=mode), slot, slot + timedelta(milliseconds=40))
    assert (plan.fires, plan.next_run_at, plan.missed.count, plan.backlog) == (slot, slot + TEN, 0, ())


# -- after downtime ----------------------------------------------------------------------------------------------


def test_latest_collapses_the_missed_slots_into_one_fire_of_the_stored_slot() -> None:
    slot = ANCHOR + TEN
    now = slot + timedelta(seconds=35)  # slots at +10, +20, +30 after `slot` passed too
    plan = plan_fire(_periodic(catchup="latest"), slot, now)
    assert plan.fires == slot
    assert plan.next_run_at == slot + 4 * TEN
    assert plan.missed.count == 3
    assert plan.missed.newest == (slot + TEN, slot + 2 * TEN, slot + 3 * TEN)


def test_none_fires_the_latest_slot_still_on_time_and_counts_the_older_ones_missed() -> None:
    slot = ANCHOR + TEN
    now = slot + timedelta(seconds=35)
    plan = plan_fire(_periodic(catchup="none"), slot, now)
    assert (plan.fires, plan.next_run_at, plan.missed.count) == (slot + 3 * TEN, slot + 4 * TEN, 3)


def test_none_fires_nothing_when_even_the_latest_slot_is_late() -> None:
    slot = ANCHOR + timedelta(hours=1)
    now = slot + ON_TIME + timedelta(seconds=1)
    plan = plan_fire(_periodic("1h", catchup="none"), slot, now)
    assert (plan.fires, plan.next_run_at, plan.missed.count, plan.backlog) == (None, slot + timedelta(hours=1), 1, ())


def test_all_queues_every_missed_slot_oldest_first() -> None:
    slot = ANCHOR + TEN
    now = slot + timedelta(seconds=25)
    plan = plan_fire(_periodic(catchup="all"), slot, now)
    assert plan.fires is None
    assert plan.backlog == (slot, slot + TEN, slot + 2 * TEN)
    assert (plan.next_run_at, plan.missed.count) == (slot + 3 * TEN, 0)


def test_all_counts_slots_older_than_the_window_as_missed() -> None:
    slot = ANCHOR + timedelta(minutes=1)
    now = slot + timedelta(minutes=10)
    plan = plan_fire(_periodic("1m", catchup="all", catchupWindow="5m"), slot, now)
    assert plan.backlog == tuple(now - timedelta(minutes=m) for m in (5, 4, 3, 2, 1, 0))
    assert plan.missed.count == 5  # +0 .. +4 minutes after the stored slot


def test_all_fires_at_most_the_newest_hundred() -> None:
    slot = ANCHOR + timedelta(seconds=1)
    now = slot + timedelta(seconds=149)  # 150 slots due, all within the hour
    plan = plan_fire(_periodic("1s", catchup="all"), slot, now)
    assert len(plan.backlog) == MAX_CATCHUP
    assert plan.backlog[0] == now - timedelta(seconds=MAX_CATCHUP - 1)
    assert plan.backlog[-1] == now
    assert plan.missed.count == 50


def test_cron_catchup_all_within_the_window() -> None:
    trigger = _cron("*/15 * * * *", catchup="all", catchupWindow="1h")
    slot = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    now = datetime(2026, 5, 1, 10, 1, tzinfo=UTC)
    plan = plan_fire(trigger, slot, now)
    nine = tuple(datetime(2026, 5, 1, 9, m, tzinfo=UTC) for m in (15, 30, 45))
    assert plan.backlog == (*nine, datetime(2026, 5, 1, 10, 0, tzinfo=UTC))
    assert plan.missed.count == 5  # 8:00 .. 9:00
    assert plan.next_run_at == datetime(2026, 5, 1, 10, 15, tzinfo=UTC)


# -- next fires --------------------------------------------------------------------------------------------------


def test_next_fires_of_a_periodic_grid() -> None:
    start = ANCHOR + TEN
    assert next_fires(_periodic(), start, 3) == [start, start + TEN, start + 2 * TEN]


def test_next_fires_of_a_cron_across_the_spring_change_in_berlin() -> None:
    # 29 March 2026: 02:00 CET becomes 03:00 CEST; a daily 02:30 job fires once as the clocks jump.
    trigger = _cron("30 2 * * *", "Europe/Berlin")
    start = datetime(2026, 3, 28, 1, 30, tzinfo=UTC)  # 02:30 CET
    assert next_fires(trigger, start, 3) == [
        start,
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),  # 03:00 CEST, the jump
        datetime(2026, 3, 30, 0, 30, tzinfo=UTC),  # 02:30 CEST
    ]


def test_next_fires_of_a_cron_across_the_autumn_change_in_new_york() -> None:
    # 1 November 2026: 02:00 EDT becomes 01:00 EST; a daily 01:30 job fires once, at the first pass.
    trigger = _cron("30 1 * * *", "America/New_York")
    start = datetime(2026, 10, 31, 5, 30, tzinfo=UTC)  # 01:30 EDT
    assert next_fires(trigger, start, 3) == [
        start,
        datetime(2026, 11, 1, 5, 30, tzinfo=UTC),  # 01:30 EDT, first pass
        datetime(2026, 11, 2, 6, 30, tzinfo=UTC),  # 01:30 EST
    ]


def test_a_manual_trigger_or_a_missing_slot_has_no_next_fires() -> None:
    assert next_fires(TriggerSpec.model_validate({"type": "manual"}), None, 5) == []
    assert next_fires(_periodic(), None, 5) == []


# -- backfill slots ----------------------------------------------------------------------------------------------


def test_backfill_slots_of_a_periodic_grid_extend_backwards_from_its_anchor() -> None:
    grid = ANCHOR + TEN  # the stored nextRunAt
    start = ANCHOR - timedelta(seconds=25)
    end = ANCHOR + timedelta(seconds=5)
    assert slots_between(_periodic(), start, end, grid=grid, limit=100) == [
        ANCHOR - timedelta(seconds=20),
        ANCHOR - TEN,
        ANCHOR,
    ]


def test_backfill_range_is_half_open() -> None:
    assert slots_between(_periodic(), ANCHOR, ANCHOR + 2 * TEN, grid=ANCHOR, limit=100) == [ANCHOR, ANCHOR + TEN]


def test_backfill_slots_of_a_cron_are_its_times_in_its_timezone() -> None:
    trigger = _cron("0 9 * * 1-5", "Europe/Berlin")
    start = datetime(2026, 3, 27, 0, 0, tzinfo=UTC)  # a Friday, CET
    end = datetime(2026, 3, 31, 0, 0, tzinfo=UTC)
    assert slots_between(trigger, start, end, grid=start, limit=100) == [
        datetime(2026, 3, 27, 8, 0, tzinfo=UTC),  # 09:00 CET
        datetime(2026, 3, 30, 7, 0, tzinfo=UTC),  # 09:00 CEST (Monday)
    ]


def test_backfill_returns_one_more_than_the_limit_to_tell_a_range_too_large() -> None:
    slots = slots_between(_periodic("1s"), ANCHOR, ANCHOR + timedelta(hours=1), grid=ANCHOR, limit=1000)
    assert len(slots) == 1001


def test_an_empty_or_reversed_range_has_no_slots() -> None:
    assert slots_between(_periodic(), ANCHOR, ANCHOR, grid=ANCHOR, limit=10) == []
    assert slots_between(_periodic(), ANCHOR + TEN, ANCHOR, grid=ANCHOR, limit=10) == []


def test_a_backlog_slot_always_names_the_same_execution() -> None:
    one = backlog_execution_id("wf", ANCHOR, ANCHOR + TEN)
    assert one == backlog_execution_id("wf", ANCHOR, ANCHOR + TEN)
    assert one != backlog_execution_id("wf", ANCHOR, ANCHOR + 2 * TEN)
    assert one != backlog_execution_id("wf", ANCHOR + TEN, ANCHOR + TEN)  # a later workflow under the same id
