"""Calling something again and again until it succeeds, while a dependency it needs is down.

Not the workflows' retry policy (that is `wfa.domain.retry`, a user's setting, durable across processes): this
paces a process's own attempts at something that failed because MongoDB or Kafka is unreachable (start-up
preparation, a scheduler pass, a record the runner could not store, a write under a lease).

The waits grow exponentially up to a cap, and each is drawn at random from the upper half of its nominal value
("equal jitter"): processes that met the same outage at the same moment spread their retries instead of coming
back as one herd, while no wait exceeds its nominal value (the cap holds) or shrinks below half of it (no spin).
tenacity does the looping and the arithmetic; this module only fixes the policy and the contract.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_never
from tenacity.wait import wait_base, wait_chain, wait_exponential, wait_fixed, wait_random, wait_random_exponential

from wfa.domain.errors import DependencyUnavailable

T = TypeVar("T")

__all__ = ["Backoff", "Delays", "OnRetry", "Sleep", "jittered", "log_failure", "until_done"]


@dataclass(frozen=True)
class Backoff:
    """Nominal waits of `initial` seconds doubling up to `cap`: with the defaults 1, 2, 4, 8, 10, 10, ..."""

    initial: float = 1.0
    cap: float = 10.0


Delays = Backoff | Sequence[float]
"""A Backoff, or the nominal waits in order (the last one repeats)."""

OnRetry = Callable[[Exception, float], None]
"""Told of each failure that is retried, with the seconds it waits before the next attempt."""

Sleep = Callable[[float], Awaitable[object]]
"""Waits the given seconds; may return early (a process stopping), `give_up` then decides what follows."""


def jittered(delays: Delays) -> wait_base:
    """The tenacity wait strategy for `delays`: each wait uniform in [nominal / 2, nominal]."""
    if isinstance(delays, Backoff):
        # A fixed half plus a random share of the other half: both halves grow and cap alike.
        half, half_cap = delays.initial / 2, delays.cap / 2
        return wait_exponential(multiplier=half, max=half_cap) + wait_random_exponential(multiplier=half, max=half_cap)
    if not delays:
        raise ValueError("at least one delay is needed")
    # wait_chain uses its n-th strategy for the n-th wait and repeats the last one.
    return wait_chain(*(wait_fixed(delay / 2) + wait_random(0, delay / 2) for delay in delays))


async def until_done(
    call: Callable[[], Awaitable[T]],
    *,
    retry_on: type[Exception] | tuple[type[Exception], ...] = DependencyUnavailable,
    delays: Delays = Backoff(),
    give_up: Callable[[], bool] | None = None,
    on_retry: OnRetry | None = None,
    sleep: Sleep = asyncio.sleep,
) -> T:
    """Await `call` until it returns, and return what it returns; while it raises one of `retry_on`, wait
    (`jittered(delays)`) and call it again.

    Whatever else it raises propagates at once, and so does cancellation (at an attempt or during a wait): the
    shutdown paths rely on it. `give_up` is asked after each retried failure and again after each wait; once it
    answers True no further attempt is made and the last failure is raised, so a caller that stops (or whose lease
    lapsed) tells "given up" from success by the exception. `on_retry` is called before each wait, never for the
    failure that is given up on.
    """
    last_failure: list[Exception] = []

    def before_sleep(state: RetryCallState) -> None:
        assert state.outcome is not None
        error = state.outcome.exception()
        assert isinstance(error, Exception)  # only `retry_on`, all Exceptions, reaches a wait
        last_failure[:] = [error]
        if on_retry is not None:
            on_retry(error, state.upcoming_sleep)

    async def pause(seconds: float) -> None:
        await sleep(seconds)
        # tenacity asks its stop condition only after a failure; asked here as well, a caller whose wait ended
        # early because it is stopping is spared one more attempt.
        if give_up is not None and give_up():
            raise last_failure[0]

    # One AsyncRetrying per call: it keeps its state per thread, which every coroutine of the loop shares.
    retrying = AsyncRetrying(
        sleep=pause,
        stop=(lambda _state: give_up()) if give_up is not None else stop_never,
        wait=jittered(delays),
        retry=retry_if_exception_type(retry_on),
        before_sleep=before_sleep,
        reraise=True,
    )

    async def attempt() -> T:
        # tenacity awaits only what it recognises as a coroutine function: a lambda or a partial returning an
        # awaitable would be "called" without ever being awaited.
        return await call()

    result: T = await retrying(attempt)
    return result


def log_failure(logger: structlog.stdlib.BoundLogger, event: str, error: Exception, **fields: object) -> None:
    """How a failed attempt is logged where any error is retried: an outage as a warning with its message, anything
    else (a bug, an error no one foresaw) as an error with its traceback."""
    if isinstance(error, DependencyUnavailable):
        logger.warning(event, error=str(error), **fields)
    else:
        logger.error(event, exc_info=error, **fields)
