"""WorkflowVersionRepository over MongoDB: one document per version in `workflow_versions`.

`_id` is `<workflowId>:<createdAt in ms>:<version>`: recording a version is a `replace_one` upsert on it, so a
retry, a repair or two racing recorders leave one record. Every read is by `_id` or on the `history` index,
whose cost does not grow with the number of versions beyond the page read.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Final

from pymongo import DESCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from wfa.adapters.cursor import decode_version_cursor, encode_version_cursor
from wfa.adapters.mongo.documents import (
    ID,
    Document,
    definition_from_document,
    definition_to_document,
    plain,
)
from wfa.adapters.mongo.errors import translated
from wfa.adapters.mongo.queries import find_page
from wfa.domain.versions import WorkflowVersion
from wfa.ports.repositories import VersionPage

WORKFLOW_ID: Final = "workflowId"
CREATED_AT: Final = "createdAt"
VERSION: Final = "version"
UPDATED_AT: Final = "updatedAt"
CHANGED_BY: Final = "changedBy"
DEFINITION: Final = "definition"

VERSION_INDEXES: Final = [
    # list: a range of one history's versions.
    IndexModel(
        [(WORKFLOW_ID, DESCENDING), (CREATED_AT, DESCENDING), (VERSION, DESCENDING)], name="history", unique=True
    ),
]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def version_key(workflow_id: str, created_at: datetime, version: int) -> str:
    # Whole milliseconds, as BSON stores createdAt; workflowIds hold no ':', so the key cannot be ambiguous.
    return f"{workflow_id}:{(created_at - _EPOCH) // timedelta(milliseconds=1)}:{version}"


class MongoVersionRepository:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._collection = collection

    @translated
    async def record(self, version: WorkflowVersion) -> None:
        key = version_key(version.workflow_id, version.created_at, version.version)
        document: Document = {
            ID: key,
            WORKFLOW_ID: version.workflow_id,
            CREATED_AT: version.created_at,
            VERSION: version.version,
            UPDATED_AT: version.updated_at,
            CHANGED_BY: version.changed_by,
            DEFINITION: definition_to_document(version.definition),
        }
        # Two recorders upserting the same new key at once: the loser's duplicate key means the other inserted it,
        # with the same content (a committed version does not change), so there is nothing left to do.
        with suppress(DuplicateKeyError):
            await self._collection.replace_one({ID: key}, document, upsert=True)

    @translated
    async def get(self, workflow_id: str, *, created_at: datetime, version: int) -> WorkflowVersion | None:
        document = await self._collection.find_one({ID: version_key(plain(workflow_id), created_at, version)})
        return _version_from_document(document) if document is not None else None

    @translated
    async def list(
        self, workflow_id: str, *, created_at: datetime, newest: int, limit: int, cursor: str | None
    ) -> VersionPage:
        top = newest
        if cursor is not None:
            created_at, before = decode_version_cursor(cursor)
            top = before - 1
        # A closed range of version numbers, not "$lt + sort + limit": SecantusDB sorts after its index scan and
        # does not stop at the limit, so only both bounds keep a page's cost independent of the history's length.
        # The version just below the page is read too, to know whether another page follows.
        query: Document = {
            WORKFLOW_ID: plain(workflow_id),
            CREATED_AT: created_at,
            VERSION: {"$gte": top - limit, "$lte": top},
        }
        documents = await find_page(
            self._collection, query, sort=[(CREATED_AT, DESCENDING), (VERSION, DESCENDING)], limit=limit + 1
        )
        items = [_version_from_document(d) for d in documents if d[VERSION] > top - limit]
        more = len(documents) > len(items)
        return VersionPage(
            items, encode_version_cursor(items[-1].created_at, items[-1].version) if more and items else None
        )


def _version_from_document(document: Document) -> WorkflowVersion:
    return WorkflowVersion(
        workflow_id=document[WORKFLOW_ID],
        version=document[VERSION],
        updated_at=document[UPDATED_AT],
        changed_by=document[CHANGED_BY],
        created_at=document[CREATED_AT],
        definition=definition_from_document(document[DEFINITION]),
    )
