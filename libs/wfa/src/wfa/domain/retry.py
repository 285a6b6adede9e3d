"""The retry policy as one pure function of (policy, attempt), used wherever a retry is decided."""

from __future__ import annotations

import math
from datetime import timedelta

from wfa.domain.workflow import RetryPolicy


def backoff_delay(policy: RetryPolicy, attempt: int, *, retry_after_seconds: float | None = None) -> timedelta:
    """How long to wait after attempt `attempt` (1-based) failed: min(maxInterval, initial × rate^(n-1)).

    A server's `Retry-After`, in seconds, replaces the computed delay, capped at `maxInterval` like any other.
    Any number is taken (huge, negative, infinite; NaN counts as absent): a server the workflow does not control
    chose it, and it must not be able to end an execution in an internal error.
    """
    if attempt < 1:
        raise ValueError("attempts are counted from 1")
    cap = policy.max_interval.total_seconds()
    if retry_after_seconds is not None and not math.isnan(retry_after_seconds):
        # Clamped as a float, before any timedelta exists: timedelta refuses infinity and overflows past ~2.7e6 years.
        return timedelta(seconds=min(cap, max(0.0, retry_after_seconds)))
    try:
        seconds = policy.initial_interval.total_seconds() * policy.backoff_rate ** (attempt - 1)
    except OverflowError:
        # A float power past ~1e308 raises instead of giving infinity; a delay that long is past any cap.
        seconds = cap
    return timedelta(seconds=min(cap, seconds))


def may_retry(policy: RetryPolicy, attempt: int, *, retryable: bool) -> bool:
    return retryable and attempt < policy.max_attempts
