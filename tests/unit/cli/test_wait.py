"""`wfa trigger --wait` (and `wfa retry --wait`): each action, compensation and onFailure run told as it starts and
ends, polling at most every 0.5 s, and the exit code by the final status."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.unit.cli.conftest import ScriptedServer


def run_record(name: str, status: str, attempts: int = 1, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "http-request", "status": status, "attempts": attempts, **extra}


def execution(status: str, actions: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "executionId": "e1",
        "workflowId": "w",
        "status": status,
        "actions": actions,
        "compensations": None,
        "onFailure": None,
        "error": None,
        **extra,
    }


def scripted(*reads: dict[str, Any]) -> ScriptedServer:
    """Triggering answers 202; each read of the execution answers the next of `reads`, then the last again."""
    answers: Iterator[dict[str, Any]] = iter(reads)
    last: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(202, json={"executionId": "e1", "workflowId": "w", "status": "queued"})
        last[:] = [next(answers, last[0] if last else reads[-1])]
        return httpx.Response(200, json=last[0])

    return ScriptedServer(handler)


SUCCEEDING = (
    execution("queued", [run_record("fetch", "not_started", 0), run_record("store", "not_started", 0)]),
    execution("running", [run_record("fetch", "running"), run_record("store", "not_started", 0)]),
    execution("running", [run_record("fetch", "succeeded", durationMs=12), run_record("store", "running")]),
    execution(
        "succeeded",
        [run_record("fetch", "succeeded", durationMs=12), run_record("store", "succeeded", durationMs=5)],
        durationMs=40,
    ),
)

FAILING = (
    execution("running", [run_record("create", "running"), run_record("publish", "not_started", 0)]),
    execution(
        "running",
        [
            run_record("create", "succeeded", durationMs=3),
            run_record("publish", "failed", error={"type": "http_status", "message": "HTTP 500"}),
        ],
        compensations=[run_record("delete-draft", "running")],
        onFailure=[run_record("page", "not_started", 0)],
    ),
    execution(
        "failed",
        [
            run_record("create", "succeeded", durationMs=3),
            run_record("publish", "failed", error={"type": "http_status", "message": "HTTP 500"}),
        ],
        compensations=[run_record("delete-draft", "succeeded", durationMs=2)],
        onFailure=[run_record("page", "succeeded", durationMs=1)],
        error={"type": "http_status", "message": "HTTP 500", "action": "publish"},
        durationMs=90,
    ),
)


def test_wait_tells_each_action_as_it_starts_and_ends_and_exits_0_on_success() -> None:
    server = scripted(*SUCCEEDING)

    run = server.run("trigger", "w", "--wait")

    assert run.code == 0, run.err
    assert run.out.splitlines() == [
        "execution e1 of w: queued",
        "  fetch (http-request) started",
        "  fetch succeeded in 12 ms",
        "  store (http-request) started",
        "  store succeeded in 5 ms",
        "execution e1 succeeded in 40 ms",
    ]


def test_wait_polls_at_most_every_half_second() -> None:
    server = scripted(*SUCCEEDING)

    server.run("trigger", "w", "--wait")

    assert server.sleeps.slept == [0.5, 0.5, 0.5]
    assert len(server.sent("GET")) == 4


def test_wait_tells_the_compensations_and_on_failure_runs_and_exits_1_on_failure() -> None:
    server = scripted(*FAILING)

    run = server.run("trigger", "w", "--wait")

    assert run.code == 1
    lines = run.out.splitlines()
    assert "  publish failed: http_status: HTTP 500" in lines
    assert "  compensation delete-draft (http-request) started" in lines
    assert "  compensation delete-draft succeeded in 2 ms" in lines
    assert "  onFailure page (http-request) started" in lines
    assert "  onFailure page succeeded in 1 ms" in lines
    assert lines[-1] == "execution e1 failed in 90 ms: http_status: HTTP 500"


def test_a_cancelled_execution_exits_1() -> None:
    server = scripted(execution("cancelled", [run_record("fetch", "skipped", 0)]))

    run = server.run("trigger", "w", "--wait")

    assert run.code == 1
    assert run.out.splitlines()[-1] == "execution e1 cancelled"


def test_a_retry_wait_is_announced_with_its_time() -> None:
    server = scripted(
        execution("running", [run_record("fetch", "running")]),
        execution(
            "pending",
            [run_record("fetch", "failed", error={"type": "timeout", "message": "no answer"})],
            nextRetryAt="2026-05-01T08:00:02Z",
        ),
        execution("running", [run_record("fetch", "running", 2)]),
        execution("succeeded", [run_record("fetch", "succeeded", 2, durationMs=7)]),
    )

    run = server.run("trigger", "w", "--wait")

    assert run.code == 0
    assert run.out.splitlines()[1:] == [
        "  fetch (http-request) started",
        "  fetch failed: timeout: no answer",
        "  waiting to retry at 2026-05-01T08:00:02Z",
        "  fetch (http-request) started (attempt 2)",
        "  fetch succeeded in 7 ms (attempt 2)",
        "execution e1 succeeded",
    ]


def test_a_wait_for_a_slot_is_announced_and_so_is_its_end() -> None:
    server = scripted(
        execution("queued", [run_record("fetch", "not_started")], waiting=True),
        execution("queued", [run_record("fetch", "not_started")], waiting=False),
        execution("succeeded", [run_record("fetch", "succeeded", durationMs=3)], waiting=False),
    )

    run = server.run("trigger", "w", "--wait")

    assert run.code == 0
    assert run.out.splitlines()[1:] == [
        "  waiting for a slot (the workflow's concurrency queue)",
        "  got a slot",
        "  fetch (http-request) started",
        "  fetch succeeded in 3 ms",
        "execution e1 succeeded",
    ]


@pytest.mark.parametrize(("reads", "code"), [(SUCCEEDING, 0), (FAILING, 1)])
def test_wait_with_output_json_prints_only_the_final_execution(reads: tuple[dict[str, Any], ...], code: int) -> None:
    run = scripted(*reads).run("trigger", "w", "--wait", "--output", "json")

    assert run.code == code
    assert run.json() == reads[-1]


def test_wait_gives_up_after_its_timeout_with_exit_1() -> None:
    server = scripted(execution("running", [run_record("fetch", "running")]))

    run = server.run("trigger", "w", "--wait", "--timeout", "2")

    assert run.code == 1
    assert run.err.splitlines() == [
        "error: execution e1 is still running after 2 s (it goes on; follow it with `wfa executions get e1`)"
    ]
    assert sum(server.sleeps.slept) == 2.0


def test_retry_wait_follows_the_new_execution() -> None:
    server = scripted(*SUCCEEDING)

    run = server.run("retry", "e0", "--wait")

    assert run.code == 0
    assert server.requests[0].url.path == "/executions/e0/retry"
    assert server.requests[1].url.path == "/executions/e1"


def test_on_a_terminal_the_view_is_a_table_of_every_run() -> None:
    server = scripted(*FAILING)

    run = server.run("trigger", "w", "--wait", env={"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1", "COLUMNS": "120"})

    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", run.out)
    assert run.code == 1
    for name in ("create", "publish", "compensation delete-draft", "onFailure page", "HTTP 500"):
        assert name in shown
    assert "w · e1 · failed in 90 ms" in shown
