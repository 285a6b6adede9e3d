import math
from datetime import timedelta

import pytest

from wfa.domain.retry import backoff_delay, may_retry
from wfa.domain.workflow import RetryPolicy


def _policy(**overrides: object) -> RetryPolicy:
    return RetryPolicy.model_validate(
        {"maxAttempts": 5, "initialInterval": "2s", "backoffRate": 2.0, "maxInterval": "5m", **overrides}
    )


@pytest.mark.parametrize(("attempt", "seconds"), [(1, 2), (2, 4), (3, 8), (4, 16)])
def test_backoff_grows_by_the_rate_from_the_initial_interval(attempt: int, seconds: int) -> None:
    assert backoff_delay(_policy(), attempt) == timedelta(seconds=seconds)


def test_backoff_is_capped_at_max_interval() -> None:
    assert backoff_delay(_policy(maxInterval="10s"), 10) == timedelta(seconds=10)


def test_backoff_rate_one_keeps_the_interval_constant() -> None:
    assert backoff_delay(_policy(backoffRate=1.0), 7) == timedelta(seconds=2)


def test_backoff_survives_the_largest_exponent_allowed() -> None:
    assert backoff_delay(_policy(maxAttempts=100, backoffRate=10.0), 99) == timedelta(minutes=5)


@pytest.mark.parametrize("attempt", [400, 1100, 10**6, 10**18])
def test_backoff_past_any_float_stays_at_max_interval(attempt: int) -> None:
    # 10.0 ** 400 is an OverflowError, not infinity: the cap must be reached without computing it.
    assert backoff_delay(_policy(maxAttempts=100, backoffRate=10.0), attempt) == timedelta(minutes=5)


def test_retry_after_replaces_the_computed_delay_but_is_capped() -> None:
    assert backoff_delay(_policy(), 1, retry_after_seconds=30) == timedelta(seconds=30)
    assert backoff_delay(_policy(), 1, retry_after_seconds=7200) == timedelta(minutes=5)


@pytest.mark.parametrize(
    ("seconds", "delay"),
    [
        (1e14, timedelta(minutes=5)),  # past what a timedelta can hold
        (1e308, timedelta(minutes=5)),
        (math.inf, timedelta(minutes=5)),
        (-1.0, timedelta(0)),
        (-1e308, timedelta(0)),
        (-math.inf, timedelta(0)),
        (math.nan, timedelta(seconds=4)),  # no value at all: the computed backoff for attempt 2
    ],
    ids=repr,
)
def test_any_retry_after_ends_within_zero_and_max_interval(seconds: float, delay: timedelta) -> None:
    assert backoff_delay(_policy(), 2, retry_after_seconds=seconds) == delay


def test_attempts_are_counted_from_one() -> None:
    with pytest.raises(ValueError):
        backoff_delay(_policy(), 0)


def test_may_retry_only_when_retryable_and_attempts_remain() -> None:
    policy = _policy(maxAttempts=3)
    assert may_retry(policy, 1, retryable=True)
    assert may_retry(policy, 2, retryable=True)
    assert not may_retry(policy, 3, retryable=True)
    assert not may_retry(policy, 1, retryable=False)
    assert not may_retry(_policy(maxAttempts=1), 1, retryable=True)
