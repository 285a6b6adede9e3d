"""Time is injected: the scheduler and the backoff are tested without sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


def truncate_to_ms(moment: datetime) -> datetime:
    """MongoDB keeps milliseconds; so does every timestamp we hand out, so stored and returned values agree."""
    return moment.replace(microsecond=moment.microsecond - moment.microsecond % 1000)


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return truncate_to_ms(datetime.now(UTC))


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime) -> None:
        self._now = truncate_to_ms(start)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now = truncate_to_ms(self._now + delta)

    def set(self, moment: datetime) -> None:
        self._now = truncate_to_ms(moment)
