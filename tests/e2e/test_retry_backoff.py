"""The retry policy through the real services, judged by the execution's own records (never by the test's clock):
exponential backoff between attempts, the pending lock refusing a manual trigger, Retry-After honoured and capped,
an action's own policy overriding the workflow's, the exponent being the failing action's own attempt number, the
retry resuming at the failed action, and a cancelled pending execution never re-dispatched."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from tests.e2e.helpers import (
    assert_problem,
    create_manual_workflow,
    get_json,
    http_action,
    log_action,
    trigger,
    wait_for_execution,
    wait_for_idle,
)
from tests.e2e.target import TargetServer

pytestmark = pytest.mark.e2e

# Timestamps are stored with millisecond precision; the scheduler dispatches a due retry within its loop's sleep.
PRECISION = timedelta(milliseconds=2)
DISPATCH_SLACK = timedelta(seconds=5)
SNAPSHOT_INTERVAL = 0.05


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


@dataclass(frozen=True)
class Pending:
    """What the API showed while an attempt waited for its retry."""

    execution: dict[str, Any]
    workflow: dict[str, Any]
    refused_trigger: httpx.Response


@dataclass(frozen=True)
class BackoffRun:
    pending: list[Pending]  # one per failed attempt, in order
    execution: dict[str, Any]
    requests: dict[str, int]


async def _follow_attempts(api: httpx.AsyncClient, workflow_id: str, execution_id: str) -> list[Pending]:
    """Watch the execution until it is final, capturing each pending attempt once (and trying a trigger then)."""
    seen: dict[int, Pending] = {}
    deadline = asyncio.get_running_loop().time() + 60
    while asyncio.get_running_loop().time() < deadline:
        execution = await get_json(api, f"/executions/{execution_id}")
        if execution["status"] in {"succeeded", "failed", "cancelled"}:
            return [seen[attempt] for attempt in sorted(seen)]
        if execution["status"] == "pending" and execution["attempt"] not in seen:
            workflow = await get_json(api, f"/workflows/{workflow_id}")
            refused = await api.post(f"/workflows/{workflow_id}/trigger")
            seen[execution["attempt"]] = Pending(execution, workflow, refused)
        await asyncio.sleep(SNAPSHOT_INTERVAL)
    raise AssertionError(f"execution {execution_id} not final within 60s")


@pytest.fixture(scope="module")
async def backoff_run(api: httpx.AsyncClient, target: TargetServer) -> BackoffRun:
    first, flaky = target.path("backoff-first"), target.path("backoff-flaky")
    target.respond(first, 200)
    target.respond_in_turn(flaky, 503, 500, 200)
    workflow_id = await create_manual_workflow(
        api,
        "backoff",
        log_action("before"),
        http_action(target.url(first)),
        http_action(target.url(flaky)),
        retry={"maxAttempts": 3, "initialInterval": "1s", "backoffRate": 2},
    )
    execution_id = await trigger(api, workflow_id)
    pending = await _follow_attempts(api, workflow_id, execution_id)
    execution = await get_json(api, f"/executions/{execution_id}")
    return BackoffRun(pending, execution, {"first": target.count(first), "flaky": target.count(flaky)})


def test_each_failed_attempt_with_attempts_left_was_seen_pending(backoff_run: BackoffRun) -> None:
    assert [p.execution["attempt"] for p in backoff_run.pending] == [1, 2]


def test_the_backoff_doubles_from_the_initial_interval(backoff_run: BackoffRun) -> None:
    # nextRetryAt = failure time + initialInterval × backoffRate^(n-1), n the failing action's attempt number.
    waits = [at(p.execution["nextRetryAt"]) - at(p.execution["actions"][2]["finishedAt"]) for p in backoff_run.pending]

    assert len(waits) == 2
    assert abs(waits[0] - timedelta(seconds=1)) <= PRECISION, waits
    assert abs(waits[1] - timedelta(seconds=2)) <= PRECISION, waits


def test_no_retry_starts_before_its_next_retry_time(backoff_run: BackoffRun) -> None:
    # The run after attempt n's failure is recorded on the next snapshot (or the final record).
    retried = [p.execution for p in backoff_run.pending[1:]] + [backoff_run.execution]
    for pending, later in zip(backoff_run.pending, retried, strict=True):
        due = at(pending.execution["nextRetryAt"])
        started = at(later["actions"][2]["startedAt"])
        assert due <= started < due + DISPATCH_SLACK, (due, started)


def test_the_lock_is_pending_while_a_retry_is_due(backoff_run: BackoffRun) -> None:
    for pending in backoff_run.pending:
        trigger = pending.workflow["trigger"]
        assert (trigger["status"], trigger["executionId"]) == ("pending", pending.execution["executionId"])


def test_a_manual_trigger_while_pending_is_refused_with_409_pending(backoff_run: BackoffRun) -> None:
    for pending in backoff_run.pending:
        problem = assert_problem(pending.refused_trigger, 409)
        assert (problem["triggerStatus"], problem["reason"], problem["executionId"]) == (
            "pending",
            "pending",
            pending.execution["executionId"],
        )


def test_the_third_attempt_succeeds_and_attempts_are_counted_per_action(backoff_run: BackoffRun) -> None:
    execution = backoff_run.execution

    assert (execution["status"], execution["attempt"], execution["maxAttempts"]) == ("succeeded", 3, 3)
    assert [(a["status"], a["attempts"]) for a in execution["actions"]] == [
        ("succeeded", 1),
        ("succeeded", 1),
        ("succeeded", 3),
    ]


def test_retries_resume_at_the_failed_action(backoff_run: BackoffRun) -> None:
    assert backoff_run.requests == {"first": 1, "flaky": 3}


@dataclass(frozen=True)
class RetryAfterRuns:
    capped: dict[str, Any]  # 503 asking for 120 s, maxInterval 2s: pending, then cancelled
    cancelled: httpx.Response
    workflow_after_cancel: dict[str, Any]
    honoured_pending: dict[str, Any]  # 429 asking for 3 s, above initialInterval 1s
    honoured: dict[str, Any]
    capped_after: dict[str, Any]
    capped_requests: int
    honoured_requests: int


@pytest.fixture(scope="module")
async def retry_after_runs(api: httpx.AsyncClient, target: TargetServer) -> RetryAfterRuns:
    capped_path, honoured_path = target.path("retry-after-capped"), target.path("retry-after-honoured")
    target.respond(capped_path, 503, headers={"Retry-After": "120"})
    target.respond_in_turn(honoured_path, 429, 200, headers={"Retry-After": "3"})
    capped_id = await create_manual_workflow(
        api,
        "retry-after-capped",
        http_action(target.url(capped_path)),
        retry={"maxAttempts": 3, "initialInterval": "1s", "maxInterval": "2s"},
    )
    honoured_id = await create_manual_workflow(
        api, "retry-after-honoured", http_action(target.url(honoured_path)), retry={"initialInterval": "1s"}
    )

    capped_execution = await trigger(api, capped_id)
    capped = await wait_for_execution(api, capped_execution, frozenset({"pending"}))
    cancelled = await api.post(f"/executions/{capped_execution}/cancel")
    workflow_after_cancel = await get_json(api, f"/workflows/{capped_id}")
    # The control: its retry is due after the cancelled one's would have been. Once it has been dispatched, the
    # scheduler has passed the cancelled execution's retry time too, and must have left it alone.
    honoured_execution = await trigger(api, honoured_id)
    honoured_pending = await wait_for_execution(api, honoured_execution, frozenset({"pending"}))
    honoured = await wait_for_execution(api, honoured_execution)
    await wait_for_idle(api, honoured_id)
    return RetryAfterRuns(
        capped=capped,
        cancelled=cancelled,
        workflow_after_cancel=workflow_after_cancel,
        honoured_pending=honoured_pending,
        honoured=honoured,
        capped_after=await get_json(api, f"/executions/{capped_execution}"),
        capped_requests=target.count(capped_path),
        honoured_requests=target.count(honoured_path),
    )


def _wait(execution: dict[str, Any]) -> timedelta:
    return at(execution["nextRetryAt"]) - at(execution["actions"][0]["finishedAt"])


def test_retry_after_of_a_429_replaces_the_backoff(retry_after_runs: RetryAfterRuns) -> None:
    assert abs(_wait(retry_after_runs.honoured_pending) - timedelta(seconds=3)) <= PRECISION
    assert (retry_after_runs.honoured["status"], retry_after_runs.honoured["attempt"]) == ("succeeded", 2)


def test_retry_after_of_a_503_is_capped_at_max_interval(retry_after_runs: RetryAfterRuns) -> None:
    assert abs(_wait(retry_after_runs.capped) - timedelta(seconds=2)) <= PRECISION


def test_cancelling_a_pending_execution_releases_the_lock(retry_after_runs: RetryAfterRuns) -> None:
    cancelled = retry_after_runs.cancelled
    trigger = retry_after_runs.workflow_after_cancel["trigger"]

    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["status"], cancelled.json()["nextRetryAt"]) == ("cancelled", None)
    assert (trigger["status"], trigger["executionId"]) == ("idle", None)


def test_a_cancelled_pending_execution_is_never_dispatched_again(retry_after_runs: RetryAfterRuns) -> None:
    assert at(retry_after_runs.honoured["actions"][0]["startedAt"]) > at(retry_after_runs.capped["nextRetryAt"])
    assert (retry_after_runs.capped_after["status"], retry_after_runs.capped_after["attempt"]) == ("cancelled", 1)
    assert retry_after_runs.capped_requests == 1
    assert retry_after_runs.honoured_requests == 2


@dataclass(frozen=True)
class OverrideRun:
    pending: list[Pending]
    execution: dict[str, Any]


@pytest.fixture(scope="module")
async def override_run(api: httpx.AsyncClient, target: TargetServer) -> OverrideRun:
    first, second = target.path("override-first"), target.path("override-second")
    target.respond_in_turn(first, 503, 200)
    target.respond_in_turn(second, 503, 200)
    own_policy = {"maxAttempts": 2, "initialInterval": "1s", "backoffRate": 4}
    workflow_id = await create_manual_workflow(
        api,
        "override",
        http_action(target.url(first), retry=own_policy),
        http_action(target.url(second), retry=own_policy),
        retry={"maxAttempts": 1},  # no retry at the workflow level: only the actions' own policies allow one
    )
    execution_id = await trigger(api, workflow_id)
    pending = await _follow_attempts(api, workflow_id, execution_id)
    return OverrideRun(pending, await get_json(api, f"/executions/{execution_id}"))


def test_an_actions_own_retry_policy_overrides_the_workflows(override_run: OverrideRun) -> None:
    execution = override_run.execution

    assert (execution["status"], execution["attempt"], execution["maxAttempts"]) == ("succeeded", 3, 1)
    assert [(a["status"], a["attempts"]) for a in execution["actions"]] == [("succeeded", 2), ("succeeded", 2)]


def test_the_backoff_exponent_is_the_failing_actions_own_attempt_number(override_run: OverrideRun) -> None:
    first, second = override_run.pending
    # The second action fails at the execution's attempt 2 but at its own attempt 1: initialInterval × 4^0.
    assert (first.execution["attempt"], second.execution["attempt"]) == (1, 2)
    assert second.execution["actions"][1]["attempts"] == 1
    for pending, failed_action in ((first, 0), (second, 1)):
        execution = pending.execution
        wait = at(execution["nextRetryAt"]) - at(execution["actions"][failed_action]["finishedAt"])
        assert abs(wait - timedelta(seconds=1)) <= PRECISION, wait
