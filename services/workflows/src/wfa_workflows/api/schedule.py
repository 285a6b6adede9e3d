"""Routes of a workflow's schedule: its next fires and recent outcomes, and backfills (docs/scheduler.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import AwareDatetime, Field

from wfa.domain.base import Model
from wfa.domain.schedule import MAX_BACKFILL
from wfa.domain.workflow import FireRecord
from wfa_workflows.api.context import UseCases
from wfa_workflows.api.json_bodies import JsonRoute
from wfa_workflows.api.problems import documented

router = APIRouter(prefix="/workflows", tags=["schedules"], route_class=JsonRoute)

WorkflowIdPath = Annotated[str, Path(description="The workflowId.")]
Count = Annotated[int, Query(ge=1, le=100, description="How many next fires to list (1–100).")]


class ScheduleCounters(Model):
    fired: int = Field(description="Slots that started an execution (catch-up and backfill fires included).")
    skipped: int = Field(description="Slots skipped because the workflow was busy or pending.")
    missed: int = Field(description="Slots that never fired because no scheduler ran then, as `catchup` decided.")


class ScheduleView(Model):
    next: list[datetime] = Field(
        description="The next fires (ISO-8601 UTC), the first being the stored nextRunAt: the periodic grid, or the "
        "cron expression in its time zone, daylight-saving changes included. Empty for a manual or paused workflow."
    )
    timezone: str | None = Field(description="The cron expression's time zone; `UTC` for periodic, null for manual.")
    recent: list[FireRecord] = Field(
        description="The last outcomes of the schedule's slots (at most 50), newest first."
    )
    counters: ScheduleCounters = Field(description="Every slot's outcome since the workflow was created.")


class BackfillRequest(Model):
    start: AwareDatetime = Field(alias="from", description="The first moment covered (included), with its offset.")
    end: AwareDatetime = Field(
        alias="to", description="The end (excluded), with its offset; slots at or after now are left to the schedule."
    )
    dry_run: bool = Field(default=False, description="Only list the slots; start nothing.")


class BackfillPlan(Model):
    slots: list[datetime] = Field(description="The slots the backfill covers, oldest first (ISO-8601 UTC).")


class BackfillAccepted(Model):
    slots: int = Field(description="How many slots were added to the workflow's backlog.")
    workflow_id: str = Field(description="The workflow they run.")
    first: datetime | None = Field(description="The oldest slot (null when there was none).")
    last: datetime | None = Field(description="The newest slot (null when there was none).")


@router.get(
    "/{workflow_id}/schedule",
    response_model=ScheduleView,
    responses=documented(404),
    summary="The next fires, the recent outcomes and the counters of a workflow's schedule",
)
async def get_schedule(workflow_id: WorkflowIdPath, use_cases: UseCases, count: Count = 10) -> ScheduleView:
    workflow = await use_cases.get_workflow(workflow_id)
    trigger = workflow.trigger
    return ScheduleView(
        next=use_cases.next_fires(workflow, count=count),
        timezone=trigger.timezone or ("UTC" if trigger.is_scheduled else None),
        recent=list(reversed(trigger.recent_fires)),
        counters=ScheduleCounters(
            fired=trigger.fired_fires, skipped=trigger.skipped_fires, missed=trigger.missed_fires
        ),
    )


@router.post(
    "/{workflow_id}/backfill",
    status_code=202,
    response_model=BackfillAccepted | BackfillPlan,
    responses={
        200: {"model": BackfillPlan, "description": "`dryRun`: the slots, nothing started."},
        **documented(404, 422),
    },
    summary=f"Run the slots of [from, to) of the workflow's schedule, one execution each (at most {MAX_BACKFILL})",
)
async def backfill_workflow(
    workflow_id: WorkflowIdPath, body: BackfillRequest, use_cases: UseCases, response: Response
) -> BackfillAccepted | BackfillPlan:
    slots = await use_cases.backfill(workflow_id, start=body.start, end=body.end, dry_run=body.dry_run)
    if body.dry_run:
        response.status_code = 200
        return BackfillPlan(slots=slots)
    return BackfillAccepted(
        slots=len(slots), workflow_id=workflow_id, first=slots[0] if slots else None, last=slots[-1] if slots else None
    )
