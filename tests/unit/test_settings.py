"""Settings read from the environment: the retention variables."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from wfa.domain.durations import MIN_RETENTION
from wfa.service_layer.triggering import IDEMPOTENCY_WINDOW
from wfa.settings import Settings


def _settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


def test_retention_defaults_to_30_days_keeping_the_last_100_executions(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(monkeypatch)
    assert (settings.retention, settings.retention_keep_last) == (timedelta(days=30), 100)
    assert settings.retention_interval_seconds == 60
    assert settings.retention_batch == 1000


@pytest.mark.parametrize(("text", "days"), [("90d", 90), ("1d", 1), ("24h", 1), ("3650d", 3650)])
def test_retention_is_a_duration(monkeypatch: pytest.MonkeyPatch, text: str, days: int) -> None:
    assert _settings(monkeypatch, WFA_RETENTION=text).retention == timedelta(days=days)


@pytest.mark.parametrize("text", ["off", "OFF", " off "])
def test_retention_off_keeps_every_execution(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    assert _settings(monkeypatch, WFA_RETENTION=text).retention is None


@pytest.mark.parametrize("text", ["0s", "0d", "23h", "30", "forever", "-1d"])
def test_retention_below_a_day_or_not_a_duration_is_refused(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    with pytest.raises(ValidationError):
        _settings(monkeypatch, WFA_RETENTION=text)


def test_keep_last_may_be_zero_but_not_negative(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _settings(monkeypatch, WFA_RETENTION_KEEP_LAST="0").retention_keep_last == 0
    with pytest.raises(ValidationError):
        _settings(monkeypatch, WFA_RETENTION_KEEP_LAST="-1")


def test_the_shortest_retention_outlasts_the_idempotency_window() -> None:
    assert MIN_RETENTION >= IDEMPOTENCY_WINDOW
