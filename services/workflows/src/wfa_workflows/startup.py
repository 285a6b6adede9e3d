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

log = structlog.get_logger(__name__)

Prepare = Callable[[], Awaitable[None]]

FIRST_ATTEMPT_WAIT_SECONDS = 5.0
FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 10.0


async def prepare_until_done(prepare: Prepare) -> None:
    delay = FIRST_RETRY_SECONDS
    while True:
        try:
            await prepare()
        except Exception as exc:
            log.warning("workflows.prepare_failed", retry_in_s=delay, error=str(exc) or type(exc).__name__)
        else:
            log.info("workflows.prepared")
            return
        await asyncio.sleep(delay)
        delay = min(delay * 2, MAX_RETRY_SECONDS)


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
