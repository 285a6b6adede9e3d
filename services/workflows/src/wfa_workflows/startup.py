"""Start-up work of the production wiring: MongoDB indexes and the Kafka topics the API publishes to.

A dependency that is down at start-up must not stop the process (a crash loop helps no one): the API serves,
/readyz says what is down, requests that need it get 503, and the preparation is retried in the background
until it succeeds. The process waits a little for the first attempt, so that in the usual case (everything up)
the indexes exist before the first request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress

import structlog

from wfa.until_done import Backoff, until_done

log = structlog.get_logger(__name__)

Prepare = Callable[[], Awaitable[None]]

FIRST_ATTEMPT_WAIT_SECONDS = 5.0
FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 10.0


async def prepare_until_done(prepare: Prepare) -> None:
    def failed(error: Exception, wait: float) -> None:
        log.warning("workflows.prepare_failed", retry_in_s=round(wait, 3), error=str(error) or type(error).__name__)

    # Any error: whatever keeps the indexes or topics from being made, the API serves meanwhile (503 where needed).
    await until_done(
        prepare,
        retry_on=Exception,
        delays=Backoff(initial=FIRST_RETRY_SECONDS, cap=MAX_RETRY_SECONDS),
        on_retry=failed,
    )
    log.info("workflows.prepared")


@asynccontextmanager
async def preparing(prepare: Prepare) -> AsyncIterator[None]:
    """Run `prepare` until it succeeds, in the background once the first FIRST_ATTEMPT_WAIT_SECONDS are over."""
    task = asyncio.create_task(prepare_until_done(prepare), name="workflows-prepare")
    await asyncio.wait([task], timeout=FIRST_ATTEMPT_WAIT_SECONDS)
    if not task.done():
        log.warning("workflows.serving_before_prepared", detail="MongoDB or Kafka not ready; retrying in background")
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
