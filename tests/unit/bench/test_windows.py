import pytest
from bench.windows import (
    increase_per_window,
    last_per_window,
    latency_verdict,
    per_process,
    ratio,
    rss_verdict,
    split,
    window_count,
)


def test_a_run_has_as_many_windows_as_fit_and_a_last_one_at_least_half_long() -> None:
    assert window_count(1800, 300) == 6
    assert window_count(120, 30) == 4
    assert window_count(130, 30) == 4  # 10 s left over: too short to be a window of its own
    assert window_count(150, 60) == 3
    assert window_count(10, 300) == 1


def test_window_length_must_be_positive() -> None:
    with pytest.raises(ValueError):
        window_count(60, 0)


def test_samples_fall_in_the_window_their_offset_starts_and_outside_ones_are_dropped() -> None:
    samples = [(0.0, 1.0), (29.9, 2.0), (30.0, 3.0), (59.0, 4.0), (60.0, 5.0), (-1.0, 6.0)]

    assert split(samples, 30, 2) == [[1.0, 2.0], [3.0, 4.0]]


def test_a_gauge_per_window_is_its_latest_sample_there() -> None:
    samples = [(25.0, 12.0), (5.0, 10.0), (35.0, 20.0)]

    assert last_per_window(samples, 30, 3) == [12.0, 20.0, None]


def test_a_counter_per_window_is_its_rise_since_the_previous_window() -> None:
    cpu = [(0.0, 100.0), (10.0, 103.0), (29.0, 106.0), (35.0, 107.0), (59.0, 110.0)]

    assert increase_per_window(cpu, 30, 3) == [6.0, 4.0, None]


def test_a_counter_with_one_sample_in_the_first_window_has_no_rise() -> None:
    assert increase_per_window([(1.0, 5.0)], 30, 1) == [None]


def test_per_process_regroups_columns_by_window() -> None:
    rss = {"runner-svc": [(1.0, 60.0), (31.0, 61.0)], "mongo server": [(2.0, 200.0)]}

    assert per_process(rss, last_per_window, 30, 2) == [
        {"mongo server": 200.0, "runner-svc": 60.0},
        {"mongo server": None, "runner-svc": 61.0},
    ]


def test_ratio_needs_a_positive_first_value() -> None:
    assert ratio(2.0, 3.0) == 1.5
    assert ratio(0.0, 3.0) is None
    assert ratio(None, 3.0) is None


def test_latency_within_limit_when_both_percentiles_stay_within_one_and_a_half_times() -> None:
    verdict = latency_verdict({"p50": 20.0, "p99": 100.0}, {"p50": 30.0, "p99": 120.0})

    assert verdict == {"p50_ratio": 1.5, "p99_ratio": 1.2, "within_limit": True}


def test_latency_beyond_limit_when_either_percentile_grows_more() -> None:
    assert latency_verdict({"p50": 20.0, "p99": 100.0}, {"p50": 21.0, "p99": 151.0})["within_limit"] is False


def test_latency_verdict_is_unknown_when_a_window_measured_nothing() -> None:
    assert latency_verdict({"count": 0}, {"p50": 1.0, "p99": 2.0})["within_limit"] is None


def test_rss_growth_is_per_process_and_must_stay_under_a_fifth() -> None:
    verdict = rss_verdict({"a": 100.0, "b": 50.0}, {"a": 119.0, "b": 50.0})

    assert verdict == {"growth": {"a": 0.19, "b": 0.0}, "under_limit": True}
    assert rss_verdict({"a": 100.0}, {"a": 120.0})["under_limit"] is False


def test_rss_of_a_process_missing_in_a_window_is_not_judged() -> None:
    verdict = rss_verdict({"a": 100.0, "b": None}, {"a": 101.0, "b": 90.0})

    assert verdict["growth"]["b"] is None
    assert verdict["under_limit"] is True
