"""Counting the slots of a periodic schedule: the grid `anchor + k × interval` (k = 1, 2, ...) of the contract."""

from __future__ import annotations

import math
from datetime import datetime, timedelta


def slots_up_to(anchor: datetime, interval: timedelta, moment: datetime) -> int:
    """How many slots of the grid fall at or before `moment`."""
    return max(0, math.floor((moment - anchor) / interval))


def slots_between(anchor: datetime, interval: timedelta, start: datetime, end: datetime) -> int:
    """How many slots of the grid fall in (start, end]."""
    return slots_up_to(anchor, interval, end) - slots_up_to(anchor, interval, start)
