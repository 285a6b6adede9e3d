import math

import pytest
from bench.stats import distribution, histogram_quantile, percentile


def test_percentile_is_nearest_rank_so_always_an_observed_value() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100

    assert percentile(values, 50) == 50
    assert percentile(values, 90) == 90
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100


def test_percentile_does_not_depend_on_input_order() -> None:
    assert percentile([5.0, 1.0, 4.0, 2.0, 3.0], 50) == 3.0


def test_percentile_of_a_small_sample_rounds_the_rank_up() -> None:
    assert percentile([10.0, 20.0, 30.0], 50) == 20.0
    assert percentile([10.0, 20.0, 30.0], 99) == 30.0
    assert percentile([7.0], 1) == 7.0


@pytest.mark.parametrize("p", [0, -1, 100.5])
def test_percentile_outside_0_to_100_is_refused(p: float) -> None:
    with pytest.raises(ValueError):
        percentile([1.0], p)


def test_percentile_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)


def test_distribution_gives_count_percentiles_max_and_mean_rounded() -> None:
    figures = distribution([1.04, 2.0, 3.0, 4.0, 100.06])

    assert figures == {"count": 5, "p50": 3.0, "p90": 100.1, "p99": 100.1, "max": 100.1, "mean": 22.0}


def test_distribution_of_nothing_says_so() -> None:
    assert distribution([]) == {"count": 0}


# -- histogram quantiles -----------------------------------------------------------------------------------------

BUCKETS = [(0.01, 50.0), (0.05, 90.0), (0.1, 100.0), (math.inf, 100.0)]


def test_histogram_quantile_interpolates_within_the_bucket() -> None:
    assert histogram_quantile(0.5, BUCKETS) == pytest.approx(0.01)
    assert histogram_quantile(0.7, BUCKETS) == pytest.approx(0.03)
    assert histogram_quantile(0.25, BUCKETS) == pytest.approx(0.005)


def test_histogram_quantile_in_the_infinite_bucket_is_the_highest_finite_bound() -> None:
    assert histogram_quantile(0.99, [(0.01, 1.0), (0.1, 2.0), (math.inf, 10.0)]) == 0.1


def test_histogram_quantile_of_an_empty_histogram_is_none() -> None:
    assert histogram_quantile(0.5, [(0.01, 0.0), (math.inf, 0.0)]) is None
    assert histogram_quantile(0.5, []) is None
