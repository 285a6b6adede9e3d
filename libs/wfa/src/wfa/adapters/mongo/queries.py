"""Read shapes both repositories use: a bounded page in one round trip, the earliest moment of a date field, and
a date range bound SecantusDB serves from an index without losing its edge."""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from wfa.adapters.mongo.documents import Document, Documents, Sort, value_at


async def find_page(
    collection: AsyncCollection[Document],
    query: Document,
    *,
    sort: Sort,
    limit: int,
    projection: Document | None = None,
) -> Documents:
    # batch_size = limit: the whole page in the find's first reply, no getMore.
    cursor = collection.find(query, projection=projection, sort=sort, limit=limit, batch_size=limit)
    return await cursor.to_list(length=limit)


async def earliest(collection: AsyncCollection[Document], query: Document, path: str) -> datetime | None:
    """The smallest date at `path` among the documents matching `query` (one indexed find_one)."""
    document = await collection.find_one(
        {**query, path: {"$type": "date"}}, projection={path: 1}, sort=[(path, ASCENDING)]
    )
    if document is None:
        return None
    moment: datetime = value_at(document, path)
    return moment


def at_or_after(moment: datetime) -> Document:
    """`>= moment` on a BSON date, written `> moment - 1 ms` (exactly the same set: BSON dates are whole
    milliseconds, and the driver truncates a datetime to them). SecantusDB treats an inclusive bound that ends
    an index scan as exclusive when another key follows in the index (workflow_newest's _id), losing the
    documents at exactly `moment`; an exclusive bound has no such edge."""
    whole_ms = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    return {"$gt": whole_ms - timedelta(milliseconds=1)}
