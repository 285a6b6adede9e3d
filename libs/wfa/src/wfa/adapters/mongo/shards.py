"""ShardLeaseRepository over MongoDB: the `scheduler_shards` collection, a few dozen small documents.

A shard's lease is `{_id: <shard number>, owner, leaseUntil}`; a process's heartbeat is `{_id: <its name>, owner,
leaseUntil}` (a string `_id`), so that one `update_many` by owner renews both. A lease is taken by one conditional
`update_one` by `_id` on an expired lease, upserting the shard's first lease (never `findAndModify`, which the
embedded server answers by scanning the collection).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from wfa.adapters.mongo.documents import ID, Document, plain
from wfa.adapters.mongo.errors import translated
from wfa.domain.shards import RELEASED, ShardLease, ShardView

OWNER: Final = "owner"
LEASE_UNTIL: Final = "leaseUntil"


class MongoShardLeases:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._collection = collection
        self._announced: set[str] = set()

    @translated
    async def read(self) -> ShardView:
        leases: dict[int, ShardLease] = {}
        members: dict[str, datetime] = {}
        async for document in self._collection.find({}):
            if isinstance(document[ID], int):
                leases[document[ID]] = ShardLease(document[ID], document[OWNER], document[LEASE_UNTIL])
            else:
                members[document[ID]] = document[LEASE_UNTIL]
        return ShardView(leases=leases, members=members)

    @translated
    async def heartbeat(self, owner: str, *, until: datetime) -> None:
        renewed = await self._collection.update_many({OWNER: plain(owner)}, {"$set": {LEASE_UNTIL: until}})
        if owner not in self._announced or renewed.matched_count == 0:
            # Its first heartbeat, or its record was forgotten (it stalled for long): later heartbeats renew the
            # record in the update_many above, one write in all.
            await self._collection.update_one({ID: owner}, {"$set": {OWNER: owner, LEASE_UNTIL: until}}, upsert=True)

    @translated
    async def try_take(self, shard: int, *, owner: str, until: datetime, now: datetime) -> bool:
        try:
            result = await self._collection.update_one(
                {ID: shard, LEASE_UNTIL: {"$lte": now}}, {"$set": {OWNER: owner, LEASE_UNTIL: until}}, upsert=True
            )
        except DuplicateKeyError:
            # Held by another (the upsert's insert collided with its lease), or our own first send landed and the
            # driver sent the write again: the stored lease tells.
            current = await self._collection.find_one({ID: shard})
            return current is not None and (current[OWNER], current[LEASE_UNTIL]) == (owner, until)
        return result.matched_count == 1 or result.upserted_id is not None

    @translated
    async def release(self, shard: int, *, owner: str) -> None:
        await self._collection.update_one(
            {ID: shard, OWNER: plain(owner)}, {"$set": {OWNER: None, LEASE_UNTIL: RELEASED}}
        )

    @translated
    async def leave(self, owner: str) -> None:
        await self._collection.update_many({OWNER: plain(owner)}, {"$set": {OWNER: None, LEASE_UNTIL: RELEASED}})

    @translated
    async def forget(self, owners: Iterable[str]) -> None:
        await self._collection.delete_many({ID: {"$in": [plain(owner) for owner in owners]}})
