import time
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from wfa.domain.schedule import first_fire, next_fire_after
from wfa.domain.workflow import TriggerSpec

ANCHOR = datetime(2026, 5, 1, 8, 0, 0, 123_000, tzinfo=UTC)


def _periodic(interval: str) -> TriggerSpec:
    return TriggerSpec.model_validate({"type": "periodic", "interval": interval})


def _cron(expression: str, timezone: str = "UTC") -> TriggerSpec:
    return TriggerSpec.model_validate({"type": "cron", "cron": expression, "timezone": timezone})


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _fires(trigger: TriggerSpec, after: datetime, count: int) -> list[datetime]:
    """The next `count` slots, each computed the way the scheduler does after firing the previous one."""
    slots = [first_fire(trigger, after)]
    while len(slots) < count:
        previous = slots[-1]
        assert previous is not None
        slots.append(next_fire_after(trigger, previous, previous))
    return [slot for slot in slots if slot is not None]


# -- periodic --------------------------------------------------------------------------------------------------


def test_periodic_grid_starts_one_interval_after_the_anchor() -> None:
    assert _fires(_periodic("10s"), ANCHOR, 3) == [ANCHOR + timedelta(seconds=s) for s in (10, 20, 30)]


def test_periodic_grid_keeps_to_the_anchor_when_a_fire_is_late() -> None:
    slot = ANCHOR + timedelta(seconds=10)
    late = slot + timedelta(seconds=3, milliseconds=456)
    assert next_fire_after(_periodic("10s"), slot, late) == ANCHOR + timedelta(seconds=20)


def test_periodic_next_slot_when_now_is_exactly_on_a_slot() -> None:
    slot = ANCHOR + timedelta(minutes=5)
    assert next_fire_after(_periodic("5m"), slot, slot) == slot + timedelta(minutes=5)
    assert next_fire_after(_periodic("5m"), slot, slot + timedelta(minutes=10)) == slot + timedelta(minutes=15)


def test_periodic_missed_slots_collapse_into_the_next_future_slot() -> None:
    slot = ANCHOR + timedelta(seconds=10)
    after_downtime = slot + timedelta(seconds=10 * 1000 + 4)
    assert next_fire_after(_periodic("10s"), slot, after_downtime) == slot + timedelta(seconds=10 * 1001)


def test_periodic_slot_still_ahead_is_kept() -> None:
    slot = ANCHOR + timedelta(hours=1)
    assert next_fire_after(_periodic("1h"), slot, ANCHOR) == slot


def test_periodic_long_interval_of_a_year() -> None:
    trigger = _periodic("365d")
    first = first_fire(trigger, ANCHOR)
    assert first == ANCHOR + timedelta(days=365)
    assert next_fire_after(trigger, first, first + timedelta(days=1)) == ANCHOR + timedelta(days=730)


def test_manual_trigger_never_fires() -> None:
    manual = TriggerSpec.model_validate({"type": "manual"})
    assert first_fire(manual, ANCHOR) is None
    assert next_fire_after(manual, ANCHOR, ANCHOR) is None


# -- cron ------------------------------------------------------------------------------------------------------


def test_cron_every_minute_fires_on_each_minute_boundary() -> None:
    start = _utc("2026-05-01T08:00:30.500")
    assert _fires(_cron("* * * * *"), start, 3) == [
        _utc("2026-05-01T08:01"),
        _utc("2026-05-01T08:02"),
        _utc("2026-05-01T08:03"),
    ]


def test_cron_fires_strictly_after_a_moment_on_a_slot() -> None:
    slot = _utc("2026-05-01T08:15")
    assert next_fire_after(_cron("*/15 * * * *"), slot, slot) == _utc("2026-05-01T08:30")


def test_cron_missed_slots_collapse_into_the_next_future_slot() -> None:
    slot = _utc("2026-05-01T08:15")
    assert next_fire_after(_cron("*/15 * * * *"), slot, _utc("2026-05-03T11:20")) == _utc("2026-05-03T11:30")


@pytest.mark.parametrize(
    ("day", "expected"),
    [("2026-01-15", "2026-01-15T08:00"), ("2026-07-15", "2026-07-15T07:00")],
    ids=["winter-cet", "summer-cest"],
)
def test_cron_runs_on_the_wall_clock_of_its_timezone(day: str, expected: str) -> None:
    assert first_fire(_cron("0 9 * * *", "Europe/Paris"), _utc(f"{day}T00:00")) == _utc(expected)


def test_cron_fixed_time_in_the_skipped_spring_hour_fires_once_as_the_clocks_jump() -> None:
    # 2026-03-08, America/New_York: 02:00 EST jumps to 03:00 EDT, so 02:30 does not exist that day.
    fires = _fires(_cron("30 2 * * *", "America/New_York"), _utc("2026-03-07T12:00"), 3)
    assert fires == [
        _utc("2026-03-08T07:00"),  # 03:00 EDT, the first moment after the gap
        _utc("2026-03-09T06:30"),  # 02:30 EDT
        _utc("2026-03-10T06:30"),
    ]


def test_cron_fixed_time_in_the_repeated_autumn_hour_fires_once() -> None:
    # 2026-11-01, America/New_York: 02:00 EDT falls back to 01:00 EST, so 01:30 happens twice.
    fires = _fires(_cron("30 1 * * *", "America/New_York"), _utc("2026-10-31T12:00"), 3)
    assert fires == [
        _utc("2026-11-01T05:30"),  # 01:30 EDT, the first pass
        _utc("2026-11-02T06:30"),  # 01:30 EST the next day, not 01:30 EST on the day of the change
        _utc("2026-11-03T06:30"),
    ]


def test_cron_fixed_time_does_not_fire_the_second_pass_after_a_fire_in_the_first() -> None:
    trigger = _cron("30 1 * * *", "America/New_York")
    first_pass = _utc("2026-11-01T05:30")
    between_passes = _utc("2026-11-01T06:10")  # 01:10 EST, before the second 01:30
    assert next_fire_after(trigger, first_pass, between_passes) == _utc("2026-11-02T06:30")


def test_cron_wildcard_hour_keeps_to_elapsed_time_through_the_repeated_hour() -> None:
    fires = _fires(_cron("30 * * * *", "America/New_York"), _utc("2026-11-01T05:00"), 3)
    assert fires == [_utc("2026-11-01T05:30"), _utc("2026-11-01T06:30"), _utc("2026-11-01T07:30")]


def test_cron_wildcard_minute_keeps_to_elapsed_time_through_the_skipped_spring_hour() -> None:
    fires = _fires(_cron("*/30 * * * *", "America/New_York"), _utc("2026-03-08T06:00"), 3)
    assert fires == [
        _utc("2026-03-08T06:30"),  # 01:30 EST
        _utc("2026-03-08T07:00"),  # 03:00 EDT: half an hour later, the clocks having jumped
        _utc("2026-03-08T07:30"),
    ]


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        # 2026-10-04: 02:00 AEST jumps to 03:00 AEDT, so 02:30 that day is 03:00.
        ("2026-10-03T00:00", ["2026-10-03T16:00", "2026-10-04T15:30", "2026-10-05T15:30"]),
        # 2026-04-05: 03:00 AEDT falls back to 02:00 AEST, so 02:30 comes twice; the first pass fires.
        ("2026-04-04T00:00", ["2026-04-04T15:30", "2026-04-05T16:30", "2026-04-06T16:30"]),
    ],
    ids=["spring-october", "autumn-april"],
)
def test_cron_fixed_time_across_southern_hemisphere_changes(after: str, expected: list[str]) -> None:
    fires = _fires(_cron("30 2 * * *", "Australia/Sydney"), _utc(after), 3)
    assert fires == [_utc(moment) for moment in expected]


def test_cron_fixed_time_in_a_half_hour_daylight_saving_gap() -> None:
    # Lord Howe Island moves its clocks by 30 minutes: on 2026-10-04, 02:00 (+10:30) jumps to 02:30 (+11:00).
    fires = _fires(_cron("15 2 * * *", "Australia/Lord_Howe"), _utc("2026-10-03T00:00"), 2)
    assert fires == [_utc("2026-10-03T15:30"), _utc("2026-10-04T15:15")]


def test_cron_weekly_job_keeps_local_midnight_when_the_offset_changes() -> None:
    fires = _fires(_cron("0 0 * * 0", "Europe/London"), _utc("2026-03-28T00:00"), 3)
    assert fires == [_utc("2026-03-29T00:00"), _utc("2026-04-04T23:00"), _utc("2026-04-11T23:00")]


def test_cron_day_31_skips_months_of_30_days() -> None:
    fires = _fires(_cron("0 0 31 * *"), _utc("2026-03-31T12:00"), 3)
    assert fires == [_utc("2026-05-31T00:00"), _utc("2026-07-31T00:00"), _utc("2026-08-31T00:00")]


def test_cron_leap_day_fires_on_the_next_29_february() -> None:
    fires = _fires(_cron("0 0 29 2 *"), _utc("2026-03-01T00:00"), 2)
    assert fires == [_utc("2028-02-29T00:00"), _utc("2032-02-29T00:00")]


def test_cron_slots_are_whole_milliseconds_in_utc() -> None:
    fire = first_fire(_cron("0 9 * * *", "Asia/Kolkata"), _utc("2026-05-01T00:00:00.999999"))
    assert fire == _utc("2026-05-01T03:30")
    assert fire is not None
    assert fire.tzinfo is UTC
    assert fire.microsecond == 0


# -- cron expressions that (almost) never match -------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    [
        "0 0 30 2 *",
        "0 0 31 4 *",
        "0 0 31 2,4,6,9,11 *",
        "* * 30,31 2 *",
        "0 0 1 1 1#5",  # 1 January is never in a month's fifth week
        "0 0 1-7 * L1",  # a month's last Monday is never in its first week
    ],
)
@pytest.mark.parametrize("timezone", ["UTC", "America/New_York"])
def test_cron_that_can_never_match_is_refused(expression: str, timezone: str) -> None:
    with pytest.raises(ValidationError, match="never"):
        _cron(expression, timezone)


def test_refusing_a_cron_that_never_matches_is_quick() -> None:
    # The slowest expressions found: every weekday's nth occurrence against days it can never fall on.
    started = time.monotonic()
    for expression in ("0 0 8-14 * L1,L2,L3,L4,L5,L6,L0", "0 0 1,2,3,4,5,6,7 * 0#5,1#5,2#5,3#5,4#5,5#5,6#5"):
        with pytest.raises(ValidationError):
            _cron(expression)
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize(
    "expression",
    [
        "0 0 29 2 *",  # every 4 years, 8 across 2100
        "0 0 29 2 1#5",  # 29 February on a Monday: 28 years apart, 40 across 2100
        "0 0 * 2 5#5",  # a fifth Friday in February
        "30 2 * 3 0#2",  # New York's spring-forward day, at a time that day never has there
    ],
)
@pytest.mark.parametrize("timezone", ["UTC", "America/New_York"])
def test_a_rare_cron_fires_after_any_moment(expression: str, timezone: str) -> None:
    trigger = _cron(expression, timezone)
    # The Gregorian calendar repeats every 400 years; starts spread over one cycle, the turn of 2100 included.
    for year in [*range(2000, 2400, 7), 2097, 2098, 2099, 2100, 2101]:
        after = datetime(year, 3, 1, 12, tzinfo=UTC)
        fire = first_fire(trigger, after)
        assert fire is not None
        assert fire > after
        assert next_fire_after(trigger, fire, fire) > fire  # type: ignore[operator]
