"""deploy/alerts.yml: loaded by the compose Prometheus, and every rule's expression names only metrics the services
really export, with labels those metrics carry.

promtool (whose `test rules` would feed each rule series) is not installed here, so each expression is checked
statically: a small PromQL tokenizer finds the metric names (every one of ours starts with `wfa_`), the label
names of their selectors and of `by (...)` / `without (...)`, and they are compared with the metrics built
in-process from each service's own metrics classes and the shared adapters' registries. A renamed metric or label
breaks this test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

import wfa.adapters.kafka.metrics as kafka_metrics
import wfa.adapters.mongo.metrics as mongo_metrics
from wfa_runner.metrics import RunnerMetrics
from wfa_scheduler.metrics import SchedulerMetrics
from wfa_workflows.metrics import ApiMetrics

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "alerts.yml"
# Every family the issue asks an alert for, by a metric its rule must read.
REQUIRED = {
    "slots late": "wfa_schedule_fire_lateness_seconds_bucket",
    "slots missed": "wfa_schedule_fires_total",
    "locks held past the repair time": "wfa_scheduler_repairs_total",
    "execution failure rate": "wfa_executions_total",
    "consumer lag": "wfa_kafka_consumer_lag",
    "dead letters": "wfa_dead_letters_total",
}

_SUFFIXES = {
    "counter": (("_total", ()),),
    "gauge": (("", ()),),
    "histogram": (("_bucket", ("le",)), ("_sum", ()), ("_count", ())),
    "summary": (("_sum", ()), ("_count", ())),
}


def _wrappers(objects: Iterator[Any]) -> Iterator[MetricWrapperBase]:
    for candidate in objects:
        if isinstance(candidate, MetricWrapperBase):
            yield candidate
        elif hasattr(candidate, "__dict__") and not isinstance(candidate, type):
            yield from (value for value in vars(candidate).values() if isinstance(value, MetricWrapperBase))


def exported_series() -> dict[str, frozenset[str]]:
    """Every sample name the services export, with the label names it carries (the metric objects' own label
    names: a labelled metric shows no sample before its first observation)."""
    holders: list[Any] = [kind(CollectorRegistry()) for kind in (RunnerMetrics, SchedulerMetrics, ApiMetrics)]
    holders += [getattr(holder, "final_executions", None) for holder in list(holders)]
    holders += [value for module in (kafka_metrics, mongo_metrics) for value in vars(module).values()]
    series: dict[str, frozenset[str]] = {}
    for metric in _wrappers(iter(holders)):
        # prometheus_client keeps these as attributes of every metric; no public accessor exists.
        name, kind, labels = metric._name, metric._type, tuple(metric._labelnames)
        for suffix, extra in _SUFFIXES[kind]:
            series[name + suffix] = frozenset((*labels, *extra))
    return series


# -- a PromQL tokenizer, enough for metric names, selectors and grouping clauses --------------------------------

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_METRIC = re.compile(r"\b(wfa_[a-zA-Z0-9_:]*)\s*(\{[^}]*\})?")
_MATCHER_LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)")


def metric_selectors(expression: str) -> list[tuple[str, frozenset[str]]]:
    """(metric name, label names its selector matches on), for each metric selector of the expression."""
    # Strings inside selectors are kept for their labels; elsewhere (none in our rules) they hold no metric.
    found = []
    for match in _METRIC.finditer(expression):
        selector = _STRING.sub('""', match.group(2) or "")
        found.append((match.group(1), frozenset(_MATCHER_LABEL.findall(selector))))
    return found


def grouping_labels(expression: str) -> frozenset[str]:
    return frozenset(
        label.strip() for group in _GROUPING.findall(expression) for label in group.split(",") if label.strip()
    )


def test_the_tokenizer_reads_names_selectors_and_groupings() -> None:
    expression = 'sum by (le, kind) (rate(wfa_x_bucket{a="1", b=~"x|y"}[5m])) / on(kind) wfa_y'

    assert metric_selectors(expression) == [("wfa_x_bucket", frozenset({"a", "b"})), ("wfa_y", frozenset())]
    assert grouping_labels(expression) == {"le", "kind"}


# -- the rules ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


@pytest.fixture(scope="module")
def series() -> dict[str, frozenset[str]]:
    return exported_series()


def test_every_rule_is_a_named_alert_with_a_severity_a_summary_and_a_runbook(rules: list[dict[str, Any]]) -> None:
    docs = (ROOT / "docs" / "alerts.md").read_text()
    names = [rule["alert"] for rule in rules]

    assert len(names) == len(set(names))
    for rule in rules:
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        anchor = rule["annotations"]["runbook"].split("#")[1]
        assert f"## {rule['alert']}" in docs and anchor == rule["alert"].lower(), rule["alert"]


def test_every_metric_an_alert_reads_is_exported_by_a_service(
    rules: list[dict[str, Any]], series: dict[str, frozenset[str]]
) -> None:
    for rule in rules:
        selectors = metric_selectors(rule["expr"])
        assert selectors, f"{rule['alert']} reads no metric"
        unknown = [name for name, _ in selectors if name not in series]
        assert not unknown, f"{rule['alert']} reads {unknown}, which no service exports"


def test_every_label_an_alert_selects_or_groups_by_is_on_its_metrics(
    rules: list[dict[str, Any]], series: dict[str, frozenset[str]]
) -> None:
    for rule in rules:
        selectors = metric_selectors(rule["expr"])
        for name, labels in selectors:
            assert labels <= series[name], f"{rule['alert']}: {name} has no label {sorted(labels - series[name])}"
        grouped = grouping_labels(rule["expr"])
        for name, _ in selectors:
            assert grouped <= series[name], f"{rule['alert']}: {name} has no label {sorted(grouped - series[name])}"


def test_every_label_an_annotation_shows_is_kept_by_the_expression(rules: list[dict[str, Any]]) -> None:
    for rule in rules:
        shown = set(re.findall(r"\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)", str(rule["annotations"])))
        assert shown <= grouping_labels(rule["expr"]), rule["alert"]


def test_the_alerts_cover_what_operators_asked_for(rules: list[dict[str, Any]]) -> None:
    read = {name for rule in rules for name, _ in metric_selectors(rule["expr"])}

    assert {concern for concern, metric in REQUIRED.items() if metric not in read} == set()


def test_the_compose_prometheus_loads_the_rules() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    compose = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    mounts = compose["services"]["prometheus"]["volumes"]

    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    assert "./deploy/alerts.yml:/etc/prometheus/alerts.yml:ro" in mounts


def test_a_renamed_metric_would_be_caught(series: dict[str, frozenset[str]]) -> None:
    assert "wfa_executions_total" in series and "wfa_execution_total" not in series
    assert series["wfa_schedule_fire_lateness_seconds_bucket"] == {"le"}
