import math

import pytest
from bench.promtext import (
    CounterWentBackwards,
    Labels,
    counter_delta,
    counter_series,
    declared_counters,
    gauge_value,
    histogram_buckets,
    histogram_delta,
    sum_by_label,
)

EXPOSITION = """\
# HELP wfa_mongodb_commands_total MongoDB commands sent
# TYPE wfa_mongodb_commands_total counter
wfa_mongodb_commands_total{command="find"} 12.0
wfa_mongodb_commands_total{command="update"} 3.0
# HELP wfa_mongodb_commands_created MongoDB commands sent
# TYPE wfa_mongodb_commands_created gauge
wfa_mongodb_commands_created{command="find"} 1.7e+09
# HELP wfa_kafka_messages_produced_total Messages acknowledged by Kafka, per topic
# TYPE wfa_kafka_messages_produced_total counter
# HELP http_requests_total Requests
# TYPE http_requests_total counter
http_requests_total{method="GET",path="/x"} 5.0
"""


def test_counter_series_reads_every_series_of_one_counter_by_labels() -> None:
    series = counter_series(EXPOSITION, "wfa_mongodb_commands_total")

    assert series == {(("command", "find"),): 12.0, (("command", "update"),): 3.0}


def test_counter_series_orders_labels_so_a_series_is_one_key() -> None:
    series = counter_series(EXPOSITION, "http_requests_total")

    assert series == {(("method", "GET"), ("path", "/x")): 5.0}


def test_counter_series_of_a_counter_without_series_or_not_there_is_empty() -> None:
    assert counter_series(EXPOSITION, "wfa_kafka_messages_produced_total") == {}
    assert counter_series(EXPOSITION, "no_such_total") == {}


def test_declared_counters_include_those_without_series_yet() -> None:
    assert declared_counters(EXPOSITION) == {
        "wfa_mongodb_commands_total",
        "wfa_kafka_messages_produced_total",
        "http_requests_total",
    }


def test_counter_delta_subtracts_per_series_and_counts_new_series_from_zero() -> None:
    find, update, insert = (("command", "find"),), (("command", "update"),), (("command", "insert"),)

    delta = counter_delta({find: 10.0, update: 3.0}, {find: 14.0, update: 3.0, insert: 2.0})

    assert delta == {find: 4.0, insert: 2.0}


def test_counter_delta_refuses_a_counter_that_went_down() -> None:
    find = (("command", "find"),)

    with pytest.raises(CounterWentBackwards):
        counter_delta({find: 10.0}, {find: 2.0})


def test_counter_delta_refuses_a_series_that_disappeared() -> None:
    with pytest.raises(CounterWentBackwards):
        counter_delta({(("command", "find"),): 1.0}, {})


def test_sum_by_label_adds_up_several_processes() -> None:
    workflows: dict[Labels, float] = {(("command", "find"),): 2.0, (("command", "insert"),): 1.0}
    runner: dict[Labels, float] = {(("command", "find"),): 3.0, (): 7.0}

    assert sum_by_label([workflows, runner], "command") == {"": 7.0, "find": 5.0, "insert": 1.0}


HISTOGRAM = """\
# HELP wfa_schedule_fire_lateness_seconds Time from a slot's due moment to its fire
# TYPE wfa_schedule_fire_lateness_seconds histogram
wfa_schedule_fire_lateness_seconds_bucket{le="0.005"} 2.0
wfa_schedule_fire_lateness_seconds_bucket{le="0.05"} 9.0
wfa_schedule_fire_lateness_seconds_bucket{le="+Inf"} 10.0
wfa_schedule_fire_lateness_seconds_count 10.0
wfa_schedule_fire_lateness_seconds_sum 0.4
# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 12.5
# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 8.0e+07
"""


def test_histogram_buckets_are_cumulative_counts_by_upper_bound() -> None:
    buckets = histogram_buckets(HISTOGRAM, "wfa_schedule_fire_lateness_seconds")

    assert buckets == [(0.005, 2.0), (0.05, 9.0), (math.inf, 10.0)]
    assert histogram_buckets(HISTOGRAM, "no_such_seconds") == []


def test_histogram_delta_is_what_was_observed_between_two_scrapes() -> None:
    before = [(0.005, 2.0), (0.05, 9.0), (math.inf, 10.0)]
    after = [(0.005, 3.0), (0.05, 12.0), (math.inf, 15.0)]

    assert histogram_delta(before, after) == [(0.005, 1.0), (0.05, 3.0), (math.inf, 5.0)]
    with pytest.raises(CounterWentBackwards):
        histogram_delta(after, before)


def test_gauge_value_reads_an_unlabelled_sample() -> None:
    assert gauge_value(HISTOGRAM, "process_cpu_seconds_total") == 12.5
    assert gauge_value(HISTOGRAM, "process_resident_memory_bytes") == 8.0e7
    assert gauge_value(HISTOGRAM, "process_open_fds") is None
