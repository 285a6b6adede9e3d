"""One database for the whole suite, emptied before each case: creating a database and its indexes per case
would cost more than the case itself."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from wfa.adapters.mongo import MongoStore
from wfa_devstack import with_database

TIMEOUT_MS = 5_000


@pytest.fixture(scope="module")
async def shared_store(mongo_server_url: str) -> AsyncIterator[MongoStore]:
    store = MongoStore.from_url(
        with_database(mongo_server_url, f"wfa_faults_{uuid.uuid4().hex[:12]}"), timeout_ms=TIMEOUT_MS
    )
    await store.ensure_indexes()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def store(shared_store: MongoStore) -> MongoStore:
    await shared_store.workflows_collection.delete_many({})
    await shared_store.executions_collection.delete_many({})
    return shared_store
