"""WorkflowChanges over a MongoDB change stream on the workflows collection.

Change streams need a replica set (a single-node one will do) or a server that offers them on a standalone
node, as SecantusDB does; a server that refuses them gets ChangesUnsupported and the scheduler keeps to its
capped sleep. Every insert, update, replace and delete counts as a change: the loops look again with one
indexed query, which costs less than interpreting each document's update here would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure

from wfa_scheduler.changes import ChangesUnsupported

# Server answers that mean "never on this deployment": not a replica set, or no $changeStream stage at all.
_UNSUPPORTED_CODES = frozenset({40573, 40324, 115, 59})

_PIPELINE: list[Mapping[str, Any]] = [
    {"$match": {"operationType": {"$in": ["insert", "update", "replace", "delete"]}}},
    # Only the event's existence matters: do not ship documents or update descriptions over the wire.
    {"$project": {"_id": 1, "operationType": 1}},
]


class MongoWorkflowChanges:
    def __init__(self, workflows: AsyncCollection[Any]) -> None:
        self._workflows = workflows

    async def watch(self) -> AsyncIterator[None]:
        try:
            stream = await self._workflows.watch(_PIPELINE)
        except OperationFailure as exc:
            if exc.code in _UNSUPPORTED_CODES:
                raise ChangesUnsupported(str(exc)) from exc
            raise
        async with stream:
            yield None  # open: whatever changed before now, the loops look again
            async for _ in stream:
                yield None
