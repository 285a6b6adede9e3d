"""The scheduler's change feed on a real server: which writes to the workflows collection wake which loop.

Every write under test is followed by a marker write that wakes both loops at once, which no repository write
does; so what the write under test yielded is exactly what arrives before the marker, and a write that wakes
nobody is seen as such without waiting for a timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta

import pytest
from tests.contract.builders import T0, workflow

from wfa.adapters.mongo import MongoStore
from wfa.adapters.mongo.documents import DELETED, ID, WorkflowFields
from wfa.ports.repositories import SlotOutcome
from wfa_scheduler.adapters.mongo_changes import MongoWorkflowChanges
from wfa_scheduler.changes import Wake

pytestmark = pytest.mark.integration

F = WorkflowFields
EVENT_TIMEOUT = 20.0
MARKER = "~marker"
SLOT = T0 + timedelta(seconds=10)  # the first slot of the builders' workflows


class Feed:
    """The change feed, followed in the background."""

    def __init__(self, store: MongoStore) -> None:
        self._store = store
        self._wakes: asyncio.Queue[Wake] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._marker_enabled = True

    async def open(self) -> None:
        # Outside the schedule (a tombstone), so that it never matters to anything but these tests.
        await self._store.workflows_collection.insert_one(
            {ID: MARKER, DELETED: True, F.ENABLED: True, F.TRIGGER: {"status": "busy"}}
        )

        async def follow() -> None:
            async for wake in MongoWorkflowChanges(self._store.workflows_collection).watch():
                await self._wakes.put(wake)

        self._task = asyncio.create_task(follow())
        assert await asyncio.wait_for(self._wakes.get(), EVENT_TIMEOUT) == Wake.ALL

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def wakes_of(self, write: Callable[[], Awaitable[object]]) -> list[Wake]:
        """What the feed yielded for `write`."""
        markers = self._store.workflows_collection
        await markers.update_one({ID: MARKER}, {"$set": {F.STATUS: "busy"}})
        await write()
        self._marker_enabled = not self._marker_enabled
        await markers.update_one({ID: MARKER}, {"$set": {F.ENABLED: self._marker_enabled, F.STATUS: "pending"}})
        wakes: list[Wake] = []
        while (wake := await asyncio.wait_for(self._wakes.get(), EVENT_TIMEOUT)) != Wake.ALL:
            wakes.append(wake)
        return wakes

    async def arrange(self, *writes: Awaitable[object]) -> None:
        """Run setup writes, and let what they yield go by."""

        async def all_of() -> None:
            for write in writes:
                await write

        await self.wakes_of(all_of)


@pytest.fixture
async def feed(store: MongoStore) -> AsyncIterator[Feed]:
    feed = Feed(store)
    await feed.open()
    try:
        yield feed
    finally:
        await feed.close()


async def test_a_created_workflow_wakes_the_firing_loop(store: MongoStore, feed: Feed) -> None:
    assert await feed.wakes_of(lambda: store.workflows.add(workflow("w"))) == [Wake.FIRING]


async def test_taking_and_releasing_the_lock_wakes_nobody(store: MongoStore, feed: Feed) -> None:
    await feed.arrange(store.workflows.add(workflow("w")))

    taken = await feed.wakes_of(lambda: store.workflows.try_acquire_trigger_lock("w", execution_id="e1", now=T0))
    released = await feed.wakes_of(lambda: store.workflows.release_trigger_lock("w", execution_id="e1"))

    assert (taken, released) == ([], [])


async def test_claiming_a_slot_wakes_nobody_whether_fired_or_skipped(store: MongoStore, feed: Feed) -> None:
    await feed.arrange(store.workflows.add(workflow("w")))
    outcomes: list[SlotOutcome] = []

    async def claim(slot: datetime, execution_id: str) -> None:
        following = slot + timedelta(seconds=10)
        claimed = await store.workflows.claim_schedule_slot(
            "w", slot=slot, next_run_at=following, execution_id=execution_id, now=slot
        )
        outcomes.append(claimed.outcome)

    fired = await feed.wakes_of(lambda: claim(SLOT, "e1"))
    skipped = await feed.wakes_of(lambda: claim(SLOT + timedelta(seconds=10), "e2"))

    assert outcomes == [SlotOutcome.FIRED, SlotOutcome.SKIPPED]
    assert (fired, skipped) == ([], [])


async def test_pause_resume_and_delete_wake_the_firing_loop(store: MongoStore, feed: Feed) -> None:
    await feed.arrange(store.workflows.add(workflow("w")))

    paused = await feed.wakes_of(lambda: store.workflows.set_enabled("w", enabled=False, next_run_at=SLOT, now=T0))
    resumed = await feed.wakes_of(lambda: store.workflows.set_enabled("w", enabled=True, next_run_at=SLOT, now=T0))
    deleted = await feed.wakes_of(lambda: store.workflows.delete("w", now=T0))

    assert (paused, resumed, deleted) == ([Wake.FIRING], [Wake.FIRING], [Wake.FIRING])


async def test_an_update_wakes_the_firing_loop_only_when_it_moves_the_slot(store: MongoStore, feed: Feed) -> None:
    original = workflow("w")
    await feed.arrange(store.workflows.add(original))
    renamed = original.model_copy(update={"name": "renamed", "version": 2})
    rescheduled = workflow("w", trigger={"type": "periodic", "interval": "5s"}, next_run_at=T0 + timedelta(seconds=5))
    rescheduled.version = 3

    kept_grid = await feed.wakes_of(
        lambda: store.workflows.replace_definition(renamed, expected_version=1, reschedule=False)
    )
    new_grid = await feed.wakes_of(
        lambda: store.workflows.replace_definition(rescheduled, expected_version=2, reschedule=True)
    )

    assert (kept_grid, new_grid) == ([], [Wake.FIRING])


async def test_a_lock_going_pending_wakes_the_retry_loop_only(store: MongoStore, feed: Feed) -> None:
    await feed.arrange(
        store.workflows.add(workflow("w")), store.workflows.try_acquire_trigger_lock("w", execution_id="e1", now=T0)
    )

    pending = await feed.wakes_of(lambda: store.workflows.mark_trigger_pending("w", execution_id="e1"))
    busy_again = await feed.wakes_of(lambda: store.workflows.mark_trigger_busy("w", execution_id="e1"))

    assert (pending, busy_again) == ([Wake.RETRIES], [])
