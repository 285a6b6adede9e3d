"""Cutting a long run into windows of equal length, and the soak's verdicts: does the last window look like the
first?

A sample is `(offset, value)`, the offset in seconds from the run's start. Window `i` holds the offsets in
`[i × length, (i + 1) × length)`; a sample outside every window (before the start, after the end) is dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

Sample = tuple[float, float]

#: The soak's targets: the last window's trigger latency at most this many times the first's ...
LATENCY_RATIO_LIMIT = 1.5
#: ... and each process's resident memory grown by less than this fraction from the first window to the last.
RSS_GROWTH_LIMIT = 0.2


def window_count(seconds: float, length: float) -> int:
    """How many windows of `length` a run of `seconds` has; a last, partial window counts when it is at least
    half a window long (shorter, its figures say little)."""
    if length <= 0:
        raise ValueError(f"window length must be positive, got {length}")
    whole, rest = divmod(seconds, length)
    return max(1, int(whole) + (1 if rest >= length / 2 else 0))


def split(samples: Iterable[Sample], length: float, count: int) -> list[list[float]]:
    """The values of `samples` per window, in their order of arrival."""
    windows: list[list[float]] = [[] for _ in range(count)]
    for offset, value in samples:
        index = _index(offset, length)
        if 0 <= index < count:
            windows[index].append(value)
    return windows


def last_per_window(samples: Iterable[Sample], length: float, count: int) -> list[float | None]:
    """The value of each window's latest sample (a gauge such as RSS, as the window ends); None if it has none."""
    latest: list[tuple[float, float] | None] = [None] * count
    for offset, value in samples:
        index = _index(offset, length)
        if 0 <= index < count:
            current = latest[index]
            if current is None or offset >= current[0]:
                latest[index] = (offset, value)
    return [None if entry is None else entry[1] for entry in latest]


def increase_per_window(samples: Iterable[Sample], length: float, count: int) -> list[float | None]:
    """How much a growing counter (CPU seconds) rose within each window: its last sample there minus the last
    sample before it (or the window's first, for the first window); None without two samples to compare."""
    ordered = sorted(samples)
    rises: list[float | None] = []
    for index in range(count):
        start, end = index * length, (index + 1) * length
        before = [value for offset, value in ordered if offset < start]
        inside = [value for offset, value in ordered if start <= offset < end]
        base = before[-1] if before else (inside[0] if len(inside) > 1 else None)
        rises.append(None if base is None or not inside else inside[-1] - base)
    return rises


def _index(offset: float, length: float) -> int:
    return -1 if offset < 0 else int(offset // length)


def ratio(first: float | None, last: float | None) -> float | None:
    """`last / first`, or None when either is missing or the first is not positive."""
    if first is None or last is None or first <= 0:
        return None
    return last / first


def latency_verdict(first: Mapping[str, Any], last: Mapping[str, Any]) -> dict[str, Any]:
    """The last window's trigger latency against the first's (distributions as `stats.distribution` gives):
    the ratios of p50 and p99, and whether both stay within LATENCY_RATIO_LIMIT (None if either window measured
    nothing)."""
    ratios = {f"{p}_ratio": ratio(first.get(p), last.get(p)) for p in ("p50", "p99")}
    known = [value for value in ratios.values() if value is not None]
    within = None if len(known) < len(ratios) else all(value <= LATENCY_RATIO_LIMIT for value in known)
    return {**{key: _round(value) for key, value in ratios.items()}, "within_limit": within}


def rss_verdict(first: Mapping[str, float | None], last: Mapping[str, float | None]) -> dict[str, Any]:
    """Each process's RSS growth from the first window's end to the last's (a fraction: 0.1 is 10 %), and
    whether every one stays under RSS_GROWTH_LIMIT (None if none could be measured)."""
    # Judged on the ratio itself: 120 / 100 - 1 is a hair under 0.2 in floating point.
    ratios = {process: ratio(first.get(process), last.get(process)) for process in sorted(set(first) | set(last))}
    known = [value for value in ratios.values() if value is not None]
    return {
        "growth": {process: None if value is None else _round(value - 1) for process, value in ratios.items()},
        "under_limit": all(value < 1 + RSS_GROWTH_LIMIT for value in known) if known else None,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


Pick = Callable[[Iterable[Sample], float, int], list[float | None]]


def per_process(
    samples: Mapping[str, Sequence[Sample]], pick: Pick, length: float, count: int
) -> list[dict[str, float | None]]:
    """`pick(samples, length, count)` for each process, regrouped by window: `[{process: value}, ...]`."""
    columns = {process: pick(series, length, count) for process, series in samples.items()}
    return [{process: column[index] for process, column in sorted(columns.items())} for index in range(count)]
