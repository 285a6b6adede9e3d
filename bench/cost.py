"""Cost figures from /metrics scrapes of the three processes taken before and after a known number of executions.

Everything here is counted: the counters' deltas summed over the processes, divided by the executions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.promtext import Labels, counter_delta, counter_series, declared_counters, sum_by_label

MONGODB_COMMANDS = "wfa_mongodb_commands_total"
KAFKA_PRODUCED = "wfa_kafka_messages_produced_total"

#: `{process: /metrics text}`
Scrape = Mapping[str, str]


def deltas(before: Scrape, after: Scrape, sample_name: str) -> dict[str, dict[Labels, float]]:
    """Per process, how much each series of `sample_name` grew between the two scrapes."""
    return {
        process: counter_delta(
            counter_series(before[process], sample_name), counter_series(after[process], sample_name)
        )
        for process in after
    }


def exporting(scrape: Scrape, sample_name: str) -> list[str]:
    """The processes whose /metrics declares the counter `sample_name` (with or without series yet)."""
    return sorted(process for process, text in scrape.items() if sample_name in declared_counters(text))


def _per(values: Mapping[str, float], divisor: float, digits: int) -> dict[str, float]:
    return {key: round(value / divisor, digits) for key, value in values.items()}


def strip_prefix(topics: Mapping[str, float], prefix: str) -> dict[str, float]:
    """Topic names without the run's topic prefix (`bench.1a2b.execution-events` -> `execution-events`)."""
    return {topic.removeprefix(prefix): value for topic, value in topics.items()}


def cost_figures(before: Scrape, after: Scrape, *, per: float, topic_prefix: str, digits: int = 2) -> dict[str, Any]:
    """MongoDB commands and Kafka messages between the scrapes, divided by `per` (executions, or seconds).

    Commands are given in total, by command name and by process; messages in total and by topic.
    """
    if per <= 0:
        raise ValueError(f"cannot divide by {per}")
    commands = deltas(before, after, MONGODB_COMMANDS)
    messages = deltas(before, after, KAFKA_PRODUCED)
    by_process = {process: sum(series.values()) for process, series in commands.items()}
    by_topic = strip_prefix(sum_by_label(messages.values(), "topic"), topic_prefix)
    return {
        "mongodb_commands": {
            "total": round(sum(by_process.values()) / per, digits),
            "by_command": _per(sum_by_label(commands.values(), "command"), per, digits),
            "by_process": _per(by_process, per, digits),
        },
        "kafka_messages_produced": {
            "total": round(sum(by_topic.values()) / per, digits),
            "by_topic": _per(by_topic, per, digits),
        },
    }


def broker_request_figures(
    before: Mapping[str, float] | None, after: Mapping[str, float] | None, *, per: float, digits: int = 2
) -> dict[str, Any] | None:
    """Requests the broker answered between two readings of its counters (`OtlpSink.fresh_broker_requests`),
    divided by `per`: `produce` (the target: under load, batching makes it less than one per execution) and
    `by_api`, which also counts the consumers' fetches (they poll whether or not there is work, so those grow
    with the window, not with the executions). None when the broker's counters were not received."""
    if before is None or after is None:
        return None
    grown = {api: after[api] - before.get(api, 0.0) for api in sorted(after)}
    return {
        "produce": round(grown.get("produce", 0.0) / per, digits),
        "by_api": {api: round(count / per, digits) for api, count in grown.items() if count},
    }
