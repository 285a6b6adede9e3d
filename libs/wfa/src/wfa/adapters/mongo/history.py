"""Executions newest first, of one workflow or of all, filtered by any of workflowId, status, reason and a createdAt
window (ExecutionRepository.newest_first): the indexes that serve it and the query it sends.

Every filter combination runs on an index, never a collection scan, on MongoDB and on SecantusDB alike. SecantusDB
is the narrower of the two: it uses a compound index only when the query's equality fields are exactly the index's
leading fields, followed by the one range field; a field the index does not hold, a top-level `$or` or a clause on
`_id` sends it to a collection scan. Hence one index per combination of the three equality filters (eight in all),
each ending in (createdAt, _id) descending, and a query made only of equalities and one createdAt range: the
cursor's "strictly before (createdAt, executionId)" is read as createdAt <= the cursor's, the ties being sorted out
by the caller (`before_position`). On MongoDB the same indexes give the order of the sort, so a page reads about
`limit` keys whatever the filter; filtering on top of a wider index instead (reason over the status index, say)
would read every key of that wider index when nothing matches.

On MongoDB the reason indexes cost only on insert and delete (an execution's reason never changes) and the status
ones on each status change, as workflow_status_newest already did; SecantusDB pays for every index on every write
(about 30 % more per insert and per status update with these six added: docs/listing-executions.md). The plans are
checked in tests/integration/test_execution_history_plans.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import combinations
from typing import Final

from pymongo import DESCENDING, IndexModel

from wfa.adapters.mongo.documents import ID, Document, Documents, ExecutionFields, Sort, plain
from wfa.adapters.mongo.queries import at_or_after
from wfa.ports.repositories import ExecutionFilter, ExecutionPosition

F = ExecutionFields

NEWEST_FIRST: Final[Sort] = [(F.CREATED_AT, DESCENDING), (ID, DESCENDING)]

_EQUALITY_FIELDS: Final = ((F.WORKFLOW_ID, "workflow"), (F.STATUS, "status"), (F.REASON, "reason"))


def _index(fields: tuple[tuple[str, str], ...]) -> IndexModel:
    # Named as the two indexes of v1 were (workflow_newest, workflow_status_newest), which this list keeps as they are.
    name = "_".join([label for _, label in fields] + ["newest"])
    return IndexModel([(path, 1) for path, _ in fields] + list(NEWEST_FIRST), name=name)


HISTORY_INDEXES: Final = [
    _index(fields) for size in range(len(_EQUALITY_FIELDS) + 1) for fields in combinations(_EQUALITY_FIELDS, size)
]
"""newest, workflow_newest, status_newest, reason_newest, workflow_status_newest, workflow_reason_newest,
status_reason_newest, workflow_status_reason_newest. `newest` also serves the statistics over every workflow (a
createdAt range)."""


def history_query(where: ExecutionFilter, after: ExecutionPosition | None) -> Document:
    """The find filter for `where`, from `after` on (None: from the newest); ties at `after` are the caller's."""
    query: Document = {}
    if where.workflow_id is not None:
        query[F.WORKFLOW_ID] = plain(where.workflow_id)
    if where.status is not None:
        query[F.STATUS] = where.status.value
    if where.reason is not None:
        query[F.REASON] = where.reason.value
    # A bound at the very edge of the datetime range leaves nothing out: dropped, rather than overflowing.
    window: Document = {}
    if where.since is not None and where.since > _EARLIEST:
        window = at_or_after(where.since)
    ends = [_whole_ms_ceiling(where.until)] if where.until is not None and where.until < _LATEST else []
    if after is not None and after.created_at < _LATEST:
        ends.append(_whole_ms_floor(after.created_at) + timedelta(milliseconds=1))
    if ends:
        # Exclusive bounds only: SecantusDB may lose the keys at an inclusive one (see at_or_after).
        window["$lt"] = min(ends)
    if window:
        query[F.CREATED_AT] = window
    return query


_EARLIEST: Final = datetime.min.replace(tzinfo=UTC) + timedelta(milliseconds=1)
_LATEST: Final = datetime.max.replace(tzinfo=UTC) - timedelta(milliseconds=1)


def before_position(documents: Documents, after: ExecutionPosition | None) -> Documents:
    """The documents strictly after `after` in the listing's order (strictly before it in time)."""
    if after is None:
        return documents
    return [d for d in documents if ExecutionPosition(d[F.CREATED_AT], d[ID]) < after]


def _whole_ms_floor(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _whole_ms_ceiling(moment: datetime) -> datetime:
    """`< moment` on BSON dates (whole milliseconds; the driver truncates) is `< ceiling`, not `< floor`."""
    floor = _whole_ms_floor(moment)
    return floor if floor == moment else floor + timedelta(milliseconds=1)
