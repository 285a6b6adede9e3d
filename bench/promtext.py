"""Counters, gauges and histograms read from Prometheus text exposition (what each process serves on /metrics),
and their deltas.

A counter is identified by its sample name (`wfa_mongodb_commands_total`); its series by their label sets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client.parser import text_string_to_metric_families

#: A series' labels as a sorted tuple of (name, value) pairs, so that it can be a dict key.
Labels = tuple[tuple[str, str], ...]


class CounterWentBackwards(ValueError):
    """A counter is lower after than before: the process restarted in between, so the delta means nothing."""


def counter_series(text: str, sample_name: str) -> dict[Labels, float]:
    """Every series of the counter sample `sample_name` in `text`, by label set (empty if it is not there)."""
    series: dict[Labels, float] = {}
    for family in text_string_to_metric_families(text):
        if family.type != "counter":
            continue
        for sample in family.samples:
            if sample.name == sample_name:
                series[tuple(sorted(sample.labels.items()))] = sample.value
    return series


def declared_counters(text: str) -> set[str]:
    """The sample names (`<family>_total`) of every counter `text` declares, with or without series yet."""
    return {f"{family.name}_total" for family in text_string_to_metric_families(text) if family.type == "counter"}


def counter_delta(before: Mapping[Labels, float], after: Mapping[Labels, float]) -> dict[Labels, float]:
    """`after - before` per series; a series first seen in `after` counts from zero. Zero deltas are dropped."""
    delta: dict[Labels, float] = {}
    for labels, value in after.items():
        change = value - before.get(labels, 0.0)
        if change < 0:
            raise CounterWentBackwards(f"series {dict(labels)} went from {before[labels]} to {value}")
        if change:
            delta[labels] = change
    missing = [labels for labels in before if labels not in after]
    if missing:
        raise CounterWentBackwards(f"series {[dict(labels) for labels in missing]} disappeared")
    return delta


def sum_by_label(series: Iterable[Mapping[Labels, float]], label: str) -> dict[str, float]:
    """Totals grouped by the value of `label` over all of `series` (several processes' deltas, say).

    A series without that label is grouped under the empty string.
    """
    totals: dict[str, float] = {}
    for one in series:
        for labels, value in one.items():
            key = dict(labels).get(label, "")
            totals[key] = totals.get(key, 0.0) + value
    return dict(sorted(totals.items()))


def gauge_value(text: str, sample_name: str) -> float | None:
    """The value of an unlabelled gauge or counter sample (`process_cpu_seconds_total`), or None if absent."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == sample_name and not sample.labels:
                return float(sample.value)
    return None


#: A histogram as (upper bound, cumulative count) pairs, ascending, ending with (inf, total).
Buckets = list[tuple[float, float]]


def histogram_buckets(text: str, name: str) -> Buckets:
    """The cumulative buckets of the unlabelled histogram `name` (`wfa_schedule_fire_lateness_seconds`); empty if
    it is not there."""
    buckets: Buckets = []
    for family in text_string_to_metric_families(text):
        if family.type != "histogram" or family.name != name:
            continue
        for sample in family.samples:
            if sample.name == f"{name}_bucket":
                buckets.append((float(sample.labels["le"]), sample.value))
    return sorted(buckets)


def histogram_delta(before: Buckets, after: Buckets) -> Buckets:
    """What was observed between two scrapes of one histogram (a bucket first seen in `after` counts from 0)."""
    earlier = dict(before)
    delta: Buckets = []
    for bound, count in after:
        change = count - earlier.get(bound, 0.0)
        if change < 0:
            raise CounterWentBackwards(f"bucket le={bound} went from {earlier[bound]} to {count}")
        delta.append((bound, change))
    return delta
