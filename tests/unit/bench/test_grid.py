from datetime import UTC, datetime, timedelta

from bench.grid import slots_between, slots_up_to

ANCHOR = datetime(2026, 5, 1, 8, 0, 0, 250_000, tzinfo=UTC)
TEN_S = timedelta(seconds=10)


def test_the_first_slot_is_one_interval_after_the_anchor() -> None:
    assert slots_up_to(ANCHOR, TEN_S, ANCHOR + timedelta(seconds=9.999)) == 0
    assert slots_up_to(ANCHOR, TEN_S, ANCHOR + TEN_S) == 1


def test_a_moment_before_the_anchor_has_no_slots() -> None:
    assert slots_up_to(ANCHOR, TEN_S, ANCHOR - timedelta(hours=1)) == 0


def test_a_window_counts_the_slots_after_its_start_up_to_its_end() -> None:
    start, end = ANCHOR + timedelta(seconds=10), ANCHOR + timedelta(seconds=40)

    assert slots_between(ANCHOR, TEN_S, start, end) == 3  # 20 s, 30 s, 40 s
    assert slots_between(ANCHOR, TEN_S, start, start) == 0
