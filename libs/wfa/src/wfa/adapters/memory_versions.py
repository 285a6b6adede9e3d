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

    async def newest_created_at(self, workflow_id: str) -> datetime | None:
        await _round_trip()
        return max((at for wid, at, _ in self._versions if wid == workflow_id), default=None)

    async def get(self, workflow_id: str, *, created_at: datetime, version: int) -> WorkflowVersion | None:
        await _round_trip()
        return self._versions.get((workflow_id, created_at, version))

    async def list(self, workflow_id: str, *, created_at: datetime, limit: int, cursor: str | None) -> VersionPage:
        await _round_trip()
        before: int | None = None
        if cursor is not None:
            created_at, before = decode_version_cursor(cursor)
        numbers = sorted(
            (n for wid, at, n in self._versions if wid == workflow_id and at == created_at),
            reverse=True,
        )
        numbers = [n for n in numbers if before is None or n < before][: limit + 1]
        items = [self._versions[(workflow_id, created_at, n)] for n in numbers[:limit]]
        more = len(numbers) > limit
        return VersionPage(items, encode_version_cursor(created_at, items[-1].version) if more and items else None)
