"""Durations as the contract writes them: an integer and a unit (`10s`, `5m`, `2h`, `1d`)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_PATTERN = re.compile(r"^([0-9]{1,12})([smhd])$")
_UNIT_SECONDS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
PATTERN_TEXT = r"^[0-9]+[smhd]$"


def parse_duration(text: str) -> timedelta:
    match = _PATTERN.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration: use an integer and a unit s, m, h or d, such as '10s'")
    try:
        return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    except OverflowError:
        # Twelve digits of days pass the pattern but not timedelta (at most 999,999,999 days).
        raise ValueError(f"{text!r} is longer than any duration this system takes") from None


def format_duration(value: timedelta) -> str:
    """The normalised form: the largest unit that divides the duration exactly."""
    seconds = int(value.total_seconds())
    for unit, size in _UNIT_SECONDS.items():
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _validate(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError("a duration is a string such as '10s'")
    return parse_duration(value)


def _bounded(low: timedelta, high: timedelta) -> BeforeValidator:
    def check(value: Any) -> timedelta:
        duration = _validate(value)
        if not low <= duration <= high:
            raise ValueError(f"must be between {format_duration(low)} and {format_duration(high)}")
        return duration

    return BeforeValidator(check)


_SCHEMA = WithJsonSchema({"type": "string", "pattern": PATTERN_TEXT, "examples": ["10s", "5m"]})
_SERIALIZER = PlainSerializer(format_duration, return_type=str)

MIN_INTERVAL = timedelta(seconds=1)
MAX_INTERVAL = timedelta(days=365)
MAX_TIMEOUT = timedelta(hours=1)

Interval = Annotated[timedelta, _bounded(MIN_INTERVAL, MAX_INTERVAL), _SERIALIZER, _SCHEMA]
"""Schedules and retry waits: 1s to 365d."""

Timeout = Annotated[timedelta, _bounded(MIN_INTERVAL, MAX_TIMEOUT), _SERIALIZER, _SCHEMA]
"""An HTTP action's timeout: 1s to 1h."""

# Idempotency keys are remembered for 24 h after their execution's creation (wfa.service_layer.triggering): an
# execution removed sooner would let a repeated key start a second one.
MIN_RETENTION = timedelta(days=1)
RETENTION_OFF = "off"


def _retention_period(value: Any) -> timedelta | None:
    if isinstance(value, str) and value.strip().lower() == RETENTION_OFF:
        return None
    duration = _validate(value.strip() if isinstance(value, str) else value)
    if duration < MIN_RETENTION:
        raise ValueError(f"must be at least {format_duration(MIN_RETENTION)}, or {RETENTION_OFF!r} to keep everything")
    return duration


RetentionPeriod = Annotated[timedelta | None, BeforeValidator(_retention_period)]
"""How long finished executions are kept: at least 1d, or `off` (None) to keep them all."""
