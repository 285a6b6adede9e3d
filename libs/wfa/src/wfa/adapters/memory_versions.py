"""The in-memory WorkflowVersionRepository for unit tests; it passes the same contract suite as the MongoDB one."""

from __future__ import annotations

from datetime import datetime

from wfa.adapters.cursor import decode_version_cursor, encode_version_cursor
from wfa.adapters.memory import _round_trip
from wfa.domain.versions import WorkflowVersion
from wfa.ports.repositories import VersionPage

_Key = tuple[str, datetime, int]


class InMemoryVersionRepository:
    def __init__(self) -> None:
        self._versions: dict[_Key, WorkflowVersion] = {}

    async def record(self, version: WorkflowVersion) -> None:
        await _round_trip()
        # Frozen dataclass around a definition nobody mutates after this point: stored as given, read as stored.
        self._versions[(version.workflow_id, version.created_at, version.version)] = version

    async def get(self, workflow_id: str, *, created_at: datetime, version: int) -> WorkflowVersion | None:
        await _round_trip()
        return self._versions.get((workflow_id, created_at, version))

    async def list(
        self, workflow_id: str, *, created_at: datetime, newest: int, limit: int, cursor: str | None
    ) -> VersionPage:
        await _round_trip()
        top = newest
        if cursor is not None:
            created_at, before = decode_version_cursor(cursor)
            top = before - 1
        # The same range of numbers the MongoDB adapter reads: [top - limit, top], the lowest one only to know
        # whether another page follows.
        found = [
            self._versions[(workflow_id, created_at, n)]
            for n in range(top, max(top - limit, 1) - 1, -1)
            if (workflow_id, created_at, n) in self._versions
        ]
        items = [v for v in found if v.version > top - limit]
        more = len(found) > len(items)
        return VersionPage(items, encode_version_cursor(created_at, items[-1].version) if more and items else None)
