"""WorkflowChanges over a MongoDB change stream on the workflows collection.

Change streams need a replica set (a single-node one will do) or a server that offers them on a standalone
node, as SecantusDB does; a server that refuses them gets ChangesUnsupported and the scheduler keeps to its
capped sleep.

The server decides which changes reach the scheduler: every workflow's lock is taken and released once per
execution, and every fire moves a slot, so without the filter each of those would wake every loop of every
scheduler process into a query of its own. Passing are only what can move a loop's next due moment (see
`wfa_scheduler.changes`), each event reduced to two flags saying which loops it concerns.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any, Final

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure

from wfa.adapters.mongo.documents import DELETED, WorkflowFields
from wfa.domain.workflow import TriggerStatus
from wfa_scheduler.changes import ChangesUnsupported, Wake

F = WorkflowFields

# Server answers that mean "never on this deployment": not a replica set, or no $changeStream stage at all.
_UNSUPPORTED_CODES = frozenset({40573, 40324, 115, 59})

# After a getMore that brought nothing. MongoDB answers one only after its await time (a second), so this costs
# nothing there; SecantusDB answers at the first write to any collection, filtered out or not, so without a pause
# the stream would cost a getMore per write burst (measured: 2.4 per scheduled fire). A change that lands during
# the pause wakes the loops up to this much later, which a new workflow's first slot, an interval (1 s at least)
# away, does not feel.
_EMPTY_BATCH_PAUSE: Final = 0.05

_FIRING: Final = "wakeFiring"
_RETRIES: Final = "wakeRetries"

# The paths an update changed, as MongoDB reports them (`trigger.nextRunAt`); none for other operations.
_UPDATED: Final = {
    "$map": {"input": {"$objectToArray": {"$ifNull": ["$updateDescription.updatedFields", {}]}}, "in": "$$this.k"}
}


def _updated(path: str) -> dict[str, Any]:
    return {"$in": [path, "$$updated"]}


# Inserts, replaces and deletes may change anything. Among updates: pause, resume and delete (`enabled`,
# `deleted`), and a new slot (`nextRunAt`) unless the same write claimed the old one, which is known by the lock
# it took or the skipped fire it counted: a claim only moves that workflow's slot later. A whole `trigger`
# reported as one field could be either, so it wakes.
_FIRING_WHEN: Final = {
    "$or": [
        {"$in": ["$operationType", ["insert", "replace", "delete"]]},
        _updated(F.ENABLED),
        _updated(DELETED),
        _updated(F.TRIGGER),
        {
            "$and": [
                _updated(F.NEXT_RUN_AT),
                {"$not": [_updated(F.EXECUTION_ID)]},
                {"$not": [_updated(F.SKIPPED_FIRES)]},
                {"$not": [_updated(F.MISSED_FIRES)]},
            ]
        },
    ]
}
# A lock going pending: its execution now waits for a retry (the retry time itself is on the execution).
_RETRIES_WHEN: Final = {
    "$eq": [
        {"$getField": {"field": F.STATUS, "input": "$updateDescription.updatedFields"}},
        TriggerStatus.PENDING.value,
    ]
}

PIPELINE: Final[list[Mapping[str, Any]]] = [
    {
        "$addFields": {
            _FIRING: {"$let": {"vars": {"updated": _UPDATED}, "in": _FIRING_WHEN}},
            _RETRIES: _RETRIES_WHEN,
        }
    },
    {"$match": {"$or": [{_FIRING: True}, {_RETRIES: True}]}},
    # Only the flags travel (and the resume token `_id`, which a change stream must keep): no documents.
    {"$project": {_FIRING: 1, _RETRIES: 1}},
]


def wake_of(event: Mapping[str, Any]) -> Wake:
    """The loops a filtered change event concerns."""
    wake = Wake(0)
    if event.get(_FIRING):
        wake |= Wake.FIRING
    if event.get(_RETRIES):
        wake |= Wake.RETRIES
    return wake


class MongoWorkflowChanges:
    def __init__(self, workflows: AsyncCollection[Any]) -> None:
        self._workflows = workflows

    async def watch(self) -> AsyncIterator[Wake]:
        try:
            stream = await self._workflows.watch(PIPELINE)
        except OperationFailure as exc:
            if exc.code in _UNSUPPORTED_CODES:
                raise ChangesUnsupported(str(exc)) from exc
            raise
        async with stream:
            yield Wake.ALL  # open: whatever changed before now, the loops look again
            while True:
                event = await stream.try_next()  # one getMore at most
                if event is None:
                    await asyncio.sleep(_EMPTY_BATCH_PAUSE)
                    continue
                wake = wake_of(event)
                if wake:
                    yield wake
