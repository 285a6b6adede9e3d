"""Routes of a workflow's versions: the list with what changed, one version, and the diff of two (docs/versions.md).

They answer for a deleted workflow too: its versions stay readable, like its executions.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from wfa_workflows.api.context import UseCases
from wfa_workflows.api.json_bodies import JsonRoute
from wfa_workflows.api.problems import documented
from wfa_workflows.api.schemas import VersionDiffBody, VersionPage, VersionResource, VersionSummary
from wfa_workflows.api.workflows import Cursor, Limit, WorkflowIdPath

router = APIRouter(prefix="/workflows/{workflow_id}/versions", tags=["workflows"], route_class=JsonRoute)

MAX_VERSION = 2**31 - 1  # beyond any real history; keeps the number inside what every store compares exactly

VersionPath = Annotated[int, Path(ge=1, le=MAX_VERSION, description="A version number (1 is the created one).")]
Against = Annotated[
    int | None,
    Query(ge=1, le=MAX_VERSION, description="The version to diff from; default: the one before `version`."),
]


@router.get(
    "",
    response_model=VersionPage,
    responses=documented(404, 422),
    summary="A workflow's versions, newest first, each with the paths it changed (also after a delete)",
)
async def list_versions(
    workflow_id: WorkflowIdPath, use_cases: UseCases, limit: Limit = 50, cursor: Cursor = None
) -> VersionPage:
    listing = await use_cases.list_versions(workflow_id, limit=limit, cursor=cursor)
    return VersionPage(
        items=[
            VersionSummary(
                version=entry.version.version,
                updated_at=entry.version.updated_at,
                changed_by=entry.version.changed_by,
                changes=entry.changes,
            )
            for entry in listing.items
        ],
        next_cursor=listing.next_cursor,
    )


@router.get(
    "/{version}",
    response_model=VersionResource,
    responses=documented(404, 422),
    summary="A workflow's definition as it was at one version",
)
async def get_version(workflow_id: WorkflowIdPath, version: VersionPath, use_cases: UseCases) -> VersionResource:
    return VersionResource.of(await use_cases.get_version(workflow_id, version))


@router.get(
    "/{version}/diff",
    response_model=VersionDiffBody,
    responses=documented(404, 422),
    summary="What changed between two versions: an RFC 6902 patch and a unified diff of the YAML",
)
async def diff_versions(
    workflow_id: WorkflowIdPath, version: VersionPath, use_cases: UseCases, against: Against = None
) -> VersionDiffBody:
    result = await use_cases.diff_versions(workflow_id, version, against=against)
    return VersionDiffBody(
        from_version=result.from_version, to_version=result.to_version, patch=result.diff.patch, text=result.diff.text
    )
