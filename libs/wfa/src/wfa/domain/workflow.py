"""Workflow definitions and the workflow aggregate (definition plus trigger state)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter
from pydantic import AfterValidator, Field, JsonValue, StringConstraints, ValidationInfo, model_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError, ValidationError

from wfa.domain.base import Model
from wfa.domain.durations import Interval, Timeout
from wfa.domain.labels import Labels
from wfa.domain.secrets import SecretReference, check_secret_references, sole_secret_name
from wfa.domain.templates import Scope, check_expression, check_text, refers_to_secrets, templated_origin

WORKFLOW_ID_PATTERN = r"^[A-Za-z0-9._-]{1,128}$"
WorkflowId = Annotated[str, StringConstraints(pattern=WORKFLOW_ID_PATTERN)]
ActionName = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._ -]+$")]

MAX_ACTIONS = 100
MAX_HEADERS = 50
MAX_URL_LENGTH = 2048
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$")


class TriggerType(StrEnum):
    MANUAL = "manual"
    PERIODIC = "periodic"
    CRON = "cron"
    WEBHOOK = "webhook"  # started by a signed POST /hooks/{workflowId} (wfa.domain.webhooks)


class Catchup(StrEnum):
    """What a scheduled workflow does with the slots that passed while no scheduler fired them (downtime)."""

    LATEST = "latest"  # v1: the missed slots collapse into one immediate fire
    NONE = "none"  # the missed slots are counted and skipped; the next fire is the next future slot
    ALL = "all"  # each missed slot within `catchupWindow` fires, oldest first, at most 100


DEFAULT_CATCHUP_WINDOW = timedelta(hours=1)


class TriggerStatus(StrEnum):
    IDLE = "idle"
    BUSY = "busy"
    PENDING = "pending"


class WhenBusy(StrEnum):
    """What a trigger or a fire does when every slot of `concurrency.limit` is taken."""

    SKIP = "skip"  # v1: refused (409 `busy`), a scheduled fire skipped and counted
    QUEUE = "queue"  # kept waiting (`queueMax` at most) and started in FIFO order as slots free
    CANCEL_RUNNING = "cancelRunning"  # the oldest holder is cancelled, then the trigger takes the freed slot


MAX_CONCURRENCY = 100
MAX_QUEUE = 1000


class Concurrency(Model):
    """How many executions of the workflow may run at once, and what happens to a trigger beyond that."""

    limit: Annotated[int, Field(ge=1, le=MAX_CONCURRENCY)] = 1
    """How many executions may hold the lock at once (1–100; 1, the default, is v1's lock)."""
    when_busy: WhenBusy = WhenBusy.SKIP
    """When `limit` executions hold the lock: `skip` (the default: a trigger gets 409, a scheduled fire is
    skipped), `cancelRunning` (the oldest holder is cancelled and the trigger takes its slot) or `queue` (the
    trigger is accepted and its execution waits, `queued`, until a slot frees; oldest first)."""
    queue_max: Annotated[int, Field(ge=1, le=MAX_QUEUE)] = 100
    """For `whenBusy: queue`: how many executions may wait at most (1–1000, default 100); beyond it a trigger gets
    409 `queue_full` and a scheduled fire is skipped."""


class PausedReason(StrEnum):
    MANUAL = "manual"  # POST /workflows/{id}/pause
    FAILURES = "failures"  # trigger.pauseAfterFailures executions in a row failed for good


MAX_PAUSE_AFTER_FAILURES = 100


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class HttpMethod(StrEnum):
    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"
    HEAD = "HEAD"


class RetryPolicy(Model):
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 3
    """Runs of an action before the execution fails for good: 1 means no retry (1–100)."""
    initial_interval: Interval = timedelta(seconds=2)
    """The wait after the first failure; each later wait is the previous one times `backoffRate`."""
    backoff_rate: Annotated[float, Field(ge=1.0, le=10.0)] = 2.0
    """The factor between consecutive waits (1.0–10)."""
    max_interval: Interval = timedelta(minutes=5)
    """The longest wait between attempts, whatever the backoff (or a server's `Retry-After`) says."""


# A 5-field expression matches in a year according to that year's type alone (leap or not, weekday of 1 January),
# and in the Gregorian calendar a year type comes back at most 40 years later (across 2100, say). So a search over
# 50 years either finds the next match from any moment or proves there is none, whatever the start. croniter's
# own default is 50 too; it is passed explicitly so that the proof does not depend on that default.
CRON_SEARCH_YEARS = 50
_CRON_PROBE_START = datetime(2000, 1, 1)


def _check_cron(expression: str) -> str:
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError("a cron expression has 5 fields: minute hour day-of-month month day-of-week")
    normalised = " ".join(fields)
    if not croniter.is_valid(normalised):
        raise ValueError(f"{expression!r} is not a valid cron expression")
    # Whether a date matches does not depend on the time zone (a wall-clock time skipped by a DST change still
    # fires, as the clocks jump), so one naive probe decides for every zone.
    try:
        croniter(normalised, _CRON_PROBE_START, max_years_between_matches=CRON_SEARCH_YEARS).get_next(datetime)
    except CroniterBadDateError as exc:
        raise ValueError(f"{expression!r} can never match: no date has that day, month and weekday") from exc
    return normalised


def _check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{name!r} is not an IANA time zone name") from exc
    return name


CronExpression = Annotated[str, StringConstraints(max_length=200), AfterValidator(_check_cron)]
TimezoneName = Annotated[str, StringConstraints(max_length=64), AfterValidator(_check_timezone)]


class TriggerSpec(Model):
    """What the user says about when a workflow runs."""

    type: TriggerType
    """`manual` (only triggered by a request), `periodic` (every `interval`), `cron` (a crontab expression) or
    `webhook` (a signed POST /hooks/{workflowId})."""
    interval: Interval | None = None
    """For `periodic`: an integer and a unit s, m, h or d (`10s`, `5m`), at least 1s; the grid is createdAt + k ×
    interval."""
    cron: CronExpression | None = None
    """For `cron`: a 5-field crontab expression (minute hour day-of-month month day-of-week)."""
    timezone: TimezoneName | None = None
    """For `cron`: the IANA time zone the expression is read in (default `UTC`)."""
    secret: SecretReference | None = None
    """For `webhook`: the secret requests are signed with, as a reference `{{ secrets.NAME }}` (never the value)."""
    pause_after_failures: Annotated[int, Field(ge=1, le=MAX_PAUSE_AFTER_FAILURES)] | None = None
    """Pause the workflow (`pausedReason: failures`) once this many executions in a row failed for good (1–100);
    null: never. A success resets the count; a cancelled execution neither counts nor resets it."""
    catchup: Catchup | None = None
    """For `periodic` and `cron`: what happens to the slots missed while no scheduler ran: `latest` (default: one
    immediate fire), `none` (skipped and counted as missed) or `all` (each fires, oldest first, within
    `catchupWindow`, at most 100)."""
    catchup_window: Interval | None = None
    """For `periodic` and `cron` with `catchup: all`: how far back missed slots are still fired (default `1h`);
    older ones are counted as missed."""

    @model_validator(mode="after")
    def _fields_match_type(self) -> Self:
        if self.type is TriggerType.PERIODIC:
            if self.interval is None:
                raise ValueError("a periodic trigger needs an interval, such as '10s'")
            self._forbid("cron", "timezone")
        elif self.type is TriggerType.CRON:
            if self.cron is None:
                raise ValueError("a cron trigger needs a cron expression, such as '*/5 * * * *'")
            self._forbid("interval")
            if self.timezone is None:
                self.timezone = "UTC"
        elif self.type is TriggerType.WEBHOOK:
            if self.secret is None:
                raise ValueError("a webhook trigger needs a secret, such as '{{ secrets.HOOK_SECRET }}'")
            self._forbid("interval", "cron", "timezone", "catchup", "catchup_window")
            return self
        else:
            self._forbid("interval", "cron", "timezone", "catchup", "catchup_window")
        self._forbid("secret")
        if self.is_scheduled:
            if self.catchup is None:
                self.catchup = Catchup.LATEST
            if self.catchup_window is None:
                self.catchup_window = DEFAULT_CATCHUP_WINDOW
        return self

    def _forbid(self, *names: str) -> None:
        for name in names:
            if getattr(self, name) is not None:
                raise ValueError(f"'{name}' does not apply to a {self.type.value} trigger")

    def same_schedule_as(self, other: TriggerSpec) -> bool:
        return (self.type, self.interval, self.cron, self.timezone) == (
            other.type,
            other.interval,
            other.cron,
            other.timezone,
        )

    @property
    def is_scheduled(self) -> bool:
        return self.type in (TriggerType.PERIODIC, TriggerType.CRON)


class Trigger(TriggerSpec):
    """The trigger as stored: the spec plus the lock and the schedule's state."""

    status: TriggerStatus = TriggerStatus.IDLE
    """The lock: `idle`, `busy` (an execution holds it) or `pending` (its execution waits for a retry)."""
    execution_id: str | None = None
    """The execution holding the lock, or null. With `concurrency.limit` above 1 this is the lock's first slot; the
    other executions running at once are in `holders`."""
    locked_at: datetime | None = None
    """When the lock was taken (null when idle)."""
    holders: list[str] = Field(default_factory=list)
    """With `concurrency.limit` above 1: the executions holding the lock's other slots (at most limit − 1), besides
    `executionId`; empty for limit 1."""
    holders_since: SkipJsonSchema[datetime | None] = Field(default=None, exclude=True)
    """Set when `holders` goes from empty to one holder, moved on by the repair sweep once it has looked at them:
    no holder of the list took its slot after it, so the sweep finds the slots that may be held for long."""
    holders_seen: SkipJsonSchema[list[str]] = Field(default_factory=list, exclude=True)
    """The holders of the other slots the repair sweep saw at its last look (`holdersSince`): one of them still
    missing at the next look is released."""
    running: int = 0
    """How many executions hold the lock (running, queued to a runner or pending a retry): 0 to `concurrency.limit`."""
    waiting: list[str] = Field(default_factory=list)
    """With `whenBusy: queue`: the executions waiting for a slot, the next to start first (at most `queueMax`)."""
    waiting_since: SkipJsonSchema[datetime | None] = Field(default=None, exclude=True)
    """Set when `waiting` goes from empty to one execution, moved on as its head starts and when the repair sweep
    has looked at it: a queue that has not moved for the repair time is looked at (a slot freed by a process that
    died before starting the next)."""
    queued: int = 0
    """How many executions wait for a slot (`whenBusy: queue`: the length of `waiting`; always 0 otherwise)."""

    @model_validator(mode="after")
    def _count_running(self) -> Self:
        self.count_running()
        return self

    def holder_ids(self) -> list[str]:
        """Every execution holding a slot of the lock: the first slot's, then the others'."""
        first = [self.execution_id] if self.status is not TriggerStatus.IDLE and self.execution_id else []
        return first + list(self.holders)

    def count_running(self) -> None:
        """`running` from the lock's slots: the first one (`status`) and the others (`holders`); `queued` from the
        executions waiting for one."""
        self.running = (self.status is not TriggerStatus.IDLE) + len(self.holders)
        self.queued = len(self.waiting)

    next_run_at: datetime | None = None
    """The next scheduled fire (ISO-8601 UTC); null for a manual trigger or a paused workflow."""
    skipped_fires: int = 0
    """Scheduled fires skipped because the workflow was busy or pending."""
    consecutive_failures: int = 0
    """Executions in a row that failed for good (the last success, or a resume, reset it to 0)."""
    missed_fires: int = 0
    """Scheduled slots that never fired because no scheduler ran then (downtime), as `catchup` decided."""
    fired_fires: int = 0
    """Scheduled slots that started an execution (catch-up and backfill fires included)."""
    backlog: SkipJsonSchema[list[BacklogSlot]] = Field(default_factory=list, exclude=True)
    """Slots waiting to fire one after another as the lock frees, oldest first: a backfill's, and the catch-up
    of `catchup: all`. Each becomes the execution named by `backlog_execution_id`, so none fires twice."""
    backlog_next: SkipJsonSchema[datetime | None] = Field(default=None, exclude=True)
    """The backlog's first slot (null when empty): what the scheduler's backlog query reads, on an index."""
    recent_fires: SkipJsonSchema[list[FireRecord]] = Field(default_factory=list, exclude=True)
    """The last outcomes of the schedule's slots, oldest first (at most RECENT_FIRES): served by GET
    /workflows/{id}/schedule, not in the resource."""


RECENT_FIRES = 50
"""How many slot outcomes a workflow keeps for GET /workflows/{id}/schedule."""


class FireOutcome(StrEnum):
    FIRED = "fired"
    SKIPPED = "skipped"
    MISSED = "missed"


class FireRecord(Model):
    """What became of one slot of the schedule."""

    slot: datetime
    """The slot (ISO-8601 UTC)."""
    outcome: FireOutcome
    """`fired` (an execution started), `skipped` (the workflow was busy or pending) or `missed` (no scheduler ran
    then, and `catchup` did not fire it)."""
    execution_id: str | None = None
    """The execution started for the slot (null unless fired)."""


class BacklogSlot(Model):
    """A slot waiting in the backlog, and why it fires: `backfill` (asked for) or `schedule` (a catch-up)."""

    slot: datetime
    """The slot (ISO-8601 UTC)."""
    backfill: bool
    """True for a backfill's slot (the execution's reason `backfill`), false for a catch-up (`schedule`)."""


Trigger.model_rebuild()


class WebhookSpec(Model):
    """Webhooks beside a workflow's own trigger: a cron workflow that a signed request may also start, say."""

    type: Literal["webhook"] = "webhook"
    """Always `webhook` (the shape of a webhook trigger)."""
    secret: SecretReference
    """The secret requests are signed with, as a reference `{{ secrets.NAME }}` (never the value)."""


Expression = Annotated[str, StringConstraints(min_length=1, max_length=1000)]
"""A JMESPath expression, without braces (`when`); its syntax and names are checked by wfa.domain.templates."""


class _ActionBase(Model):
    name: ActionName | None = None
    """Unique within the workflow (handlers included); default `action-<n>`, 1-based."""
    retry: RetryPolicy | None = None
    """This action's retry policy, instead of the workflow's."""
    when: Expression | None = None
    """Run the action only when this expression is truthy (JMESPath truthiness); otherwise it ends `skipped`."""
    continue_on_error: bool = False
    """A final failure of this action is recorded and the execution goes on (contract v2, "Data between actions")."""
    compensate: Handler | None = None
    """Run when the execution fails for good after this action succeeded (a saga): undoes what it did."""


class LogAction(_ActionBase):
    type: Literal["log"]
    """`log`: one structured log line."""
    message: Annotated[str, StringConstraints(min_length=1, max_length=10_000)]
    """The line to log; may hold `{{ EXPR }}` templates (docs/templates.md)."""
    level: LogLevel = LogLevel.INFO
    """`debug`, `info`, `warning` or `error`."""


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError("the url must use http or https")
    if not parts.hostname:
        raise ValueError("the url must name a host")
    try:
        _ = parts.port
    except ValueError as exc:
        raise ValueError("the url has an invalid port") from exc
    return url


def _check_headers(headers: dict[str, str]) -> dict[str, str]:
    if len(headers) > MAX_HEADERS:
        raise ValueError(f"at most {MAX_HEADERS} headers")
    for name, value in headers.items():
        if not _HEADER_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid header name")
        if len(value) > 8192 or any(c in value for c in "\r\n\0"):
            raise ValueError(f"the value of header {name!r} is too long or holds a line break")
        try:
            check_secret_references(value)
        except ValueError as exc:
            raise ValueError(f"header {name!r}: {exc}") from None
    return headers


def _check_body_references(body: JsonValue) -> JsonValue:
    stack = [body]
    while stack:  # a loop, not recursion: however deep the body nests, the recursion limit is never reached
        item = stack.pop()
        if isinstance(item, str):
            check_secret_references(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return body


def _check_statuses(codes: list[int]) -> list[int]:
    if any(not 100 <= code <= 599 for code in codes):
        raise ValueError("status codes are between 100 and 599")
    return codes


HttpUrl = Annotated[
    str,
    StringConstraints(max_length=MAX_URL_LENGTH),
    AfterValidator(_check_url),
    AfterValidator(check_secret_references),
]


class HttpRequestAction(_ActionBase):
    """`url`, header values and body strings may hold `{{ secrets.NAME }}`, filled in by the runner."""

    type: Literal["http-request"]
    """`http-request`: one HTTP exchange, judged by its status."""
    url: HttpUrl
    """An http or https URL; may hold `{{ EXPR }}` templates and `{{ secrets.NAME }}`."""
    method: HttpMethod = HttpMethod.GET
    """The HTTP method (default GET)."""
    headers: Annotated[dict[str, str], AfterValidator(_check_headers)] = Field(default_factory=dict)
    """Request headers; values may hold templates and secrets."""
    body: Annotated[JsonValue, AfterValidator(_check_body_references)] = None
    """A JSON body; its strings may hold templates and secrets (a string that is exactly one template takes the
    value's JSON type)."""
    timeout: Timeout = timedelta(seconds=10)
    """The longest the whole exchange may take, redirects included (1s–1h, default 10s)."""
    expect_status: Annotated[list[int], Field(min_length=1, max_length=100), AfterValidator(_check_statuses)] | None = (
        None
    )
    """The statuses that count as success; default: any 2xx."""

    def accepts_status(self, status: int) -> bool:
        if self.expect_status is None:
            return 200 <= status < 300
        return status in self.expect_status


Action = Annotated[LogAction | HttpRequestAction, Field(discriminator="type")]

MAX_ON_FAILURE = 20


def _check_handler(action: LogAction | HttpRequestAction) -> LogAction | HttpRequestAction:
    if action.compensate is not None:
        raise ValueError("a failure handler cannot have a 'compensate' of its own")
    if action.continue_on_error:
        raise ValueError("'continueOnError' does not apply to a failure handler: every handler runs in any case")
    return action


Handler = Annotated[Action, AfterValidator(_check_handler)]
"""A `compensate` action or an `onFailure` action."""

LogAction.model_rebuild()
HttpRequestAction.model_rebuild()


class WorkflowDefinition(Model):
    """The body of POST /workflows: what a user defines."""

    workflow_id: WorkflowId
    """1–128 characters of [A-Za-z0-9._-], unique."""
    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    """A human-readable name."""
    description: Annotated[str, StringConstraints(max_length=4000)] | None = None
    """What the workflow is for."""
    trigger: TriggerSpec
    """When the workflow runs."""
    actions: Annotated[list[Action], Field(min_length=1, max_length=MAX_ACTIONS)]
    """1–100 actions, run in order."""
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    """The retry policy of every action that has none of its own."""
    on_failure: Annotated[list[Handler], Field(max_length=MAX_ON_FAILURE)] = Field(default_factory=list)
    """Run after the compensations when an execution fails for good (notify, clean up)."""
    labels: Labels = Field(default_factory=dict)
    concurrency: Concurrency = Field(default_factory=Concurrency)
    """How many executions may run at once (`limit`, default 1) and what a trigger beyond that does (`whenBusy`)."""
    webhook: WebhookSpec | None = None
    """Also start on a signed POST /hooks/{workflowId}, whatever the trigger (not with a webhook trigger, which
    already does)."""

    _checks_templates: ClassVar[bool] = True
    """Templates are checked when a definition is submitted; a stored workflow is read as it was accepted (an
    expression refused by a later, stricter check fails its action at run time instead of the whole read)."""

    @model_validator(mode="after")
    def _name_actions(self, info: ValidationInfo) -> Self:
        # One namespace for every action, handlers included: records, events and templates name them.
        seen: set[str] = set()

        def claim(action: LogAction | HttpRequestAction, default: str) -> str:
            if action.name is None:
                action.name = default
            if action.name in seen:
                raise ValueError(f"action name {action.name!r} is used twice: names are unique within a workflow")
            seen.add(action.name)
            return action.name

        for index, action in enumerate(self.actions, start=1):
            name = claim(action, f"action-{index}")
            if action.compensate is not None:
                claim(action.compensate, f"{name}.compensate")
        for index, handler in enumerate(self.on_failure, start=1):
            claim(handler, f"on-failure-{index}")
        if self.webhook is not None and self.trigger.type is TriggerType.WEBHOOK:
            raise ValueError("a webhook trigger already takes webhooks: give the secret once, in the trigger")
        if self._checks_templates and not (info.context or {}).get("stored"):
            _raise_template_problems(self)
        return self

    def webhook_secret_name(self) -> str | None:
        """The name of the secret webhook requests are signed with; None when the workflow takes no webhooks."""
        if self.trigger.type is TriggerType.WEBHOOK and self.trigger.secret is not None:
            return sole_secret_name(self.trigger.secret)
        if self.webhook is not None:
            return sole_secret_name(self.webhook.secret)
        return None


Loc = tuple[str | int, ...]


def _raise_template_problems(definition: WorkflowDefinition) -> None:
    """Every template problem of the definition, each located at its string (as pydantic locates its own errors,
    the discriminating `type` included), in one ValidationError: the API answers 422 with them all."""
    problems = list(_template_problems(definition))
    if problems:
        raise ValidationError.from_exception_data(
            "WorkflowDefinition",
            [
                {"type": PydanticCustomError("template", "{reason}", {"reason": message}), "loc": loc, "input": text}
                for loc, message, text in problems
            ],
        )


def _template_problems(definition: WorkflowDefinition) -> Iterator[tuple[Loc, str, str]]:
    every = frozenset(action.name or "" for action in definition.actions)
    for index, action in enumerate(definition.actions):
        before = [earlier.name or "" for earlier in definition.actions[:index]]
        scope = Scope(before=before, every=_all_names(definition), itself=action.name)
        yield from _action_problems(action, ("actions", index, action.type), scope)
        if action.compensate is not None:
            handler_scope = Scope(
                before=every, every=_all_names(definition), handler=True, itself=action.compensate.name
            )
            yield from _action_problems(
                action.compensate, ("actions", index, action.type, "compensate", action.compensate.type), handler_scope
            )
    for index, handler in enumerate(definition.on_failure):
        scope = Scope(before=every, every=_all_names(definition), handler=True, itself=handler.name)
        yield from _action_problems(handler, ("onFailure", index, handler.type), scope)


def _all_names(definition: WorkflowDefinition) -> frozenset[str]:
    names = {action.name or "" for action in definition.actions}
    names.update(action.compensate.name or "" for action in definition.actions if action.compensate is not None)
    names.update(handler.name or "" for handler in definition.on_failure)
    return frozenset(names)


def _action_problems(action: LogAction | HttpRequestAction, at: Loc, scope: Scope) -> Iterator[tuple[Loc, str, str]]:
    if action.when is not None:
        for message in check_expression(action.when, scope):
            yield (*at, "when"), message, action.when
    for loc, text in _strings(action):
        for message in check_text(text, scope):
            yield (*at, *loc), message, text
    if isinstance(action, LogAction):
        if refers_to_secrets(action.message):
            yield (
                (*at, "message"),
                "a log message cannot hold a secret (it would be logged and recorded): secrets go only into an "
                "http-request's url, headers and body",
                action.message,
            )
    elif templated_origin(action.url) and any(refers_to_secrets(text) for _, text in _strings(action)):
        yield (
            (*at, "url"),
            "an action that sends a secret must name its host in the definition, not take it from a template: a "
            "secret goes only to the origin the definition names",
            action.url,
        )


def _strings(action: LogAction | HttpRequestAction) -> Iterator[tuple[Loc, str]]:
    """The strings of an action that templates may stand in, each with its place in the action."""
    if isinstance(action, LogAction):
        yield ("message",), action.message
        return
    yield ("url",), action.url
    for name, value in action.headers.items():
        yield ("headers", name), value
    stack: list[tuple[Loc, JsonValue]] = [(("body",), action.body)]
    while stack:  # a loop, not recursion, as in _check_body_references
        loc, item = stack.pop()
        if isinstance(item, str):
            yield loc, item
        elif isinstance(item, dict):
            stack.extend(((*loc, key), value) for key, value in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend(((*loc, position), value) for position, value in reversed(list(enumerate(item))))


class Workflow(WorkflowDefinition):
    """The aggregate and the API resource: the normalised definition plus what the server manages."""

    trigger: Trigger
    """When the workflow runs, with the lock and the schedule's state."""
    version: int = 1
    """1 on create, +1 on each update."""
    enabled: bool = True
    """False while paused: neither scheduled nor triggerable."""
    paused_reason: PausedReason | None = None
    """Why the workflow is paused: `manual` (a pause request) or `failures` (`trigger.pauseAfterFailures` reached);
    null while it is enabled."""
    created_at: datetime
    """When the workflow was created (ISO-8601 UTC)."""
    updated_at: datetime
    """When its definition last changed."""
    changed_by: SkipJsonSchema[str | None] = Field(default=None, exclude=True)
    """The API key's name that made this version (null when the API is open); stored, served with its versions."""

    @classmethod
    def create(cls, definition: WorkflowDefinition, *, now: datetime, next_run_at: datetime | None) -> Workflow:
        return cls(
            **definition.model_dump(exclude={"trigger"}),
            trigger=Trigger(**definition.trigger.model_dump(), next_run_at=next_run_at),
            created_at=now,
            updated_at=now,
        )

    _checks_templates: ClassVar[bool] = False

    def definition(self) -> WorkflowDefinition:
        return WorkflowDefinition.model_validate(
            self.model_dump(include=set(WorkflowDefinition.model_fields) - {"trigger"})
            | {"trigger": TriggerSpec.model_validate(self.trigger.model_dump(include=set(TriggerSpec.model_fields)))},
            context={"stored": True},
        )


SERVER_MANAGED_FIELDS = ("version", "enabled", "pausedReason", "createdAt", "updatedAt", "changedBy")
SERVER_MANAGED_TRIGGER_FIELDS = (
    "status",
    "executionId",
    "lockedAt",
    "nextRunAt",
    "skippedFires",
    "consecutiveFailures",
    "missedFires",
    "firedFires",
    "recentFires",
    "backlog",
    "backlogNext",
    "holders",
    "holdersSince",
    "holdersSeen",
    "waiting",
    "waitingSince",
    "running",
    "queued",
)


def strip_server_managed(body: Any) -> Any:
    """PUT accepts a resource exactly as GET returned it: drop what the server manages, keep the rest."""
    if not isinstance(body, dict):
        return body
    cleaned = {key: value for key, value in body.items() if key not in SERVER_MANAGED_FIELDS}
    trigger = cleaned.get("trigger")
    if isinstance(trigger, dict):
        cleaned["trigger"] = {key: value for key, value in trigger.items() if key not in SERVER_MANAGED_TRIGGER_FIELDS}
        # GET shows every field, absent ones as null; a null there means "not given".
        cleaned["trigger"] = {key: value for key, value in cleaned["trigger"].items() if value is not None}
    return cleaned
