"""Fixtures of the integration tests that look at the commands the MongoDB adapter sends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.monitoring import CommandFailedEvent, CommandListener, CommandStartedEvent, CommandSucceededEvent

from wfa.adapters.mongo import MongoStore
from wfa.adapters.mongo.documents import Document


class FindRecorder(CommandListener):
    """The find commands sent on a client, as sent: to `explain` them afterwards."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def started(self, event: CommandStartedEvent) -> None:
        if event.command_name == "find":
            self.sent.append(dict(event.command))

    def succeeded(self, event: CommandSucceededEvent) -> None:
        pass

    def failed(self, event: CommandFailedEvent) -> None:
        pass


@pytest.fixture
def finds() -> FindRecorder:
    return FindRecorder()


@pytest.fixture
async def recording_store(fresh_mongo_url: str, finds: FindRecorder) -> AsyncIterator[MongoStore]:
    """A store on a fresh database whose client tells `finds` every find it sends."""
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        fresh_mongo_url, tz_aware=True, tzinfo=UTC, serverSelectionTimeoutMS=10_000, event_listeners=[finds]
    )
    store = MongoStore(client, client.get_default_database())
    await store.ensure_indexes()
    try:
        yield store
    finally:
        await store.close()
