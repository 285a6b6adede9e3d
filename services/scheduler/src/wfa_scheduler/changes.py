"""Waking the loops early when workflows change.

The loops sleep until their next known due moment, capped at a second. A workflow created, updated, resumed or
put pending a retry may be due sooner than that, so a feed of changes to the workflows collection (a MongoDB
change stream in production) wakes them at once. The feed is an optimisation only: when it fails, or the server
does not support it, the capped sleep still bounds how late anything is.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Protocol

import structlog

log = structlog.get_logger(__name__)

RETRY_FEED_AFTER_SECONDS = 5.0


class ChangesUnsupported(Exception):
    """The store cannot tell about changes at all (a MongoDB server without change streams): do not retry."""


class WorkflowChanges(Protocol):
    def watch(self) -> AsyncIterator[None]:
        """Yields once as soon as the feed is open (changes may have been missed before it was), then once per
        change to any workflow. Ends or raises when the feed breaks; raises ChangesUnsupported when it never can
        work."""
        ...


class Wakeup:
    """A broadcast to the sleeping loops: each subscribes an event of its own, a change sets them all."""

    def __init__(self) -> None:
        self._events: list[asyncio.Event] = []

    def subscribe(self) -> asyncio.Event:
        event = asyncio.Event()
        self._events.append(event)
        return event

    def notify(self) -> None:
        for event in self._events:
            event.set()


async def follow_changes(
    changes: WorkflowChanges, wakeup: Wakeup, *, retry_after: float = RETRY_FEED_AFTER_SECONDS
) -> None:
    """Feed `wakeup` from `changes` until cancelled, reopening the feed after it breaks.

    A broken feed is logged once per outage, not on every retry: the loops carry on with their capped sleep.
    """
    broken = False
    while True:
        try:
            async for _ in changes.watch():
                if broken:
                    log.info("scheduler.change_feed_resumed")
                    broken = False
                wakeup.notify()
        except ChangesUnsupported as exc:
            log.warning("scheduler.change_feed_unsupported", fallback="capped sleep", error=str(exc))
            return
        except Exception as exc:
            if not broken:
                log.warning(
                    "scheduler.change_feed_failed", fallback="capped sleep", retry_in_s=retry_after, error=str(exc)
                )
            broken = True
        await asyncio.sleep(retry_after)
