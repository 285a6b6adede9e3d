"""ExecutionRepository.statistics: counts, rates, durations and per-action figures over a known set of executions.

The set, all of workflow "wf" (actions `fetch`, an http-request, then `note`, a log) unless said otherwise:

    id   created     outcome                                        execution ms   fetch ms (attempts)   note ms
    e0   T0 - 1 ms   succeeded, before the window                   (not counted)
    e1   T0          succeeded                                      200            100 (1)               0
    e2   T0 + 1 s    succeeded                                      400            300 (1)               0
    e3   T0 + 2 s    failed: fetch failed for good                  400            300 (1), failed       skipped
    e4   T0 + 3 s    retried: fetch failed, then succeeded          1000           300 (2)               0
    e5   T0 + 4 s    cancelled while running, no action begun       1000           skipped               skipped
    e6   T0 + 5 s    queued                                         -              -                     -
    e7   T0 + 6 s    pending: fetch failed, retry not due yet       -              100 (1), failed       -
    o1   T0 + 7 s    workflow "other": succeeded                    400            (one log action "say", 50 ms)

Durations repeat at the ranks the percentiles pick, so every percentile method (nearest rank, interpolation,
MongoDB's t-digest) gives the same figures.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from tests.contract.builders import T0, ms, seconds, workflow

from wfa.domain.errors import ActionFailed
from wfa.domain.execution import Execution, ExecutionPlan, ExecutionStatus, Reason
from wfa.domain.statistics import ActionStatistics, DurationSummary, StatusCounts
from wfa.domain.workflow import Workflow
from wfa.ports.repositories import ExecutionRepository

OWNER = "runner-1"
LEASE = seconds(60)
UNTIL = T0 + timedelta(hours=1)

WF = workflow(
    "wf",
    trigger={"type": "manual"},
    actions=[
        {"type": "http-request", "name": "fetch", "url": "https://example.com", "retry": {"maxAttempts": 3}},
        {"type": "log", "name": "note", "message": "done"},
    ],
)
OTHER = workflow("other", trigger={"type": "manual"}, actions=[{"type": "log", "name": "say", "message": "hi"}])

RETRYABLE = ActionFailed("503 from example.com", kind="http_status", retryable=True)
FOR_GOOD = ActionFailed("404 from example.com", kind="http_status", retryable=False)


class Run:
    """One execution driven through the repository as the trigger, runner and scheduler drive it."""

    def __init__(self, executions: ExecutionRepository, of: Workflow, execution_id: str, created: datetime) -> None:
        self.repo = executions
        self.of = of
        self.execution_id = execution_id
        self.created = created
        self.execution: Execution | None = None

    async def add(self) -> Run:
        queued = Execution.queued(
            execution_id=self.execution_id, workflow=self.of, reason=Reason.MANUAL, input=None, now=self.created
        )
        await self.repo.add(queued, ExecutionPlan.of(self.of), idempotency_key=None)
        return self

    async def start(self, at: datetime, attempt: int = 1) -> Run:
        claimed = await self.repo.claim_for_run(
            self.execution_id, attempt=attempt, owner=OWNER, lease_until=at + LEASE, now=at
        )
        assert claimed is not None
        self.execution = claimed.execution
        self.execution.start_attempt(at)
        return await self.save(at)

    async def action(self, index: int, begin: datetime, end: datetime, failure: ActionFailed | None = None) -> Run:
        assert self.execution is not None
        self.execution.begin_action(index, begin)
        if failure is None:
            self.execution.complete_action(index, {"ok": True}, end)
        else:
            self.execution.fail_action(index, failure, ExecutionPlan.of(self.of), end)
        return await self.save(end)

    async def succeed(self, at: datetime) -> Run:
        assert self.execution is not None
        self.execution.succeed(at)
        return await self.save(at)

    async def retry(self) -> None:
        assert self.execution is not None and self.execution.next_retry_at is not None
        assert await self.repo.claim_retry(self.execution_id, now=self.execution.next_retry_at) is not None

    async def save(self, at: datetime) -> Run:
        assert self.execution is not None
        assert await self.repo.save_progress(self.execution, owner=OWNER, lease_until=at + LEASE)
        return self


async def arrange(executions: ExecutionRepository) -> None:
    def run(execution_id: str, created: datetime, of: Workflow = WF) -> Run:
        return Run(executions, of, execution_id, created)

    e0 = await run("e0", T0 - ms(1)).add()
    await (await e0.start(T0)).action(0, T0, T0 + ms(1))

    e1 = await (await run("e1", T0).add()).start(T0 + ms(10))
    await e1.action(0, T0 + ms(10), T0 + ms(110))
    await e1.action(1, T0 + ms(110), T0 + ms(110))
    await e1.succeed(T0 + ms(210))

    s2 = T0 + seconds(1)
    e2 = await (await run("e2", s2).add()).start(s2)
    await e2.action(0, s2, s2 + ms(300))
    await e2.action(1, s2 + ms(300), s2 + ms(300))
    await e2.succeed(s2 + ms(400))

    s3 = T0 + seconds(2)
    e3 = await (await run("e3", s3).add()).start(s3)
    await e3.action(0, s3 + ms(100), s3 + ms(400), FOR_GOOD)

    s4 = T0 + seconds(3)
    e4 = await (await run("e4", s4).add()).start(s4)
    await e4.action(0, s4, s4 + ms(100), RETRYABLE)
    await e4.retry()
    await e4.start(s4 + ms(600), attempt=2)
    await e4.action(0, s4 + ms(600), s4 + ms(900))
    await e4.action(1, s4 + ms(900), s4 + ms(900))
    await e4.succeed(s4 + ms(1000))

    s5 = T0 + seconds(4)
    await (await run("e5", s5).add()).start(s5)
    await executions.cancel("e5", now=s5 + ms(1000))

    await run("e6", T0 + seconds(5)).add()

    s7 = T0 + seconds(6)
    e7 = await (await run("e7", s7).add()).start(s7)
    await e7.action(0, s7, s7 + ms(100), RETRYABLE)

    s8 = T0 + seconds(7)
    o1 = await (await run("o1", s8, OTHER).add()).start(s8)
    await o1.action(0, s8 + ms(100), s8 + ms(150))
    await o1.succeed(s8 + ms(400))


FETCH = ActionStatistics(
    workflow_id="wf",
    name="fetch",
    type="http-request",
    runs=5,
    succeeded=3,
    failed=2,
    attempts=6,
    error_rate=0.4,
    duration_ms=DurationSummary(count=5, avg=220.0, p50=300.0, p95=300.0),
)
NOTE = ActionStatistics(
    workflow_id="wf",
    name="note",
    type="log",
    runs=3,
    succeeded=3,
    failed=0,
    attempts=3,
    error_rate=0.0,
    duration_ms=DurationSummary(count=3, avg=0.0, p50=0.0, p95=0.0),
)
SAY = ActionStatistics(
    workflow_id="other",
    name="say",
    type="log",
    runs=1,
    succeeded=1,
    failed=0,
    attempts=1,
    error_rate=0.0,
    duration_ms=DurationSummary(count=1, avg=50.0, p50=50.0, p95=50.0),
)


async def test_statistics_of_one_workflow_count_rate_and_time_its_executions_and_actions(
    executions: ExecutionRepository,
) -> None:
    await arrange(executions)

    stats = await executions.statistics(workflow_id="wf", since=T0, until=UNTIL)

    assert (stats.workflow_id, stats.since, stats.until) == ("wf", T0, UNTIL)
    assert stats.executions == 7
    assert stats.by_status == StatusCounts(queued=1, running=0, pending=1, succeeded=3, failed=1, cancelled=1)
    assert (stats.success_rate, stats.error_rate) == (pytest.approx(0.6), pytest.approx(0.2))
    assert stats.duration_ms == DurationSummary(count=5, avg=600.0, p50=400.0, p95=1000.0)
    assert stats.actions == [FETCH, NOTE]
    assert stats.slowest_actions == [FETCH, NOTE]


async def test_statistics_of_every_workflow_take_in_each_ones_executions(executions: ExecutionRepository) -> None:
    await arrange(executions)

    stats = await executions.statistics(workflow_id=None, since=T0, until=UNTIL)

    assert stats.workflow_id is None
    assert stats.executions == 8
    assert stats.by_status == StatusCounts(queued=1, running=0, pending=1, succeeded=4, failed=1, cancelled=1)
    assert (stats.success_rate, stats.error_rate) == (pytest.approx(4 / 6), pytest.approx(1 / 6))
    assert stats.duration_ms == DurationSummary(count=6, avg=3400 / 6, p50=400.0, p95=1000.0)
    assert stats.actions == [SAY, FETCH, NOTE]
    assert stats.slowest_actions == [FETCH, SAY, NOTE]


async def test_statistics_leave_out_executions_created_outside_the_window(executions: ExecutionRepository) -> None:
    await arrange(executions)

    before = await executions.statistics(workflow_id="wf", since=T0 - seconds(60), until=T0 - ms(1))
    later = await executions.statistics(workflow_id=None, since=T0 + seconds(6), until=UNTIL)

    assert before.by_status == StatusCounts(running=1)
    assert (later.by_status, [a.name for a in later.actions]) == (
        StatusCounts(pending=1, succeeded=1),
        ["say", "fetch"],
    )


async def test_statistics_of_an_empty_window_are_zeros_and_nulls(executions: ExecutionRepository) -> None:
    stats = await executions.statistics(workflow_id="wf", since=T0, until=UNTIL)

    assert stats.executions == 0
    assert stats.by_status == StatusCounts()
    assert (stats.success_rate, stats.error_rate) == (None, None)
    assert stats.duration_ms == DurationSummary(count=0)
    assert (stats.actions, stats.slowest_actions) == ([], [])


async def test_statistics_treat_the_workflow_id_as_a_plain_string(executions: ExecutionRepository) -> None:
    await arrange(executions)

    stats = await executions.statistics(workflow_id='{"$ne": null}', since=T0, until=UNTIL)

    assert stats.executions == 0


async def test_an_executions_trace_context_is_kept_from_creation_through_every_attempt(
    executions: ExecutionRepository,
) -> None:
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    queued = Execution.queued(
        execution_id="ex", workflow=WF, reason=Reason.MANUAL, input=None, now=T0, traceparent=traceparent
    )
    await executions.add(queued, ExecutionPlan.of(WF), idempotency_key=None)
    run = Run(executions, WF, "ex", T0)
    await run.start(T0)
    assert run.execution is not None
    run.execution.traceparent = None  # whatever a runner sends back, the creation's context stays
    await run.action(0, T0, T0 + ms(5), RETRYABLE)

    (due,) = await executions.due_retries(now=T0 + timedelta(hours=1), limit=10)
    retried = await executions.claim_retry("ex", now=T0 + timedelta(hours=1))
    claimed = await executions.claim_for_run(
        "ex", attempt=2, owner=OWNER, lease_until=UNTIL, now=T0 + timedelta(hours=1)
    )

    assert claimed is not None and retried is not None
    assert {due.traceparent, retried.traceparent, claimed.execution.traceparent} == {traceparent}
    assert (await executions.get("ex")).traceparent == traceparent
    assert (await executions.get("ex")).status is ExecutionStatus.RUNNING
