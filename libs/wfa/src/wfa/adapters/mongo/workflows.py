"""WorkflowRepository over MongoDB: one document per workflow, `_id` = workflowId.

The lock's rules are the domain's transitions (wfa.domain.trigger_lock), each written as one conditional
`update_one` (wfa.adapters.mongo.transitions), so they hold across any number of processes; where the caller
needs the workflow, or the write did not apply, one read by `_id` follows and tells which.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from wfa.adapters.cursor import decode_workflow_cursor, encode_workflow_cursor
from wfa.adapters.mongo.documents import (
    DELETED,
    DELETED_AT,
    ID,
    Document,
    Documents,
    Sort,
    WorkflowFields,
    definition_update,
    plain,
    value_at,
    workflow_from_document,
    workflow_to_document,
)
from wfa.adapters.mongo.errors import translated
from wfa.adapters.mongo.group_commit import GroupCommit
from wfa.adapters.mongo.queries import at_or_after, earliest, find_page
from wfa.adapters.mongo.transitions import state_of, write_filter, write_update
from wfa.domain import failure_streak, trigger_lock
from wfa.domain.errors import TriggerLocked, VersionMismatch, WorkflowAlreadyExists, WorkflowNotFound
from wfa.domain.execution import ExecutionStatus
from wfa.domain.failure_streak import Concluded
from wfa.domain.labels import Selector
from wfa.domain.schedule import FirePlan
from wfa.domain.trigger_lock import LockField, LockTransition, claim_transitions
from wfa.domain.workflow import BacklogSlot, PausedReason, TriggerStatus, WhenBusy, Workflow
from wfa.ports.repositories import LockPage, LockPosition, SlotClaim, SlotOutcome, WorkflowPage, Workflows

F = WorkflowFields

WORKFLOW_INDEXES: Final = [
    # due_for_schedule and earliest_next_run_at: only enabled, live workflows are in it, ordered by their next
    # fire, so a pass reads the due ones and nothing else.
    IndexModel(
        [(F.NEXT_RUN_AT, ASCENDING), (ID, ASCENDING)],
        name="schedule",
        partialFilterExpression={DELETED: False, F.ENABLED: True},
    ),
    # due_backlogs: as `schedule`, by the backlog's first slot (null, outside every date range, when empty).
    IndexModel(
        [(F.BACKLOG_NEXT, ASCENDING), (ID, ASCENDING)],
        name="backlog",
        partialFilterExpression={DELETED: False, F.ENABLED: True},
    ),
    # list with ?label=: the array of `key=value` strings, with the workflowId the list is ordered by.
    IndexModel([(F.LABELS, ASCENDING), (ID, ASCENDING)], name="labels", partialFilterExpression={DELETED: False}),
    # find_locked_since: an idle workflow's lockedAt is null, outside every `$lt: <date>` range.
    IndexModel(
        [(F.LOCKED_AT, ASCENDING), (ID, ASCENDING)],
        name="locks",
        partialFilterExpression={DELETED: False},
    ),
    # find_holders_since: holdersSince is null while a limit's other slots are free, outside every date range.
    IndexModel(
        [(F.HOLDERS_SINCE, ASCENDING), (ID, ASCENDING)],
        name="holders",
        partialFilterExpression={DELETED: False},
    ),
    # find_waiting_since: waitingSince is null while nothing waits (whenBusy: queue), outside every date range.
    IndexModel(
        [(F.WAITING_SINCE, ASCENDING), (ID, ASCENDING)],
        name="waiting",
        partialFilterExpression={DELETED: False},
    ),
]

LOCK_PATHS: Final = {
    LockField.ENABLED: F.ENABLED,
    LockField.STATUS: F.STATUS,
    LockField.HOLDER: F.EXECUTION_ID,
    LockField.LOCKED_AT: F.LOCKED_AT,
    LockField.NEXT_RUN_AT: F.NEXT_RUN_AT,
    LockField.SKIPPED_FIRES: F.SKIPPED_FIRES,
    LockField.CONSECUTIVE_FAILURES: F.CONSECUTIVE_FAILURES,
    LockField.PAUSED_REASON: F.PAUSED_REASON,
    LockField.MISSED_FIRES: F.MISSED_FIRES,
    LockField.FIRED_FIRES: F.FIRED_FIRES,
    LockField.RECENT_FIRES: F.RECENT_FIRES,
    LockField.HOLDERS: F.HOLDERS,
    LockField.HOLDERS_SINCE: F.HOLDERS_SINCE,
    LockField.HOLDERS_SEEN: F.HOLDERS_SEEN,
    LockField.WAITING: F.WAITING,
    LockField.WAITING_SINCE: F.WAITING_SINCE,
    LockField.LIMIT: F.CONCURRENCY_LIMIT,
    LockField.QUEUE_MAX: F.QUEUE_MAX,
}
# A failed conditional write is explained by a second read; if that read shows the precondition holding again
# (the lock was released in between), the write is simply tried again, a bounded number of times.
_RACE_RETRIES: Final = 5


def _live(workflow_id: str) -> Document:
    return {ID: plain(workflow_id), DELETED: False}


class MongoWorkflowRepository:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._collection = collection
        self._group = GroupCommit(collection)

    @translated
    async def add(self, workflow: Workflow) -> None:
        # Replaces a tombstone, or inserts: an existing live workflow makes the upsert's insert a duplicate key.
        document = workflow_to_document(workflow)
        try:
            await self._collection.replace_one({ID: workflow.workflow_id, DELETED: True}, document, upsert=True)
        except DuplicateKeyError as exc:
            if await self._collection.find_one(_live(workflow.workflow_id)) == document:
                return  # the same add, sent again after its first send landed
            raise WorkflowAlreadyExists(workflow.workflow_id) from exc

    @translated
    async def get(self, workflow_id: str) -> Workflow:
        document = await self._read_live(workflow_id)
        if document is None:
            raise WorkflowNotFound(workflow_id)
        return workflow_from_document(document)

    @translated
    async def ever_existed(self, workflow_id: str) -> bool:
        return await self._collection.find_one({ID: plain(workflow_id)}, projection={ID: 1}) is not None

    @translated
    async def find_latest(self, workflow_id: str) -> Workflow | None:
        # A tombstone keeps the workflow's last state, so one read by _id answers for a live or a deleted one.
        document = await self._collection.find_one({ID: plain(workflow_id)})
        return workflow_from_document(document) if document is not None else None

    @translated
    async def list(self, *, limit: int, cursor: str | None, labels: Sequence[Selector] = ()) -> WorkflowPage:
        after = decode_workflow_cursor(cursor) if cursor is not None else None
        if labels:
            return await self._list_labelled(labels, after=after, limit=limit)
        query: Document = {DELETED: False}
        if after is not None:
            query[ID] = {"$gt": after}
        documents = await self._find(query, sort=[(ID, ASCENDING)], limit=limit + 1)
        return _page([workflow_from_document(document) for document in documents], limit)

    async def _list_labelled(self, labels: Sequence[Selector], *, after: str | None, limit: int) -> WorkflowPage:
        # SecantusDB serves a multikey index only for one equality with nothing else beside it but the index's
        # partial filter: no $all, no second label, no _id range (each of those makes it scan the collection).
        # So the index gives the ids carrying the first label (a light read: ids and labels only), the other labels
        # and the cursor are applied here, and the page is then read by _id. The cost is that of the workflows
        # carrying the first label, never that of the whole collection.
        first, *others = [f"{key}={value}" for key, value in labels]
        carrying = await self._collection.find(
            {DELETED: False, F.LABELS: plain(first)}, projection={F.LABELS: 1}
        ).to_list()
        wanted = set(others)
        ids = sorted(
            document[ID]
            for document in carrying
            if (after is None or document[ID] > after) and wanted <= set(document.get(F.LABELS) or ())
        )[: limit + 1]
        if not ids:
            return WorkflowPage([], None)
        documents = await self._find({ID: {"$in": ids}}, sort=[(ID, ASCENDING)], limit=len(ids))
        # A workflow deleted or relabelled between the two reads is left out (it no longer qualifies).
        live = [
            workflow
            for workflow in (workflow_from_document(d) for d in documents if not d.get(DELETED))
            if all(workflow.labels.get(key) == value for key, value in labels)
        ]
        page = live[:limit]
        more = len(ids) > limit
        return WorkflowPage(page, encode_workflow_cursor(page[-1].workflow_id) if more and page else None)

    @translated
    async def replace_definition(self, workflow: Workflow, *, expected_version: int, reschedule: bool) -> Workflow:
        update = definition_update(workflow)
        if not reschedule:
            # The stored slot is the scheduler's: a copy of it read before a fire and written back after would arm
            # the fired slot again.
            del update[F.NEXT_RUN_AT]
        await self._collection.update_one(
            {**_live(workflow.workflow_id), F.VERSION: expected_version}, {"$set": update}
        )
        current = await self._collection.find_one(_live(workflow.workflow_id))
        if current is None:
            raise WorkflowNotFound(workflow.workflow_id)
        stored = workflow_from_document(current)
        # Applied by this call (or by its first send, when the driver sent it again): the stored definition is ours.
        if (stored.version, stored.updated_at, stored.definition()) != (
            workflow.version,
            workflow.updated_at,
            workflow.definition(),
        ):
            raise VersionMismatch(workflow.workflow_id, expected_version, stored.version)
        return stored

    @translated
    async def delete(self, workflow_id: str, *, now: datetime) -> None:
        result = await self._collection.update_one(_live(workflow_id), {"$set": {DELETED: True, DELETED_AT: now}})
        if result.matched_count == 0:
            tombstone = await self._collection.find_one({ID: plain(workflow_id)}, projection={DELETED_AT: 1})
            if tombstone is None or tombstone.get(DELETED_AT) != now:
                raise WorkflowNotFound(workflow_id)

    @translated
    async def set_enabled(
        self, workflow_id: str, *, enabled: bool, next_run_at: datetime | None, now: datetime
    ) -> Workflow:
        update: Document = {
            F.ENABLED: enabled,
            F.PAUSED_REASON: None if enabled else PausedReason.MANUAL.value,
            F.NEXT_RUN_AT: next_run_at,
            F.UPDATED_AT: now,
        }
        if enabled:
            update[F.CONSECUTIVE_FAILURES] = 0
        await self._collection.update_one(_live(workflow_id), {"$set": update})
        document = await self._collection.find_one(_live(workflow_id))
        if document is None:
            raise WorkflowNotFound(workflow_id)
        return workflow_from_document(document)

    @translated
    async def try_acquire_trigger_lock(self, workflow_id: str, *, execution_id: str, now: datetime) -> Workflow:
        first = trigger_lock.acquire(execution_id, now)
        for _ in range(_RACE_RETRIES):
            await self._change(workflow_id, first)
            current = await self._read_live(workflow_id)
            if current is None:
                raise WorkflowNotFound(workflow_id)
            if trigger_lock.holds_a_slot(state_of(current, LOCK_PATHS), execution_id):
                return workflow_from_document(current)
            # The first slot is taken: a limit above 1 has others (read here, so that limit 1 costs what v1 did).
            limit = value_at(current, F.CONCURRENCY_LIMIT) or 1
            for other in trigger_lock.acquires(execution_id, now, limit=limit)[1:]:
                if await self._change(workflow_id, other):
                    taken = await self._read_live(workflow_id)
                    if taken is None:
                        raise WorkflowNotFound(workflow_id)
                    return workflow_from_document(taken)
            locked = _why_locked(workflow_id, current)
            if locked is not None:
                raise locked
        raise TriggerLocked(
            workflow_id, reason=TriggerStatus.BUSY.value, trigger_status=TriggerStatus.BUSY.value, execution_id=None
        )

    @translated
    async def release_trigger_lock(self, workflow_id: str, *, execution_id: str) -> bool:
        for change in (
            trigger_lock.release(execution_id),
            trigger_lock.release_other_slot(execution_id),
            trigger_lock.leaves_queue(execution_id),
        ):
            if await self._change(workflow_id, change):
                return True
        return False

    @translated
    async def conclude_trigger_lock(
        self, workflow_id: str, *, execution_id: str, status: ExecutionStatus, pause_after_failures: int | None
    ) -> Concluded:
        for release in failure_streak.releases(execution_id, status, pause_after_failures=pause_after_failures):
            if await self._change(workflow_id, release.change):
                if not release.pauses:
                    return Concluded(released=True)
                # A read only when the workflow was paused (rare), for the event's count.
                current = await self._read_live(workflow_id)
                count = value_at(current, F.CONSECUTIVE_FAILURES) if current is not None else None
                return Concluded(released=True, paused=True, consecutive_failures=count)
        return Concluded(released=False)

    @translated
    async def mark_trigger_pending(self, workflow_id: str, *, execution_id: str) -> bool:
        return await self._change(workflow_id, trigger_lock.to_pending(execution_id))

    @translated
    async def mark_trigger_busy(self, workflow_id: str, *, execution_id: str) -> bool:
        return await self._change(workflow_id, trigger_lock.to_busy(execution_id))

    @translated
    async def claim_schedule_slot(
        self,
        workflow_id: str,
        *,
        slot: datetime,
        next_run_at: datetime | None,
        execution_id: str,
        now: datetime,
        plan: FirePlan | None = None,
        limit: int = 1,
        queue_max: int | None = None,
    ) -> SlotClaim:
        applied: SlotOutcome | None = None
        changes = claim_transitions(
            slot, next_run_at, execution_id=execution_id, now=now, plan=plan, limit=limit, queue_max=queue_max
        )
        for outcome, change in changes:
            if await self._change(workflow_id, change):
                applied = outcome
                break
        current = await self._read_live(workflow_id)
        if current is None:
            return SlotClaim(SlotOutcome.LOST, None)
        first_outcome, first = changes[0]
        if (
            applied is None
            and first_outcome is SlotOutcome.FIRED
            and value_at(current, F.NEXT_RUN_AT) == first.sets[LockField.NEXT_RUN_AT]
        ):
            # A repeated send of a fire that had landed: the execution holds a slot, or waits for one.
            if trigger_lock.holds_a_slot(state_of(current, LOCK_PATHS), execution_id):
                applied = SlotOutcome.FIRED
            elif execution_id in (value_at(current, F.WAITING) or ()):
                applied = SlotOutcome.QUEUED
        if applied is None:
            return SlotClaim(SlotOutcome.LOST, None)
        return SlotClaim(applied, workflow_from_document(current))

    @translated
    async def add_to_backlog(self, workflow_id: str, slots: Sequence[BacklogSlot]) -> None:
        # `$sort` keeps the list in order in the one write, whoever adds at once; then the head is copied to the
        # indexed field, conditionally on still being the head (a concurrent add or drop copies its own).
        result = await self._collection.update_one(
            _live(workflow_id),
            {"$push": {F.BACKLOG: {"$each": [slot.model_dump(by_alias=True) for slot in slots], "$sort": {"slot": 1}}}},
        )
        if result.matched_count == 0:
            raise WorkflowNotFound(workflow_id)
        await self._copy_backlog_head(workflow_id)

    @translated
    async def due_backlogs(self, *, now: datetime, limit: int) -> Workflows:
        documents = await self._find(
            {**self._scheduled(), F.BACKLOG_NEXT: {"$lte": now}},
            sort=[(F.BACKLOG_NEXT, ASCENDING), (ID, ASCENDING)],
            limit=limit,
        )
        return [workflow_from_document(document) for document in documents]

    @translated
    async def take_lock_for_backlog_slot(
        self, workflow_id: str, *, slot: datetime, execution_id: str, now: datetime, limit: int = 1
    ) -> bool:
        selector = {**_live(workflow_id), F.BACKLOG_HEAD: slot}
        for change in trigger_lock.fire_backlog_slots(slot, execution_id=execution_id, now=now, limit=limit):
            if await self._group.update(write_filter(change, LOCK_PATHS, selector), write_update(change, LOCK_PATHS)):
                return True
        current = await self._read_live(workflow_id)  # a repeated send that landed holds the lock for this id
        return current is not None and trigger_lock.holds_a_slot(state_of(current, LOCK_PATHS), execution_id)

    @translated
    async def drop_backlog_slot(self, workflow_id: str, *, slot: datetime) -> None:
        await self._collection.update_one({**_live(workflow_id), F.BACKLOG_HEAD: slot}, {"$pop": {F.BACKLOG: -1}})
        await self._copy_backlog_head(workflow_id)

    async def _copy_backlog_head(self, workflow_id: str) -> None:
        document = await self._collection.find_one(_live(workflow_id), projection={F.BACKLOG: 1})
        backlog = value_at(document, F.BACKLOG) if document is not None else None
        if backlog:
            head = backlog[0]["slot"]
            await self._collection.update_one(
                {**_live(workflow_id), F.BACKLOG_HEAD: head}, {"$set": {F.BACKLOG_NEXT: head}}
            )
        else:
            await self._collection.update_one(
                {**_live(workflow_id), F.BACKLOG: {"$size": 0}}, {"$set": {F.BACKLOG_NEXT: None}}
            )

    @translated
    async def due_for_schedule(self, *, now: datetime, limit: int) -> Workflows:
        documents = await self._find(
            {**self._scheduled(), F.NEXT_RUN_AT: {"$lte": now}},
            sort=[(F.NEXT_RUN_AT, ASCENDING), (ID, ASCENDING)],
            limit=limit,
        )
        return [workflow_from_document(document) for document in documents]

    @translated
    async def earliest_next_run_at(self) -> datetime | None:
        return await earliest(self._collection, self._scheduled(), F.NEXT_RUN_AT)

    @translated
    async def find_locked_since(self, *, before: datetime, after: LockPosition | None = None, limit: int) -> LockPage:
        # lockedAt is set exactly while the lock is held (every write that takes the lock sets it, release clears
        # it), so the date range alone selects held locks and the locks index serves it. "Strictly after `after`"
        # is read as lockedAt >= after's and the ties sorted out here: a clause on _id (or a top-level $or) would
        # make SecantusDB scan the whole collection.
        window: Document = {"$lt": before} if after is None else {**at_or_after(after.locked_at), "$lt": before}
        sort: Sort = [(F.LOCKED_AT, ASCENDING), (ID, ASCENDING)]
        fetch = limit
        while True:
            documents = await self._find({DELETED: False, F.LOCKED_AT: window}, sort=sort, limit=fetch)
            candidates = [(_lock_position(d), d) for d in documents]
            candidates = [(at, d) for at, d in candidates if after is None or at > after]
            # Only a full page of ties already seen (as many locks taken in one millisecond as a page holds) leaves
            # nothing new: read further rather than stop there.
            if candidates or len(documents) < fetch:
                break
            fetch *= 2
        page = candidates[:limit]
        more = len(candidates) > limit or len(documents) == fetch
        locked = [workflow_from_document(document) for _, document in page]
        return LockPage(
            [workflow for workflow in locked if workflow.trigger.status is not TriggerStatus.IDLE],
            page[-1][0] if more and page else None,
        )

    @translated
    async def find_holders_since(self, *, before: datetime, limit: int) -> Workflows:
        documents = await self._find(
            {DELETED: False, F.HOLDERS_SINCE: {"$lt": before}},
            sort=[(F.HOLDERS_SINCE, ASCENDING), (ID, ASCENDING)],
            limit=limit,
        )
        return [workflow_from_document(document) for document in documents]

    @translated
    async def holders_looked_at(self, workflow_id: str, *, since: datetime, now: datetime, seen: Sequence[str]) -> None:
        if not await self._change(workflow_id, trigger_lock.holders_looked_at(since, now, seen=seen)):
            await self._change(workflow_id, trigger_lock.holders_gone(since))

    @translated
    async def join_queue(self, workflow_id: str, *, execution_id: str, now: datetime) -> Workflow:
        for _ in range(_RACE_RETRIES):
            current = await self._read_live(workflow_id)
            if current is None:
                raise WorkflowNotFound(workflow_id)
            if execution_id in (value_at(current, F.WAITING) or ()):
                return workflow_from_document(current)  # a repeated send that had landed
            workflow = workflow_from_document(current)
            concurrency = workflow.concurrency
            if not workflow.enabled or concurrency.when_busy is not WhenBusy.QUEUE:
                break
            for change in trigger_lock.joins_queue(execution_id, now, queue_max=concurrency.queue_max):
                if await self._change(workflow_id, change):
                    joined = await self._read_live(workflow_id)
                    if joined is None:
                        raise WorkflowNotFound(workflow_id)
                    return workflow_from_document(joined)
            if len(workflow.trigger.waiting) >= concurrency.queue_max:
                break
            # Otherwise the workflow changed between the read and the write (its queue moved, its bound): again.
        current = await self._read_live(workflow_id)
        if current is None:
            raise WorkflowNotFound(workflow_id)
        raise trigger_lock.why_not_queued(workflow_from_document(current))

    @translated
    async def start_waiting(self, workflow_id: str, *, head: str, now: datetime, limit: int) -> bool:
        for change in trigger_lock.starts_waiting(head, now, limit=limit):
            if await self._change(workflow_id, change):
                return True
        # A repeated send that had landed leaves `head` holding a slot and out of the queue.
        current = await self._read_live(workflow_id)
        return (
            current is not None
            and trigger_lock.holds_a_slot(state_of(current, LOCK_PATHS), head)
            and head not in (value_at(current, F.WAITING) or ())
            and value_at(current, F.WAITING_SINCE) == now
        )

    @translated
    async def find_waiting_since(self, *, before: datetime, limit: int) -> Workflows:
        documents = await self._find(
            {DELETED: False, F.WAITING_SINCE: {"$lt": before}},
            sort=[(F.WAITING_SINCE, ASCENDING), (ID, ASCENDING)],
            limit=limit,
        )
        return [workflow_from_document(document) for document in documents]

    @translated
    async def waiting_looked_at(self, workflow_id: str, *, since: datetime, now: datetime) -> None:
        if not await self._change(workflow_id, trigger_lock.waiting_looked_at(since, now)):
            await self._change(workflow_id, trigger_lock.waiting_gone(since))

    async def _change(self, workflow_id: str, change: LockTransition) -> bool:
        return await self._group.update(
            write_filter(change, LOCK_PATHS, _live(workflow_id)),
            write_update(change, LOCK_PATHS),
        )

    async def _read_live(self, workflow_id: str) -> Document | None:
        document = await self._group.find(plain(workflow_id))
        return document if document is not None and not document.get(DELETED) else None

    @staticmethod
    def _scheduled() -> Document:
        # Exactly the schedule index's partial filter, so the index serves the query (SecantusDB uses a partial
        # index only when every other clause of the query is absorbed by it). No clause on the trigger's type:
        # a manual trigger's nextRunAt is always null (the contract), and null is outside every date range.
        return {DELETED: False, F.ENABLED: True}

    async def _find(self, query: Document, *, sort: Sort, limit: int) -> Documents:
        return await find_page(self._collection, query, sort=sort, limit=limit)


def _page(workflows: Workflows, limit: int) -> WorkflowPage:
    """A page of at most `limit` from `limit + 1` read, the next cursor after its last when there was one more."""
    page = workflows[:limit]
    more = len(workflows) > limit
    return WorkflowPage(page, encode_workflow_cursor(page[-1].workflow_id) if more and page else None)


def _lock_position(document: Document) -> LockPosition:
    return LockPosition(value_at(document, F.LOCKED_AT), document[ID])


def _why_locked(workflow_id: str, current: Document) -> TriggerLocked | None:
    status: str = value_at(current, F.STATUS)
    holder: str | None = value_at(current, F.EXECUTION_ID)
    if not value_at(current, F.ENABLED):
        return TriggerLocked(workflow_id, reason="paused", trigger_status=status, execution_id=holder)
    if status != TriggerStatus.IDLE.value:
        return TriggerLocked(workflow_id, reason=status, trigger_status=status, execution_id=holder)
    if value_at(current, F.WAITING):
        # A slot is free but executions wait for it (whenBusy: queue): they go first.
        return TriggerLocked(workflow_id, reason=TriggerStatus.BUSY.value, trigger_status=status, execution_id=None)
    return None
