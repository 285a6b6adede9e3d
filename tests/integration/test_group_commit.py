"""Group commit on a real server: concurrent calls go together, and each caller gets its own answer."""

from __future__ import annotations

import asyncio
from unittest.mock import ANY

import pytest
from pymongo.errors import DuplicateKeyError

from wfa.adapters.mongo import MongoStore
from wfa.adapters.mongo.group_commit import GroupCommit

pytestmark = pytest.mark.integration


async def test_each_update_of_a_partly_matched_bulk_learns_whether_it_applied(store: MongoStore) -> None:
    collection = store.executions_collection
    await collection.insert_many([{"_id": f"d{n}", "owner": "a" if n % 2 else "b"} for n in range(10)])
    group = GroupCommit(collection)

    # The first call goes alone; the nine that arrive while it is in flight go as one bulk_write, of which only
    # some match (the documents owned by "a").
    applied = await asyncio.gather(
        *(group.update({"_id": f"d{n}", "owner": "a"}, {"$set": {"touched": n}}) for n in range(10))
    )

    assert applied == [n % 2 == 1 for n in range(10)]
    touched = {document["_id"] async for document in collection.find({"touched": {"$exists": True}})}
    assert touched == {f"d{n}" for n in range(10) if n % 2}


async def test_two_updates_of_one_document_never_share_a_bulk(store: MongoStore) -> None:
    collection = store.executions_collection
    await collection.insert_one({"_id": "d", "n": 0})
    group = GroupCommit(collection)

    # Each applies only to the state the one before left, so they must go one after the other, in order (in one
    # unordered bulk, the server may apply them in any order and some would miss).
    applied = await asyncio.gather(*(group.update({"_id": "d", "n": n}, {"$set": {"n": n + 1}}) for n in range(5)))

    assert applied == [True] * 5
    assert await collection.find_one({"_id": "d"}) == {"_id": "d", "n": 5, "lastWrite": ANY}


async def test_a_duplicate_in_a_grouped_insert_fails_only_its_own_caller(store: MongoStore) -> None:
    collection = store.executions_collection
    await collection.insert_one({"_id": "taken"})
    group = GroupCommit(collection)

    results = await asyncio.gather(
        *(group.insert({"_id": name}) for name in ("first", "taken", "second", "third")), return_exceptions=True
    )

    assert [type(result) for result in results] == [type(None), DuplicateKeyError, type(None), type(None)]
    assert {document["_id"] async for document in collection.find({})} == {"taken", "first", "second", "third"}


async def test_grouped_reads_answer_each_caller_with_its_document(store: MongoStore) -> None:
    collection = store.executions_collection
    await collection.insert_many([{"_id": f"d{n}", "n": n} for n in range(5)])
    group = GroupCommit(collection)

    found = await asyncio.gather(*(group.find(f"d{n}") for n in (0, 1, 2, 9, 4)))

    assert [None if document is None else document["n"] for document in found] == [0, 1, 2, None, 4]


async def test_grouped_inserts_of_new_documents_skip_those_that_exist(store: MongoStore) -> None:
    collection = store.outputs_collection
    await collection.insert_one({"_id": "taken", "v": "first"})
    group = GroupCommit(collection)

    # The first call goes alone; the others, one of them naming "taken" again, go together.
    await asyncio.gather(
        group.insert_new([{"_id": "a", "v": 1}]),
        group.insert_new([{"_id": "taken", "v": "second"}, {"_id": "b", "v": 2}]),
        group.insert_new([{"_id": "c", "v": 3}, {"_id": "taken", "v": "third"}]),
    )

    stored = {document["_id"]: document["v"] async for document in collection.find({})}
    assert stored == {"taken": "first", "a": 1, "b": 2, "c": 3}
