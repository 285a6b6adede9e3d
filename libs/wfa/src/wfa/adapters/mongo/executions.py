"""ExecutionRepository over MongoDB: one document per execution, `_id` = executionId, holding the execution, its
frozen plan, the idempotency key, the runner's lease and when its request was last published.

The claims' rules are the domain's transitions (wfa.domain.run_claims), each one conditional `update_one` by
`_id` (wfa.adapters.mongo.transitions): its cost does not grow with the number of stored executions. Where the
caller needs the document, or the write did not apply, one read by `_id` follows. Reads of executions leave the
plan out unless the caller needs it.

Large action outputs live beside the record (wfa.adapters.mongo.side_outputs): every write that sets action runs
stores them first, every read that returns an execution puts them back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from wfa.adapters.cursor import decode_execution_cursor, encode_execution_cursor
from wfa.adapters.mongo.documents import (
    DISPATCHED_AT,
    ID,
    IDEMPOTENCY_KEY,
    LEASE_OWNER,
    LEASE_UNTIL,
    PLAN,
    RUN_LISTS,
    Document,
    Documents,
    ExecutionFields,
    Sort,
    error_to_document,
    execution_fields,
    execution_from_document,
    execution_to_document,
    literal,
    plain,
    plan_from_document,
)
from wfa.adapters.mongo.errors import translated
from wfa.adapters.mongo.group_commit import GroupCommit
from wfa.adapters.mongo.history import HISTORY_INDEXES, NEWEST_FIRST, before_position, history_query
from wfa.adapters.mongo.queries import at_or_after, earliest, find_page
from wfa.adapters.mongo.side_outputs import REFERENCES, SIDE_OUTPUTS, SideOutputs
from wfa.adapters.mongo.transitions import state_of, write_filter, write_update
from wfa.domain import run_claims
from wfa.domain.errors import ExecutionAlreadyFinished, ExecutionNotFound
from wfa.domain.execution import (
    IDEMPOTENCY_WINDOW,
    ActionRun,
    ActionStatus,
    ErrorInfo,
    Execution,
    ExecutionPlan,
    ExecutionStatus,
    Reason,
)
from wfa.domain.run_claims import RunField, RunTransition, new_token
from wfa.domain.statistics import (
    MAX_ACTIONS,
    ActionStatistics,
    DurationSummary,
    ExecutionStatistics,
    StatusCounts,
    ratio,
)
from wfa.ports.repositories import (
    ClaimedExecution,
    ExecutionFilter,
    ExecutionPage,
    ExecutionPosition,
    FinishedExecution,
    FinishedPage,
    FinishedPosition,
)

F = ExecutionFields

EXECUTION_INDEXES: Final = [
    # newest_first, one per combination of its filters (wfa.adapters.mongo.history says why).
    *HISTORY_INDEXES,
    # find_by_idempotency_key. Only executions created with a key are in it: a key equality implies `$gt: ""`
    # (a partial filter both MongoDB and SecantusDB can match a query against; `$exists` SecantusDB cannot).
    IndexModel(
        [(F.WORKFLOW_ID, ASCENDING), (IDEMPOTENCY_KEY, ASCENDING), (F.CREATED_AT, DESCENDING)],
        name="idempotency_key",
        partialFilterExpression={IDEMPOTENCY_KEY: {"$gt": ""}},
    ),
    # due_retries and earliest_retry_at: pending executions only, by nextRetryAt.
    IndexModel(
        [(F.NEXT_RETRY_AT, ASCENDING), (ID, ASCENDING)],
        name="retries",
        partialFilterExpression={F.STATUS: ExecutionStatus.PENDING.value},
    ),
    # find_unconsumed: queued ones by when they were dispatched; find_expired_leases: running ones by when their
    # lease ends.
    IndexModel(
        [(DISPATCHED_AT, ASCENDING)], name="queued", partialFilterExpression={F.STATUS: ExecutionStatus.QUEUED.value}
    ),
    IndexModel(
        [(LEASE_UNTIL, ASCENDING)], name="leases", partialFilterExpression={F.STATUS: ExecutionStatus.RUNNING.value}
    ),
    # statistics over every workflow: the window is a createdAt range, on `newest` (one workflow's uses
    # workflow_newest). `created`, (createdAt) alone, served it until `newest` came; a database made before may
    # drop it.
    # find_finished_before (retention): finishedAt is set exactly when an execution becomes final, and a date range
    # leaves out the null of the others. Not partial: SecantusDB does not match a query against a partial filter
    # on status ($in of the final ones: it scans the collection instead), and the executions not yet finished are
    # few, so their null keys cost little.
    IndexModel([(F.FINISHED_AT, ASCENDING), (ID, ASCENDING)], name="finished"),
]

_WITHOUT_PLAN: Final = {PLAN: 0}
_PLAN_ONLY: Final = {PLAN: 1}
_FINISHED_FIELDS: Final = {F.WORKFLOW_ID: 1, F.CREATED_AT: 1, F.FINISHED_AT: 1}
_FINAL: Final = [status.value for status in ExecutionStatus if status.is_final]
_REMOVE_CHUNK: Final = 100
_RACE_RETRIES: Final = 5

RUN_PATHS: Final = {
    RunField.STATUS: F.STATUS,
    RunField.ATTEMPT: F.ATTEMPT,
    RunField.NEXT_RETRY_AT: F.NEXT_RETRY_AT,
    RunField.FINISHED_AT: F.FINISHED_AT,
    RunField.LEASE_OWNER: LEASE_OWNER,
    RunField.LEASE_UNTIL: LEASE_UNTIL,
    RunField.DISPATCHED_AT: DISPATCHED_AT,
    RunField.CANCEL_REQUESTED_AT: F.CANCEL_REQUESTED_AT,
    RunField.WAITING: F.WAITING,
}


def _one(execution_id: str) -> Document:
    return {ID: plain(execution_id)}


class MongoExecutionRepository:
    def __init__(
        self, collection: AsyncCollection[Document], *, outputs: AsyncCollection[Document] | None = None
    ) -> None:
        """`outputs`: where large outputs go (by default `execution_outputs` of the same database)."""
        self._collection = collection
        self._group = GroupCommit(collection)
        self._outputs = SideOutputs(outputs if outputs is not None else collection.database[SIDE_OUTPUTS])
        self._keys = collection.database[IDEMPOTENCY_CLAIMS]

    @translated
    async def add(self, execution: Execution, plan: ExecutionPlan, *, idempotency_key: str | None) -> None:
        document = execution_to_document(execution, plan, idempotency_key=idempotency_key)
        try:
            await self._group.insert(await self._outputs.set_aside(execution.execution_id, document))
        except DuplicateKeyError as exc:
            # Execution ids are random: a duplicate is this very insert, sent again after its first send landed
            # (PyMongo retries a write once after a network error).
            current = await self._collection.find_one(
                _one(execution.execution_id), projection={F.WORKFLOW_ID: 1, F.CREATED_AT: 1}
            )
            if current is None or (current[F.WORKFLOW_ID], current[F.CREATED_AT]) != (
                execution.workflow_id,
                execution.created_at,
            ):
                raise ValueError(f"execution {execution.execution_id} stored twice") from exc

    @translated
    async def get(self, execution_id: str) -> Execution:
        document = await self._group.find(plain(execution_id), projection=_WITHOUT_PLAN)
        if document is None:
            raise ExecutionNotFound(execution_id)
        return await self._execution(document)

    @translated
    async def get_plan(self, execution_id: str) -> ExecutionPlan:
        document = await self._group.find(plain(execution_id), projection=_PLAN_ONLY)
        if document is None:
            raise ExecutionNotFound(execution_id)
        return plan_from_document(document)

    @translated
    async def find_by_idempotency_key(self, workflow_id: str, key: str, *, since: datetime) -> Execution | None:
        document = await self._collection.find_one(
            {F.WORKFLOW_ID: plain(workflow_id), IDEMPOTENCY_KEY: plain(key), F.CREATED_AT: {"$gte": since}},
            projection=_WITHOUT_PLAN,
            sort=[(F.CREATED_AT, DESCENDING), (ID, DESCENDING)],
        )
        return None if document is None else await self._execution(document)

    @translated
    async def claim_idempotency_key(self, workflow_id: str, key: str, *, execution_id: str, now: datetime) -> str:
        claim_id = _key_claim_id(workflow_id, key)
        try:
            await self._keys.insert_one({ID: claim_id, F_CLAIMANT: execution_id, F_CLAIMED_AT: now})
            return execution_id
        except DuplicateKeyError:
            pass
        current = await self._keys.find_one({ID: claim_id})
        if current is None or current[F_CLAIMANT] == execution_id:
            return execution_id  # expired and removed meanwhile (the next claim takes it), or our own repeated send
        if current[F_CLAIMED_AT] >= now - IDEMPOTENCY_WINDOW:
            return str(current[F_CLAIMANT])
        # An expired claim: taken over conditionally, so that of concurrent takers one wins.
        await self._keys.update_one(
            {ID: claim_id, F_CLAIMED_AT: current[F_CLAIMED_AT]}, {"$set": {F_CLAIMANT: execution_id, F_CLAIMED_AT: now}}
        )
        latest = await self._keys.find_one({ID: claim_id})
        return str(latest[F_CLAIMANT]) if latest is not None else execution_id

    @translated
    async def reclaim_idempotency_key(
        self, workflow_id: str, key: str, *, execution_id: str, claimed_by: str, now: datetime
    ) -> bool:
        claim_id = _key_claim_id(workflow_id, key)
        await self._keys.update_one(
            {ID: claim_id, F_CLAIMANT: plain(claimed_by)}, {"$set": {F_CLAIMANT: execution_id, F_CLAIMED_AT: now}}
        )
        current = await self._keys.find_one({ID: claim_id})
        return current is not None and current[F_CLAIMANT] == execution_id

    @translated
    async def newest_first(self, where: ExecutionFilter, *, limit: int, cursor: str | None) -> ExecutionPage:
        after = ExecutionPosition(*decode_execution_cursor(cursor)) if cursor is not None else None
        query = history_query(where, after)
        # One more than the page tells whether another follows; the ties at `after` come first in what is read
        # (history_query reads from its createdAt on): read further only when they crowd out the page.
        fetch = limit + 1
        while True:
            documents = await self._find(query, sort=NEWEST_FIRST, limit=fetch)
            following = before_position(documents, after)
            if len(following) > limit or len(documents) < fetch:
                break
            fetch *= 2
        page = await self._executions(following[:limit])
        last = page[-1] if page and len(following) > limit else None
        return ExecutionPage(page, encode_execution_cursor(last.created_at, last.execution_id) if last else None)

    @translated
    async def claim_for_run(
        self, execution_id: str, *, attempt: int, owner: str, lease_until: datetime, now: datetime
    ) -> ClaimedExecution | None:
        claim = run_claims.claim_for_run(attempt=attempt, token=owner, lease_until=lease_until, now=now)
        await self._change(execution_id, claim)
        document = await self._group.find(plain(execution_id))
        if document is None or not claim.landed(state_of(document, RUN_PATHS)):
            return None
        return ClaimedExecution(await self._execution(document), plan_from_document(document))

    @translated
    async def save_progress(self, execution: Execution, *, owner: str, lease_until: datetime) -> bool:
        change = run_claims.save_progress(token=owner, lease_until=lease_until, status=execution.status)
        fields = await self._outputs.set_aside(execution.execution_id, execution_fields(execution))
        return await self._change(execution.execution_id, change, also_set=fields)

    @translated
    async def renew_lease(self, execution_id: str, *, owner: str, lease_until: datetime) -> bool:
        return await self._change(execution_id, run_claims.renew_lease(token=owner, lease_until=lease_until))

    @translated
    async def request_cancel(self, execution_id: str, *, now: datetime) -> Execution:
        change = run_claims.request_cancel(now=now, token=new_token())
        await self._change(execution_id, change)
        current = await self._group.find(plain(execution_id), projection=_WITHOUT_PLAN)
        if current is None:
            raise ExecutionNotFound(execution_id)
        if not change.landed(state_of(current, RUN_PATHS)):
            raise ExecutionAlreadyFinished(execution_id, current[F.STATUS])
        return await self._execution(current)

    @translated
    async def cancel(self, execution_id: str, *, now: datetime) -> Execution:
        change = run_claims.cancel(now=now, token=new_token())
        for _ in range(_RACE_RETRIES):
            await self._collection.update_one(
                write_filter(change, RUN_PATHS, _one(execution_id)), _cancel_pipeline(change, now)
            )
            current = await self._collection.find_one(_one(execution_id), projection=_WITHOUT_PLAN)
            if current is None:
                raise ExecutionNotFound(execution_id)
            if change.landed(state_of(current, RUN_PATHS)):
                return await self._execution(current)
            if ExecutionStatus(current[F.STATUS]).is_final:
                raise ExecutionAlreadyFinished(execution_id, current[F.STATUS])
        raise ExecutionNotFound(execution_id)

    @translated
    async def claim_retry(self, execution_id: str, *, now: datetime) -> Execution | None:
        change = run_claims.requeue_for_retry(now=now, token=new_token())
        await self._change(execution_id, change)
        # Whether the write applied, was this very write sent again, or met a retry not due or taken by another
        # scheduler: the state it left says.
        current = await self._group.find(plain(execution_id), projection=_WITHOUT_PLAN)
        if current is None or not change.landed(state_of(current, RUN_PATHS)):
            return None
        return await self._execution(current)

    @translated
    async def end_wait(self, execution_id: str, *, now: datetime) -> Execution | None:
        change = run_claims.end_wait(now=now)
        await self._change(execution_id, change)
        current = await self._group.find(plain(execution_id), projection=_WITHOUT_PLAN)
        if current is None or not change.landed(state_of(current, RUN_PATHS)):
            return None
        return await self._execution(current)

    @translated
    async def due_retries(self, *, now: datetime, limit: int) -> list[Execution]:
        documents = await self._find(
            {F.STATUS: ExecutionStatus.PENDING.value, F.NEXT_RETRY_AT: {"$lte": now}},
            sort=[(F.NEXT_RETRY_AT, ASCENDING), (ID, ASCENDING)],
            limit=limit,
        )
        return await self._executions(documents)

    @translated
    async def earliest_retry_at(self) -> datetime | None:
        return await earliest(self._collection, {F.STATUS: ExecutionStatus.PENDING.value}, F.NEXT_RETRY_AT)

    @translated
    async def mark_dispatched(self, execution_id: str, *, attempt: int, now: datetime) -> None:
        await self._change(execution_id, run_claims.mark_dispatched(attempt=attempt, now=now))

    @translated
    async def find_unconsumed(self, *, dispatched_before: datetime, limit: int) -> list[Execution]:
        return await self._least_recently_dispatched(
            {F.STATUS: ExecutionStatus.QUEUED.value, DISPATCHED_AT: {"$lt": dispatched_before}}, limit
        )

    @translated
    async def find_expired_leases(self, *, now: datetime, limit: int) -> list[Execution]:
        return await self._least_recently_dispatched(
            {F.STATUS: ExecutionStatus.RUNNING.value, LEASE_UNTIL: {"$lte": now}}, limit
        )

    async def _least_recently_dispatched(self, query: Document, limit: int) -> list[Execution]:
        # Served by the queued and leases indexes (each query's status is its index's partial filter; one query
        # with a top-level $or of both SecantusDB answers by scanning the whole collection). The order is what
        # keeps a sweep from starving anyone: a republished execution's dispatchedAt moves to now.
        documents = await self._find(query, sort=[(DISPATCHED_AT, ASCENDING), (ID, ASCENDING)], limit=limit)
        return await self._executions(documents)

    @translated
    async def find_finished_before(
        self, *, before: datetime, after: FinishedPosition | None = None, limit: int
    ) -> FinishedPage:
        # As find_locked_since: "strictly after `after`" is read as finishedAt >= after's and the ties sorted out
        # here, since a clause on _id (or a top-level $or) would make SecantusDB scan the whole collection. One more
        # than the page for `after` itself, should it still be there.
        window: Document = {"$lt": before} if after is None else {**at_or_after(after.finished_at), "$lt": before}
        sort: Sort = [(F.FINISHED_AT, ASCENDING), (ID, ASCENDING)]
        fetch = limit if after is None else limit + 1
        while True:
            documents = await find_page(
                self._collection, {F.FINISHED_AT: window}, sort=sort, limit=fetch, projection=_FINISHED_FIELDS
            )
            candidates = [_finished(d) for d in documents]
            candidates = [c for c in candidates if after is None or c.position > after]
            # Only more ties already seen than that leave the page short: read further rather than stop there.
            if len(candidates) >= limit or len(documents) < fetch:
                break
            fetch *= 2
        page = candidates[:limit]
        more = len(candidates) > limit or len(documents) == fetch
        return FinishedPage(page, page[-1].position if more and page else None)

    @translated
    async def keep_last_boundary(self, workflow_id: str, *, keep_last: int) -> ExecutionPosition | None:
        # On workflow_newest, as newest_first reads one workflow's history.
        documents = await self._collection.find(
            {F.WORKFLOW_ID: plain(workflow_id)},
            projection={F.CREATED_AT: 1},
            sort=[(F.CREATED_AT, DESCENDING), (ID, DESCENDING)],
            skip=keep_last - 1,
            limit=1,
        ).to_list(length=1)
        if not documents:
            return None
        return ExecutionPosition(documents[0][F.CREATED_AT], documents[0][ID])

    @translated
    async def remove_finished(self, execution_ids: Sequence[str], *, finished_before: datetime) -> int:
        ids = [plain(execution_id) for execution_id in execution_ids]
        removed = 0
        # SecantusDB holds the collection's write lock for a whole delete (1-2 ms a document): in chunks, a pass
        # never stalls the runners' writes for more than a fraction of a second.
        for start in range(0, len(ids), _REMOVE_CHUNK):
            # The status and the finish are checked by the server in the same step as the delete: whatever the
            # caller read, a non-final execution (or one finished later) is never removed.
            chunk = ids[start : start + _REMOVE_CHUNK]
            # Their large outputs first (side_outputs explains the order). A final execution stays final and its
            # finishedAt never moves, so those judged removable here are exactly those the delete removes. Judged
            # here: with the status and finish in the filter, SecantusDB scans the collection instead of the _id index.
            found = await self._collection.find(
                {ID: {"$in": chunk}}, projection={**REFERENCES, F.STATUS: 1, F.FINISHED_AT: 1}
            ).to_list()
            await self._outputs.remove([d for d in found if _removable(d, finished_before)])
            result = await self._collection.delete_many(
                {ID: {"$in": chunk}, F.STATUS: {"$in": _FINAL}, F.FINISHED_AT: {"$lt": finished_before}}
            )
            removed += result.deleted_count
        return removed

    @translated
    async def statistics(self, *, workflow_id: str | None, since: datetime, until: datetime) -> ExecutionStatistics:
        window: Document = {F.CREATED_AT: {**at_or_after(since), "$lte": until}}
        match = window if workflow_id is None else {F.WORKFLOW_ID: plain(workflow_id), **window}
        cursor = await self._collection.aggregate(_statistics_pipeline(match))
        (result,) = await cursor.to_list(length=1)
        # No execution in the window: $group makes no document at all.
        totals: Document = result["executions"][0] if result["executions"] else {}
        return ExecutionStatistics.of(
            workflow_id=workflow_id,
            since=since,
            until=until,
            by_status=StatusCounts(**{status.value: totals.get(status.value, 0) for status in ExecutionStatus}),
            duration_ms=_duration_summary(totals),
            actions=[_action_statistics(group) for group in result["actions"]],
        )

    async def _execution(self, document: Document) -> Execution:
        (execution,) = await self._executions([document])
        return execution

    async def _executions(self, documents: Documents) -> list[Execution]:
        await self._outputs.put_back(documents)
        return [execution_from_document(document) for document in documents]

    async def _find(self, query: Document, *, sort: Sort, limit: int) -> Documents:
        return await find_page(self._collection, query, sort=sort, limit=limit, projection=_WITHOUT_PLAN)

    async def _change(self, execution_id: str, change: RunTransition, *, also_set: Document | None = None) -> bool:
        return await self._group.update(
            write_filter(change, RUN_PATHS, _one(execution_id)),
            write_update(change, RUN_PATHS, also_set=also_set),
        )


IDEMPOTENCY_CLAIMS: Final = "idempotency_keys"
"""One document per (workflow, Idempotency-Key) claimed by a start the lock does not serialise (whenBusy: queue)."""
F_CLAIMANT: Final = "executionId"
F_CLAIMED_AT: Final = "claimedAt"
IDEMPOTENCY_CLAIM_INDEXES: Final = [
    # Claims outlive their window by a day, then MongoDB's TTL monitor removes them (an expired one left in place is
    # taken over by the next claim: correctness never depends on the removal).
    IndexModel(
        [(F_CLAIMED_AT, ASCENDING)], name="expiry", expireAfterSeconds=int(2 * IDEMPOTENCY_WINDOW.total_seconds())
    )
]


def _key_claim_id(workflow_id: str, key: str) -> str:
    return json.dumps([plain(workflow_id), plain(key)])


def _removable(document: Document, finished_before: datetime) -> bool:
    """The delete's filter, judged on a read document."""
    finished_at = document.get(F.FINISHED_AT)
    return document[F.STATUS] in _FINAL and finished_at is not None and finished_at < finished_before


def _finished(document: Document) -> FinishedExecution:
    return FinishedExecution(
        execution_id=document[ID],
        workflow_id=document[F.WORKFLOW_ID],
        created_at=document[F.CREATED_AT],
        finished_at=document[F.FINISHED_AT],
    )


def _interrupted_action_error() -> Document:
    """The error Execution.cancel records on an action it interrupts, taken from the domain so both agree."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    probe = Execution(
        execution_id="probe",
        workflow_id="probe",
        workflow_version=1,
        reason=Reason.MANUAL,
        max_attempts=1,
        actions=[ActionRun(name="probe", type="log", status=ActionStatus.RUNNING)],
        created_at=epoch,
    )
    probe.cancel(epoch)
    error = probe.actions[0].error
    assert isinstance(error, ErrorInfo)
    return error_to_document(error)


_INTERRUPTED_ACTION_ERROR: Final = _interrupted_action_error()


def _cancel_pipeline(change: RunTransition, now: datetime) -> list[Document]:
    """The cancel transition plus Execution.cancel's changes to the record as one update pipeline, so that
    cancelling is one atomic write: a running action fails with the interruption error, actions not started are
    skipped, and the execution ends as cancelled."""
    at = literal(now)

    def ms_since(started_at: str, otherwise: str) -> Document:
        return {"$cond": [{"$eq": [{"$ifNull": [started_at, None]}, None]}, otherwise, {"$subtract": [at, started_at]}]}

    run = "$$run"
    interrupted = {
        F.ACTION_STATUS: literal(ActionStatus.FAILED.value),
        F.ACTION_ERROR: literal(_INTERRUPTED_ACTION_ERROR),
        F.ACTION_FINISHED_AT: at,
        F.ACTION_DURATION_MS: ms_since(f"{run}.{F.ACTION_STARTED_AT}", f"{run}.{F.ACTION_DURATION_MS}"),
    }

    def interrupted_runs(field: str) -> Document:
        # $map of a null (the handler lists before a failure) is null: the field stays as it was.
        return {
            "$map": {
                "input": f"${field}",
                "as": "run",
                "in": {
                    "$switch": {
                        "branches": [
                            {
                                "case": {"$eq": [f"{run}.{F.ACTION_STATUS}", ActionStatus.RUNNING.value]},
                                "then": {"$mergeObjects": [run, interrupted]},
                            },
                            {
                                "case": {"$eq": [f"{run}.{F.ACTION_STATUS}", ActionStatus.NOT_STARTED.value]},
                                "then": {
                                    "$mergeObjects": [run, {F.ACTION_STATUS: literal(ActionStatus.SKIPPED.value)}]
                                },
                            },
                        ],
                        "default": run,
                    }
                },
            }
        }

    effect: Document = write_update(change, RUN_PATHS)["$set"]
    return [
        {
            "$set": {
                **{field: interrupted_runs(field) for field in RUN_LISTS},
                F.DURATION_MS: ms_since(f"${F.STARTED_AT}", f"${F.DURATION_MS}"),
                **{path: literal(value) for path, value in effect.items()},
            }
        }
    ]


# -- statistics ----------------------------------------------------------------------------------------------


_ACTION: Final = "action"  # the $unwind-ed action record


def _duration_accumulators(path: str) -> Document:
    """Count, mean and p50/p95 of the numeric values at `path` (null durations are skipped by all three).

    $percentile (MongoDB 7.0+, SecantusDB too) keeps memory bounded per group: its accumulator is a t-digest, so
    on large groups the figures are approximate; on small ones they are observed values (nearest rank).
    """
    return {
        "durationCount": {"$sum": {"$cond": [{"$isNumber": path}, 1, 0]}},
        "durationAvg": {"$avg": path},
        "durationPercentiles": {"$percentile": {"input": path, "p": [0.5, 0.95], "method": "approximate"}},
    }


def _count_if(path: str, value: str) -> Document:
    return {"$sum": {"$cond": [{"$eq": [path, value]}, 1, 0]}}


def _statistics_pipeline(match: Document) -> list[Document]:
    """One round trip: the window's executions (by an index on createdAt, or workflowId and createdAt), then in
    one $facet the execution totals and the per-action groups, the slowest MAX_ACTIONS of them."""
    action = f"${_ACTION}"
    return [
        {"$match": match},
        {"$project": {F.WORKFLOW_ID: 1, F.STATUS: 1, F.DURATION_MS: 1, F.ACTIONS: 1}},
        {
            "$facet": {
                "executions": [
                    {
                        "$group": {
                            ID: None,
                            **{status.value: _count_if(f"${F.STATUS}", status.value) for status in ExecutionStatus},
                            **_duration_accumulators(f"${F.DURATION_MS}"),
                        }
                    }
                ],
                "actions": [
                    {"$unwind": f"${F.ACTIONS}"},
                    {"$project": {F.WORKFLOW_ID: 1, _ACTION: f"${F.ACTIONS}"}},
                    {
                        "$match": {
                            f"{_ACTION}.{F.ACTION_STATUS}": {
                                "$in": [ActionStatus.SUCCEEDED.value, ActionStatus.FAILED.value]
                            }
                        }
                    },
                    {
                        "$group": {
                            ID: {
                                "workflowId": f"${F.WORKFLOW_ID}",
                                "name": f"{action}.{F.ACTION_NAME}",
                                "type": f"{action}.{F.ACTION_TYPE}",
                            },
                            "succeeded": _count_if(f"{action}.{F.ACTION_STATUS}", ActionStatus.SUCCEEDED.value),
                            "failed": _count_if(f"{action}.{F.ACTION_STATUS}", ActionStatus.FAILED.value),
                            "attempts": {"$sum": f"{action}.{F.ACTION_ATTEMPTS}"},
                            **_duration_accumulators(f"{action}.{F.ACTION_DURATION_MS}"),
                        }
                    },
                    # The slowest first, so that the limit keeps those (ExecutionStatistics.of orders the list).
                    {"$addFields": {"p95": {"$arrayElemAt": ["$durationPercentiles", 1]}}},
                    {"$sort": {"p95": DESCENDING, "durationAvg": DESCENDING, ID: ASCENDING}},
                    {"$limit": MAX_ACTIONS},
                ],
            }
        },
    ]


def _duration_summary(group: Document) -> DurationSummary:
    count = int(group.get("durationCount", 0))
    if not count:
        return DurationSummary(count=0)
    p50, p95 = group["durationPercentiles"]
    return DurationSummary(count=count, avg=group["durationAvg"], p50=p50, p95=p95)


def _action_statistics(group: Document) -> ActionStatistics:
    key: Document = group[ID]
    succeeded, failed = int(group["succeeded"]), int(group["failed"])
    return ActionStatistics(
        workflow_id=key["workflowId"],
        name=key["name"],
        type=key["type"],
        runs=succeeded + failed,
        succeeded=succeeded,
        failed=failed,
        attempts=int(group["attempts"]),
        error_rate=ratio(failed, succeeded + failed),
        duration_ms=_duration_summary(group),
    )
