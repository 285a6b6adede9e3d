"""Routes of execution statistics: of one workflow, and of every workflow, over a window before now."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field, TypeAdapter, ValidationError

from wfa.domain.durations import PATTERN_TEXT, Interval
from wfa.domain.errors import ValidationFailed
from wfa.domain.statistics import ExecutionStatistics
from wfa_workflows.api.context import UseCases
from wfa_workflows.api.json_bodies import JsonRoute
from wfa_workflows.api.problems import documented
from wfa_workflows.api.workflows import WorkflowIdPath

router = APIRouter(tags=["statistics"], route_class=JsonRoute)

DEFAULT_WINDOW = "24h"
# A string in the query (the contract's duration syntax), checked by the same type as every other duration.
WindowQuery = Annotated[
    str,
    Query(
        max_length=16,
        pattern=PATTERN_TEXT,
        description="How far back from now: a duration of 1s to 365d, such as `1h` or `7d`.",
    ),
]
_INTERVAL: TypeAdapter[timedelta] = TypeAdapter(Interval)


class Statistics(ExecutionStatistics):
    """Executions created in [since, until] (`until` is now, `since` is now minus `window`).

    Rates are over finished executions (succeeded, failed, cancelled); durations are of finished executions and,
    per action, of its last attempt in each execution; percentiles are nearest-rank (approximate on large
    groups). `actions` lists at most 1000 actions (the slowest), `slowestActions` the five slowest by p95."""

    window: Interval = Field(description="The window asked for, normalised.")


def _window(text: str) -> timedelta:
    try:
        return _INTERVAL.validate_python(text)
    except ValidationError as exc:
        raise ValidationFailed(exc.errors(include_url=False)[0]["msg"], loc=("query", "window")) from None


@router.get(
    "/workflows/{workflow_id}/stats",
    response_model=Statistics,
    responses=documented(404, 422),
    summary="A workflow's execution statistics over a window (also after the workflow was deleted)",
)
async def get_workflow_statistics(
    workflow_id: WorkflowIdPath, use_cases: UseCases, window: WindowQuery = DEFAULT_WINDOW
) -> Statistics:
    duration = _window(window)
    stats = await use_cases.statistics(workflow_id, window=duration)
    return Statistics(**stats.model_dump(), window=duration)


@router.get(
    "/stats",
    response_model=Statistics,
    responses=documented(422),
    summary="Execution statistics of every workflow over a window",
)
async def get_statistics(use_cases: UseCases, window: WindowQuery = DEFAULT_WINDOW) -> Statistics:
    duration = _window(window)
    stats = await use_cases.statistics(None, window=duration)
    return Statistics(**stats.model_dump(), window=duration)
