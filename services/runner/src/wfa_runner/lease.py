"""Keeping an execution's lease alive while a long action runs, and stopping the action when it is lost."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import structlog

from wfa.domain.errors import DependencyUnavailable

T = TypeVar("T")

log = structlog.get_logger(__name__)

Renew = Callable[[], Awaitable[bool]]
"""Extends the lease; False when it is no longer ours (the execution was cancelled or taken over)."""


class LeaseLost(Exception):
    """The execution was cancelled or taken over while an action ran, or its lease lapsed unrenewed; the action
    was stopped."""


async def run_under_lease(
    work: Coroutine[Any, Any, T], *, renew: Renew, every: float, time_left: Callable[[], float]
) -> T:
    """Await `work`, calling `renew` every `every` seconds for as long as it runs.

    A short action never renews (the save after it extends the lease anyway). When `renew` says the lease is
    gone, `work` is cancelled and LeaseLost raised: a cancelled execution's HTTP call should not run on.
    A renewal that fails because the database is down is only logged while the lease surely holds; `time_left()`
    says for how many seconds more. Once that is up with no renewal landed, `work` is cancelled and LeaseLost
    raised: another runner may take the execution over from then on, and the action must not run beside itself.
    """
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=max(0.0, min(every, time_left())))
            if done:
                return task.result()
            try:
                still_ours = await renew()
            except DependencyUnavailable as exc:
                if time_left() <= 0:
                    raise LeaseLost("the lease lapsed while every renewal failed") from exc
                log.warning("execution.lease_renewal_failed", error=str(exc))
                continue
            if not still_ours:
                raise LeaseLost("the execution was cancelled or taken over while an action ran")
    finally:
        if not task.done():
            task.cancel()
            # wait() rather than await: what the cancelled work raises must not mask why it was cancelled.
            await asyncio.wait({task})
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not log it as never retrieved
