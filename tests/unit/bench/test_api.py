from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from bench.api import (
    BenchError,
    WorkflowsApi,
    finished_at,
    log_workflow,
    parse_timestamp,
    require_succeeded,
    server_latency_ms,
)


def test_log_workflow_is_a_manual_workflow_with_one_log_action() -> None:
    assert log_workflow("wf-1") == {
        "workflowId": "wf-1",
        "trigger": {"type": "manual"},
        "actions": [{"type": "log", "message": "bench"}],
    }


@pytest.mark.parametrize("text", ["2026-01-02T03:04:05.123Z", "2026-01-02T03:04:05.123+00:00"])
def test_parse_timestamp_reads_utc_either_way(text: str) -> None:
    assert parse_timestamp(text) == datetime(2026, 1, 2, 3, 4, 5, 123000, tzinfo=UTC)


def test_parse_timestamp_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError):
        parse_timestamp("2026-01-02T03:04:05")


def test_server_latency_is_finished_minus_created_in_ms() -> None:
    execution = {"createdAt": "2026-01-02T03:04:05.100Z", "finishedAt": "2026-01-02T03:04:05.342Z"}

    assert server_latency_ms(execution) == pytest.approx(242.0)


def test_server_latency_of_an_unfinished_execution_is_an_error() -> None:
    with pytest.raises(BenchError):
        server_latency_ms({"executionId": "e", "createdAt": "2026-01-02T03:04:05Z", "finishedAt": None})
    with pytest.raises(BenchError):
        finished_at({"executionId": "e", "finishedAt": None})


def test_require_succeeded_passes_a_succeeded_execution_and_refuses_others() -> None:
    assert require_succeeded({"status": "succeeded"}) == {"status": "succeeded"}
    with pytest.raises(BenchError, match="failed"):
        require_succeeded({"executionId": "e", "status": "failed"})


async def test_pause_is_repeated_while_the_api_answers_503() -> None:
    answers = iter([503, 503, 200])
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        status = next(answers)
        return httpx.Response(status, json={"workflowId": "w"}, headers={"retry-after": "0"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://api") as client:
        paused = await WorkflowsApi(client).pause("w")

    assert paused == {"workflowId": "w"}
    assert calls == ["/workflows/w/pause"] * 3


async def test_executions_of_follows_every_page() -> None:
    pages: dict[str | None, dict[str, Any]] = {
        None: {"items": [{"executionId": "b"}], "nextCursor": "c1"},
        "c1": {"items": [{"executionId": "a"}], "nextCursor": None},
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=pages[request.url.params.get("cursor")])

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://api") as client:
        executions = await WorkflowsApi(client).executions_of("w")

    assert [e["executionId"] for e in executions] == ["b", "a"]
