"""Waking the loops early when workflows change.

The loops sleep until their next known due moment, capped at a second. A workflow created, rescheduled, resumed
or put pending a retry may be due sooner than that, so a feed of changes to the workflows collection (a MongoDB
change stream in production) wakes them at once. The feed is an optimisation only: when it fails, or the server
does not support it, the capped sleep still bounds how late anything is.

The feed reports only the changes that can move a loop's next due moment, and says whose (`Wake`): a lock taken
or released, a slot claimed (it only moves that workflow's slot later, and whoever claimed it looks again anyway)
or a definition edited without touching its schedule wakes nobody, since each wake-up costs the woken loop a
query, in every scheduler process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from enum import Flag, auto
from typing import Protocol

import structlog

log = structlog.get_logger(__name__)

RETRY_FEED_AFTER_SECONDS = 5.0


class ChangesUnsupported(Exception):
    """The store cannot tell about changes at all (a MongoDB server without change streams): do not retry."""


class Wake(Flag):
    """Which loops a change concerns."""

    FIRING = auto()  # the scheduled slots changed: a workflow created, rescheduled, paused, resumed or deleted
    RETRIES = auto()  # a workflow's lock went pending: its execution now waits for a retry
    ALL = FIRING | RETRIES


class WorkflowChanges(Protocol):
    def watch(self) -> AsyncIterator[Wake]:
        """Yields `Wake.ALL` as soon as the feed is open (changes may have been missed before it was), then, per
        change that may move a due moment, the loops it concerns. Ends or raises when the feed breaks;
        raises ChangesUnsupported when it never can work."""
        ...


class Wakeup:
    """A broadcast to the sleeping loops: each subscribes an event of its own for the changes it cares about."""

    def __init__(self) -> None:
        self._events: list[tuple[Wake, asyncio.Event]] = []

    def subscribe(self, wake: Wake) -> asyncio.Event:
        event = asyncio.Event()
        self._events.append((wake, event))
        return event

    def notify(self, wake: Wake) -> None:
        for wanted, event in self._events:
            if wanted & wake:
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
            async for wake in changes.watch():
                if broken:
                    log.info("scheduler.change_feed_resumed")
                    broken = False
                wakeup.notify(wake)
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
