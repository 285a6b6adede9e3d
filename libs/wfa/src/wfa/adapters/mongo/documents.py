"""The stored form of workflows and executions: the one module that maps the models to BSON and back.

Field names come from the models' aliases (camelCase, as in the API); the few names that exist only in storage
are the constants below. Datetimes stay BSON dates (every queried or sorted field must be one); durations are
stored in their normalised string form, as the models serialise them.

Free-form JSON supplied by users or remote servers (an HTTP action's `headers` and `body`, an execution's
`input`, an action's `output`) is stored as JSON text: its keys may start with `$` or contain `.`, which MongoDB
would read as operators or paths in an update, and its integers may exceed BSON's 64 bits.
"""

from __future__ import annotations

import json
from typing import Any, Final

from pydantic import BaseModel

from wfa.domain.execution import ActionRun, ErrorInfo, Execution, ExecutionPlan
from wfa.domain.labels import label_pairs, labels_from_pairs
from wfa.domain.workflow import Concurrency, HttpRequestAction, Trigger, Workflow, WorkflowDefinition

Document = dict[str, Any]
Documents = list[Document]
"""A plain list of documents (the workflow repository's `list` method shadows the builtin in its scope)."""
Sort = list[tuple[str, int]]


def alias(model: type[BaseModel], name: str) -> str:
    """The stored (and wire) name of a model's field."""
    field_alias = model.model_fields[name].alias
    return field_alias if field_alias is not None else name


# -- names that exist only in storage ----------------------------------------------------------------------------

ID: Final = "_id"
DELETED: Final = "deleted"  # a deleted workflow stays as a tombstone: ever_existed, and its id may be reused
DELETED_AT: Final = "deletedAt"
PLAN: Final = "plan"  # the ExecutionPlan frozen when the execution was created
IDEMPOTENCY_KEY: Final = "idempotencyKey"  # absent when the trigger carried none
LEASE_OWNER: Final = "leaseOwner"
LEASE_UNTIL: Final = "leaseUntil"
DISPATCHED_AT: Final = "dispatchedAt"
LAST_WRITE: Final = "lastWrite"  # the token of the last grouped update (wfa.adapters.mongo.group_commit)


class WorkflowFields:
    """Paths of a stored workflow's fields, for filters, updates and indexes."""

    VERSION: Final = alias(Workflow, "version")
    ENABLED: Final = alias(Workflow, "enabled")
    CREATED_AT: Final = alias(Workflow, "created_at")
    UPDATED_AT: Final = alias(Workflow, "updated_at")
    TRIGGER: Final = alias(Workflow, "trigger")
    STATUS: Final = f"{TRIGGER}.{alias(Trigger, 'status')}"
    EXECUTION_ID: Final = f"{TRIGGER}.{alias(Trigger, 'execution_id')}"
    LOCKED_AT: Final = f"{TRIGGER}.{alias(Trigger, 'locked_at')}"
    NEXT_RUN_AT: Final = f"{TRIGGER}.{alias(Trigger, 'next_run_at')}"
    SKIPPED_FIRES: Final = f"{TRIGGER}.{alias(Trigger, 'skipped_fires')}"
    CONSECUTIVE_FAILURES: Final = f"{TRIGGER}.{alias(Trigger, 'consecutive_failures')}"
    PAUSED_REASON: Final = alias(Workflow, "paused_reason")
    MISSED_FIRES: Final = f"{TRIGGER}.{alias(Trigger, 'missed_fires')}"
    FIRED_FIRES: Final = f"{TRIGGER}.{alias(Trigger, 'fired_fires')}"
    RECENT_FIRES: Final = f"{TRIGGER}.{alias(Trigger, 'recent_fires')}"
    """The schedule's last outcomes (excluded from the model's dumps: not in the resource), stored by name."""
    BACKLOG: Final = f"{TRIGGER}.{alias(Trigger, 'backlog')}"
    BACKLOG_HEAD: Final = f"{TRIGGER}.{alias(Trigger, 'backlog')}.0.slot"
    BACKLOG_NEXT: Final = f"{TRIGGER}.{alias(Trigger, 'backlog_next')}"
    HOLDERS: Final = f"{TRIGGER}.{alias(Trigger, 'holders')}"
    HOLDERS_SINCE: Final = f"{TRIGGER}.{alias(Trigger, 'holders_since')}"
    """Excluded from the model's dumps (not in the resource), stored by name."""
    HOLDERS_SEEN: Final = f"{TRIGGER}.{alias(Trigger, 'holders_seen')}"
    WAITING: Final = f"{TRIGGER}.{alias(Trigger, 'waiting')}"
    WAITING_SINCE: Final = f"{TRIGGER}.{alias(Trigger, 'waiting_since')}"
    """Excluded from the model's dumps (not in the resource), stored by name."""
    CONCURRENCY_LIMIT: Final = f"{alias(Workflow, 'concurrency')}.limit"
    QUEUE_MAX: Final = f"{alias(Workflow, 'concurrency')}.{alias(Concurrency, 'queue_max')}"
    LABELS: Final = alias(Workflow, "labels")
    """Stored as an array of `key=value` strings (wfa.domain.labels), under a multikey index."""
    CHANGED_BY: Final = alias(Workflow, "changed_by")


class ExecutionFields:
    """Paths of a stored execution's fields; the ACTION_* ones are relative to one entry of ACTIONS."""

    WORKFLOW_ID: Final = alias(Execution, "workflow_id")
    STATUS: Final = alias(Execution, "status")
    WAITING: Final = alias(Execution, "waiting")
    REASON: Final = alias(Execution, "reason")
    ATTEMPT: Final = alias(Execution, "attempt")
    NEXT_RETRY_AT: Final = alias(Execution, "next_retry_at")
    CREATED_AT: Final = alias(Execution, "created_at")
    STARTED_AT: Final = alias(Execution, "started_at")
    FINISHED_AT: Final = alias(Execution, "finished_at")
    DURATION_MS: Final = alias(Execution, "duration_ms")
    ACTIONS: Final = alias(Execution, "actions")
    ACTION_STATUS: Final = alias(ActionRun, "status")
    ACTION_STARTED_AT: Final = alias(ActionRun, "started_at")
    ACTION_FINISHED_AT: Final = alias(ActionRun, "finished_at")
    ACTION_DURATION_MS: Final = alias(ActionRun, "duration_ms")
    ACTION_ERROR: Final = alias(ActionRun, "error")
    ACTION_NAME: Final = alias(ActionRun, "name")
    ACTION_TYPE: Final = alias(ActionRun, "type")
    ACTION_ATTEMPTS: Final = alias(ActionRun, "attempts")
    # Excluded from the model's dumps (it is never served), so stored and read back by name.
    TRACEPARENT: Final = alias(Execution, "traceparent")
    CANCEL_REQUESTED_AT: Final = alias(Execution, "cancel_requested_at")


RUN_LISTS: Final = (
    alias(Execution, "actions"),
    alias(Execution, "compensations"),
    alias(Execution, "on_failure"),
)
"""The execution's lists of action runs, all of one record shape. `compensations` and `onFailure` are null until
the execution fails for good (and absent from records stored before them): every reader and writer skips them."""
OUTPUT: Final = alias(ActionRun, "output")

_WORKFLOW_ID: Final = alias(Workflow, "workflow_id")
_EXECUTION_ID: Final = alias(Execution, "execution_id")
_ACTIONS: Final = alias(Workflow, "actions")
_ON_FAILURE: Final = alias(Workflow, "on_failure")
_COMPENSATE: Final = alias(HttpRequestAction, "compensate")
_INPUT: Final = alias(Execution, "input")
_ACTION_JSON_FIELDS: Final = (alias(HttpRequestAction, "headers"), alias(HttpRequestAction, "body"))
# What replace_definition leaves as it is: the lock and schedule counters, and the server's own fields.
_KEPT_ON_REPLACE: Final = frozenset(
    {ID, DELETED, WorkflowFields.ENABLED, WorkflowFields.PAUSED_REASON, WorkflowFields.CREATED_AT}
)
_TRIGGER_STATE: Final = frozenset(
    alias(Trigger, name)
    for name in (
        "status",
        "execution_id",
        "locked_at",
        "skipped_fires",
        "consecutive_failures",
        "missed_fires",
        "fired_fires",
        "recent_fires",
        "backlog",
        "backlog_next",
        "holders",
        "holders_since",
        "holders_seen",
        "waiting",
        "waiting_since",
        "running",
        "queued",
    )
)
_EXECUTION_STORAGE_ONLY: Final = frozenset(
    {ID, PLAN, IDEMPOTENCY_KEY, LEASE_OWNER, LEASE_UNTIL, DISPATCHED_AT, LAST_WRITE}
)


def plain(value: str) -> str:
    """A string for an equality filter. Checked, because a dict in its place would become a query of its own
    (`{"$ne": null}`); a string is only ever compared, whatever it holds (`a.b`, `$x`)."""
    if not isinstance(value, str):
        raise TypeError(f"expected a string, not {type(value).__name__}")
    return value


def literal(value: Any) -> Document:
    """A constant inside an update pipeline, where a string starting with `$` would otherwise be a field path."""
    return {"$literal": value}


def value_at(document: Document, path: str) -> Any:
    """The value at a dotted path of a (possibly projected) document; None where a step is missing."""
    value: Any = document
    for step in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(step)
    return value


# -- workflows ---------------------------------------------------------------------------------------------------


def workflow_to_document(workflow: Workflow) -> Document:
    """A live workflow as stored, keyed by its workflowId."""
    fields = workflow.model_dump(by_alias=True, exclude={"workflow_id"})
    _pack_definition(fields)
    # Excluded from the model's dumps (the resource does not show them), so stored by name.
    fields[WorkflowFields.CHANGED_BY] = workflow.changed_by
    fields[WorkflowFields.TRIGGER][alias(Trigger, "recent_fires")] = [
        record.model_dump(by_alias=True, mode="json") | {"slot": record.slot}
        for record in workflow.trigger.recent_fires
    ]
    fields[WorkflowFields.TRIGGER][alias(Trigger, "backlog")] = [
        entry.model_dump(by_alias=True) for entry in workflow.trigger.backlog
    ]
    fields[WorkflowFields.TRIGGER][alias(Trigger, "backlog_next")] = workflow.trigger.backlog_next
    fields[WorkflowFields.TRIGGER][alias(Trigger, "holders_since")] = workflow.trigger.holders_since
    fields[WorkflowFields.TRIGGER][alias(Trigger, "holders_seen")] = workflow.trigger.holders_seen
    fields[WorkflowFields.TRIGGER][alias(Trigger, "waiting_since")] = workflow.trigger.waiting_since
    return {ID: workflow.workflow_id, DELETED: False, **fields}


def workflow_from_document(document: Document) -> Workflow:
    fields = {key: value for key, value in document.items() if key not in (ID, DELETED, DELETED_AT, LAST_WRITE)}
    _unpack_definition(fields)
    return Workflow.model_validate({_WORKFLOW_ID: document[ID], **fields})


def definition_to_document(definition: WorkflowDefinition) -> Document:
    """A definition as stored inside another record (a version), in the workflow's own stored form."""
    fields = definition.model_dump(by_alias=True)
    _pack_definition(fields)
    return fields


def definition_from_document(document: Document) -> WorkflowDefinition:
    fields = dict(document)
    _unpack_definition(fields)
    # Read as it was accepted: templates were checked then (see WorkflowDefinition._checks_templates).
    return WorkflowDefinition.model_validate(fields, context={"stored": True})


def definition_update(workflow: Workflow) -> Document:
    """The `$set` of replace_definition: every field of the new definition (with its version, updatedAt and
    nextRunAt), but not the lock, the skipped-fire and failure counts, `enabled`, `pausedReason` or `createdAt`."""
    document = workflow_to_document(workflow)
    trigger: Document = document.pop(WorkflowFields.TRIGGER)
    update = {key: value for key, value in document.items() if key not in _KEPT_ON_REPLACE}
    update.update(
        {f"{WorkflowFields.TRIGGER}.{key}": value for key, value in trigger.items() if key not in _TRIGGER_STATE}
    )
    return update


# -- executions --------------------------------------------------------------------------------------------------


def execution_to_document(execution: Execution, plan: ExecutionPlan, *, idempotency_key: str | None) -> Document:
    """A new execution as stored, with its frozen plan; the record doubles as its own outbox entry, so it is
    stored as dispatched at its creation (a waiting one when its wait ends: its request is not sent before)."""
    document: Document = {
        ID: execution.execution_id,
        **execution_fields(execution),
        PLAN: _plan_to_document(plan),
        LEASE_OWNER: None,
        LEASE_UNTIL: None,
        DISPATCHED_AT: None if execution.waiting else execution.created_at,
        ExecutionFields.TRACEPARENT: execution.traceparent,
    }
    if idempotency_key is not None:
        document[IDEMPOTENCY_KEY] = idempotency_key
    return document


def execution_fields(execution: Execution) -> Document:
    """The execution's own fields as stored (the `$set` of save_progress): all but its id, and but its
    traceparent, which is set once, by `add`."""
    # traceId is computed from the traceparent, which `add` stores: not a field of the record.
    fields = execution.model_dump(by_alias=True, exclude={"execution_id", "trace_id"})
    fields[_INPUT] = _to_json(fields[_INPUT])
    for run in runs_of(fields):
        run[OUTPUT] = _to_json(run[OUTPUT])
    return fields


def execution_from_document(document: Document) -> Execution:
    fields = {key: value for key, value in document.items() if key not in _EXECUTION_STORAGE_ONLY}
    fields[_INPUT] = _from_json(fields[_INPUT])
    for name in RUN_LISTS:
        if fields.get(name) is not None:
            fields[name] = [{**run, OUTPUT: _from_json(run[OUTPUT])} for run in fields[name]]
    return Execution.model_validate({_EXECUTION_ID: document[ID], **fields})


def runs_of(document: Document) -> list[Document]:
    """Every action run of a stored execution (or of its fields), whichever list holds it."""
    return [run for name in RUN_LISTS for run in document.get(name) or ()]


def plan_from_document(document: Document) -> ExecutionPlan:
    plan: Document = dict(document[PLAN])
    _unpack_actions(plan)
    return ExecutionPlan.model_validate(plan)


def error_to_document(error: ErrorInfo) -> Document:
    return error.model_dump(by_alias=True)


def _plan_to_document(plan: ExecutionPlan) -> Document:
    document = plan.model_dump(by_alias=True)
    _pack_actions(document)
    return document


# -- free-form JSON ----------------------------------------------------------------------------------------------


def _pack_definition(fields: Document) -> None:
    _pack_actions(fields)
    # Label keys may hold '.', which MongoDB reads as a path: stored as `key=value` strings instead.
    fields[WorkflowFields.LABELS] = label_pairs(fields.get(WorkflowFields.LABELS) or {})


def _unpack_definition(fields: Document) -> None:
    _unpack_actions(fields)
    fields[WorkflowFields.LABELS] = labels_from_pairs(fields.get(WorkflowFields.LABELS) or ())


def _pack_actions(fields: Document) -> None:
    """The free-form fields of every action a workflow or a plan holds (its actions, their `compensate`, its
    `onFailure`) as JSON text, in place."""
    for key in (_ACTIONS, _ON_FAILURE):
        if fields.get(key) is not None:
            fields[key] = [_pack_action(action) for action in fields[key]]


def _unpack_actions(fields: Document) -> None:
    for key in (_ACTIONS, _ON_FAILURE):
        if fields.get(key) is not None:
            fields[key] = [_unpack_action(action) for action in fields[key]]


def _pack_action(action: Document) -> Document:
    packed: Document = {key: _to_json(value) if key in _ACTION_JSON_FIELDS else value for key, value in action.items()}
    if packed.get(_COMPENSATE) is not None:
        packed[_COMPENSATE] = _pack_action(packed[_COMPENSATE])
    return packed


def _unpack_action(action: Document) -> Document:
    unpacked: Document = {
        key: _from_json(value) if key in _ACTION_JSON_FIELDS else value for key, value in action.items()
    }
    if unpacked.get(_COMPENSATE) is not None:
        unpacked[_COMPENSATE] = _unpack_action(unpacked[_COMPENSATE])
    return unpacked


def _to_json(value: Any) -> str | None:
    # None stays None; anything else becomes a string, so the two never collide on the way back.
    return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _from_json(value: Any) -> Any:
    return None if value is None else json.loads(value)
