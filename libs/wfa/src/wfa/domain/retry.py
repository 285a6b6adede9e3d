"""The retry policy as one pure function of (policy, attempt), used wherever a retry is decided."""

from __future__ import annotations

from datetime import timedelta

from wfa.domain.workflow import RetryPolicy


def backoff_delay(policy: RetryPolicy, attempt: int, *, retry_after: timedelta | None = None) -> timedelta:
    """How long to wait after attempt `attempt` (1-based) failed: min(maxInterval, initial × rate^(n-1)).

    A server's `Retry-After` replaces the computed delay, capped at `maxInterval` like any other.
    """
    if attempt < 1:
        raise ValueError("attempts are counted from 1")
    if retry_after is not None:
        return min(policy.max_interval, max(retry_after, timedelta(0)))
    seconds = policy.initial_interval.total_seconds() * policy.backoff_rate ** (attempt - 1)
    cap = policy.max_interval.total_seconds()
    return timedelta(seconds=min(cap, seconds))


def may_retry(policy: RetryPolicy, attempt: int, *, retryable: bool) -> bool:
    return retryable and attempt < policy.max_attempts
