"""Running independent pieces of one pass side by side, a bounded number at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from wfa.domain.errors import DependencyUnavailable

T = TypeVar("T")
R = TypeVar("R")


async def run_bounded(items: Iterable[T], work: Callable[[T], Awaitable[R]], *, limit: int) -> list[R]:
    """`work(item)` for every item, at most `limit` at once; results in the order of `items`.

    Every item is attempted even when some fail: one failing workflow must not hold back the others' fires.
    Then the first failure is raised, a DependencyUnavailable in preference (the loop backs off on it).
    """
    gate = asyncio.Semaphore(limit)

    async def one(item: T) -> R:
        async with gate:
            return await work(item)

    results = await asyncio.gather(*(one(item) for item in items), return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        raise next((f for f in failures if isinstance(f, DependencyUnavailable)), failures[0])
    return [r for r in results if not isinstance(r, BaseException)]
