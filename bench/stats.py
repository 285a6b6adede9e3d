"""Latency distributions: nearest-rank percentiles over a sample of durations, and quantiles of a histogram."""

from __future__ import annotations

import math
from collections.abc import Sequence

from bench.promtext import Buckets

#: The percentiles every distribution reports.
PERCENTILES = (50, 90, 99)


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank `p`-th percentile: the smallest value with at least p% of the sample at or below it.

    Always one of the observed values (no interpolation), so p100 is the maximum and, for 100 values, p99 is
    the second largest. Raises ValueError for an empty sample or p outside (0, 100].
    """
    if not values:
        raise ValueError("percentile of an empty sample")
    if not 0 < p <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {p}")
    ordered = sorted(values)
    rank = math.ceil(p / 100 * len(ordered))
    return ordered[rank - 1]


def distribution(values: Sequence[float], digits: int = 1) -> dict[str, float | int]:
    """`count`, `p50`, `p90`, `p99`, `max` and `mean` of a sample, rounded to `digits` decimals.

    An empty sample gives `{"count": 0}`: a scenario that measured nothing says so rather than failing.
    """
    if not values:
        return {"count": 0}
    figures: dict[str, float | int] = {"count": len(values)}
    for p in PERCENTILES:
        figures[f"p{p}"] = round(percentile(values, p), digits)
    figures["max"] = round(max(values), digits)
    figures["mean"] = round(sum(values) / len(values), digits)
    return figures


def histogram_quantile(q: float, buckets: Buckets) -> float | None:
    """The `q`-quantile (0 < q <= 1) of a histogram's observations, interpolated linearly within the bucket it
    falls in, as Prometheus' histogram_quantile does: an estimate, never finer than the bucket bounds. None for an
    empty histogram; the highest finite bound when it falls in the +Inf bucket."""
    if not 0 < q <= 1:
        raise ValueError(f"quantile must be in (0, 1], got {q}")
    if not buckets or buckets[-1][1] == 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound
