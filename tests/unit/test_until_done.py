"""Calling something until it succeeds: which errors are retried, how long it waits, what ends it."""

from __future__ import annotations

import asyncio

import pytest

from wfa.domain.errors import DependencyUnavailable
from wfa.until_done import Backoff, until_done


class Flaky:
    """Raises the scripted errors in order, then returns "done"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


class Sleeps:
    """An injected sleep that records the waits and does not wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def down() -> DependencyUnavailable:
    return DependencyUnavailable("mongodb", "test database is down")


async def test_an_outage_is_retried_until_the_call_succeeds_and_its_result_is_returned() -> None:
    call, sleeps = Flaky(down(), down(), down()), Sleeps()

    assert await until_done(call, sleep=sleeps) == "done"

    assert call.calls == 4
    assert len(sleeps.waits) == 3


async def test_a_call_that_returns_an_awaitable_is_awaited() -> None:
    call, sleeps = Flaky(down()), Sleeps()

    assert await until_done(lambda: call(), sleep=sleeps) == "done"

    assert call.calls == 2


async def test_an_error_not_listed_propagates_at_once() -> None:
    call, sleeps = Flaky(down(), KeyError("a bug")), Sleeps()

    with pytest.raises(KeyError):
        await until_done(call, sleep=sleeps)

    assert call.calls == 2
    assert len(sleeps.waits) == 1


async def test_only_the_listed_errors_are_retried() -> None:
    call, sleeps = Flaky(KeyError("a"), ValueError("b")), Sleeps()

    assert await until_done(call, retry_on=(KeyError, ValueError), sleep=sleeps) == "done"

    with pytest.raises(DependencyUnavailable):
        await until_done(Flaky(down()), retry_on=KeyError, sleep=sleeps)


async def test_each_retried_failure_is_told_with_the_wait_that_follows() -> None:
    first, second = down(), down()
    told: list[tuple[Exception, float]] = []
    sleeps = Sleeps()

    await until_done(Flaky(first, second), on_retry=lambda error, wait: told.append((error, wait)), sleep=sleeps)

    assert [error for error, _ in told] == [first, second]
    assert [wait for _, wait in told] == sleeps.waits


async def test_giving_up_after_a_failure_raises_that_failure_without_waiting() -> None:
    failures = [down(), down(), down()]
    call, sleeps = Flaky(*failures), Sleeps()
    told: list[Exception] = []

    with pytest.raises(DependencyUnavailable) as raised:
        await until_done(
            call, give_up=lambda: call.calls >= 2, on_retry=lambda error, _: told.append(error), sleep=sleeps
        )

    assert raised.value is failures[1]
    assert call.calls == 2
    assert len(sleeps.waits) == 1
    assert told == [failures[0]]  # not told of the failure given up on


async def test_giving_up_during_a_wait_makes_no_further_attempt() -> None:
    failure = down()
    call = Flaky(failure, down())
    stopping = False

    async def stopped_while_waiting(_seconds: float) -> None:
        nonlocal stopping
        stopping = True

    with pytest.raises(DependencyUnavailable) as raised:
        await until_done(call, give_up=lambda: stopping, sleep=stopped_while_waiting)

    assert raised.value is failure
    assert call.calls == 1


async def test_waits_grow_up_to_the_cap_each_drawn_from_the_upper_half_of_its_nominal_value() -> None:
    sleeps = Sleeps()
    backoff = Backoff(initial=1.0, cap=10.0)
    nominal = [1.0, 2.0, 4.0, 8.0] + [10.0] * 36

    await until_done(Flaky(*(down() for _ in nominal)), delays=backoff, sleep=sleeps)

    assert len(sleeps.waits) == len(nominal)
    for wait, expected in zip(sleeps.waits, nominal, strict=True):
        assert expected / 2 <= wait <= expected
    assert len(set(sleeps.waits[4:])) > 1  # jittered even at the cap, where a herd would otherwise re-form


async def test_explicit_delays_are_used_in_order_and_the_last_one_repeats() -> None:
    sleeps = Sleeps()
    nominal = [0.1, 0.25, 2.0, 2.0, 2.0]

    await until_done(Flaky(*(down() for _ in nominal)), delays=(0.1, 0.25, 2.0), sleep=sleeps)

    for wait, expected in zip(sleeps.waits, nominal, strict=True):
        assert expected / 2 <= wait <= expected


async def test_zero_delays_do_not_wait() -> None:
    sleeps = Sleeps()

    await until_done(Flaky(down(), down()), delays=(0.0,), sleep=sleeps)

    assert sleeps.waits == [0.0, 0.0]


async def test_no_delays_is_refused() -> None:
    with pytest.raises(ValueError, match="delay"):
        await until_done(Flaky(), delays=())


async def test_cancellation_during_a_wait_propagates_at_once() -> None:
    call = Flaky(*(down() for _ in range(100)))
    waiting = asyncio.Event()
    task = asyncio.create_task(
        until_done(call, delays=Backoff(initial=60.0, cap=60.0), on_retry=lambda _error, _wait: waiting.set())
    )
    await asyncio.wait_for(waiting.wait(), 1.0)

    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 1.0)
    assert call.calls == 1


async def test_cancellation_raised_by_the_call_is_not_retried() -> None:
    calls = 0
    sleeps = Sleeps()

    async def cancelled() -> None:
        nonlocal calls
        calls += 1
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await until_done(cancelled, retry_on=Exception, sleep=sleeps)

    assert calls == 1
    assert sleeps.waits == []
