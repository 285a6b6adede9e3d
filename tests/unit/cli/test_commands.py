"""`wfa get`, `pause|resume|delete`, `trigger`, `executions`, `cancel`, `retry` against the real API (in memory),
and the shared options: before or after the command, from the environment."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml
from tests.unit.cli.conftest import RealServer, ScriptedServer, flow, write


@pytest.fixture
def applied(server: RealServer, tmp_path: Path) -> RealServer:
    server.run("apply", "-f", str(write(tmp_path, "flows.yaml", flow("alpha") + "---\n" + flow("beta"))))
    return server


def test_get_workflows_lists_every_workflow_in_a_table(applied: RealServer) -> None:
    run = applied.run("get", "workflows")

    assert run.code == 0
    rows = [line for line in run.out.splitlines() if "alpha" in line or "beta" in line]
    assert len(rows) == 2 and "manual" in rows[0]


def test_get_workflows_shows_how_many_wait_for_a_slot(server: RealServer, tmp_path: Path) -> None:
    queued = flow("gamma") + "concurrency:\n  whenBusy: queue\n"
    server.run("apply", "-f", str(write(tmp_path, "queued.yaml", queued)))
    for _ in range(3):
        assert server.run("trigger", "gamma").code == 0

    run = server.run("get", "workflows")

    # Rich wraps the cell in a narrow terminal: "busy, 2" on gamma's line, "waiting" below it.
    lines = run.out.splitlines()
    row = next(n for n, line in enumerate(lines) if "gamma" in line)
    assert "busy, 2" in lines[row] and "waiting" in " ".join(lines[row : row + 2]), run.out


def test_get_workflows_as_json_is_the_list_of_resources(applied: RealServer) -> None:
    document = applied.run("get", "workflows", "-o", "json").json()

    assert [item["workflowId"] for item in document["items"]] == ["alpha", "beta"]


def test_get_workflow_prints_yaml_by_default_and_json_on_request(applied: RealServer) -> None:
    as_text = applied.run("get", "workflow", "alpha")
    as_yaml = applied.run("get", "workflow", "alpha", "-o", "yaml")
    as_json = applied.run("get", "workflow", "alpha", "-o", "json")

    assert yaml.safe_load(as_text.out) == yaml.safe_load(as_yaml.out) == as_json.json()
    assert as_json.json()["version"] == 1


def test_pause_resume_and_delete_say_what_they_did(applied: RealServer) -> None:
    paused = applied.run("pause", "alpha")
    resumed = applied.run("resume", "alpha", "-o", "json")
    deleted = applied.run("delete", "beta")

    assert paused.out == "paused alpha\n"
    assert resumed.json()["enabled"] is True
    assert deleted.out == "deleted beta\n"
    assert applied.api().get("/workflows/beta").status_code == 404


def test_trigger_starts_an_execution_with_the_input_and_the_idempotency_key(applied: RealServer) -> None:
    run = applied.run("trigger", "alpha", "--input", '{"version": "1.4.0"}', "--idempotency-key", "k1")
    again = applied.run("trigger", "alpha", "--idempotency-key", "k1", "-o", "json")

    assert run.out == "execution e0001 of alpha: queued\n"
    assert again.json() == {"executionId": "e0001", "workflowId": "alpha", "status": "queued"}
    assert applied.api().get("/executions/e0001").json()["input"] == {"version": "1.4.0"}


def test_trigger_reads_the_input_from_a_file(applied: RealServer, tmp_path: Path) -> None:
    path = write(tmp_path, "input.json", '{"notes": "from a file"}')

    applied.run("trigger", "alpha", "--input", f"@{path}")

    assert applied.api().get("/executions/e0001").json()["input"] == {"notes": "from a file"}


@pytest.mark.parametrize("value", ["{not json", "[1, 2]", "@/no/such/file.json"])
def test_an_input_that_is_not_a_json_object_is_a_usage_error(applied: RealServer, value: str) -> None:
    run = applied.run("trigger", "alpha", "--input", value)

    assert run.code == 2
    assert run.err.startswith("error: --input")
    assert applied.api().get("/workflows/alpha/executions").json()["items"] == []


def test_a_second_trigger_while_the_first_runs_is_a_conflict(applied: RealServer) -> None:
    applied.run("trigger", "alpha")

    run = applied.run("trigger", "alpha")

    assert run.code == 1
    assert run.err.startswith("error: POST /workflows/alpha/trigger → 409 Conflict:")


def test_executions_ls_of_a_workflow_and_get_and_cancel(applied: RealServer) -> None:
    applied.run("trigger", "alpha")

    listed = applied.run("executions", "ls", "--workflow", "alpha", "--status", "queued", "-o", "json")
    shown = applied.run("executions", "get", "e0001")
    cancelled = applied.run("cancel", "e0001")

    assert [item["executionId"] for item in listed.json()["items"]] == ["e0001"]
    assert "e0001" in shown.out and "action-1" in shown.out
    assert cancelled.out == "execution e0001: cancelled\n"


def test_retry_starts_a_new_execution_of_a_cancelled_one(applied: RealServer) -> None:
    applied.run("trigger", "alpha")
    applied.run("cancel", "e0001")

    run = applied.run("retry", "e0001", "-o", "json")

    assert run.code == 0
    assert run.json()["executionId"] == "e0002"
    assert applied.api().get("/executions/e0002").json()["retryOf"] == "e0001"


def test_an_unknown_status_is_a_usage_error(applied: RealServer) -> None:
    assert applied.run("executions", "ls", "--status", "exploded").code == 2


def test_executions_ls_without_a_workflow_reads_executions_across_workflows() -> None:
    page = {"items": [{"executionId": "e9", "workflowId": "w", "status": "failed"}], "nextCursor": None}
    server = ScriptedServer(lambda request: httpx.Response(200, json=page))

    run = server.run("executions", "ls", "--status", "failed", "--limit", "20", "-o", "json")

    assert run.json()["items"][0]["executionId"] == "e9"
    (request,) = server.requests
    assert (request.url.path, dict(request.url.params)) == ("/executions", {"limit": "20", "status": "failed"})


def test_versions_lists_the_stored_versions_newest_first() -> None:
    page = {
        "items": [
            {"version": 2, "updatedAt": "2026-05-01T09:00:00Z", "changedBy": "ci", "changes": ["trigger.interval"]},
            {"version": 1, "updatedAt": "2026-05-01T08:00:00Z", "changedBy": None, "changes": []},
        ],
        "nextCursor": None,
    }
    server = ScriptedServer(lambda request: httpx.Response(200, json=page))

    run = server.run("versions", "w")

    assert server.requests[0].url.path == "/workflows/w/versions"
    assert "trigger.interval" in run.out and "ci" in run.out


def test_list_commands_follow_next_cursor_to_the_last_page() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("cursor") == "page-2":
            return httpx.Response(200, json={"items": [{"workflowId": "b"}], "nextCursor": None})
        return httpx.Response(200, json={"items": [{"workflowId": "a"}], "nextCursor": "page-2"})

    run = ScriptedServer(handler).run("get", "workflows", "-o", "json")

    assert [item["workflowId"] for item in run.json()["items"]] == ["a", "b"]


@pytest.mark.parametrize(
    "args",
    [
        ["--url", "http://wfa.test:9000", "--api-key", "k-1", "get", "workflows"],
        ["get", "workflows", "--url", "http://wfa.test:9000", "--api-key", "k-1"],
    ],
)
def test_the_shared_options_may_come_before_or_after_the_command(args: list[str]) -> None:
    server = ScriptedServer(lambda request: httpx.Response(200, json={"items": [], "nextCursor": None}))

    server.run(*args)

    (request,) = server.requests
    assert (request.url.host, request.url.port, request.headers["authorization"]) == ("wfa.test", 9000, "Bearer k-1")


def test_the_url_and_key_come_from_the_environment_and_the_command_line_wins() -> None:
    server = ScriptedServer(lambda request: httpx.Response(200, json={"items": [], "nextCursor": None}))
    env = {"WFA_URL": "http://from-env:1234", "WFA_API_KEY": "env-key"}

    server.run("get", "workflows", env=env)
    server.run("get", "workflows", "--api-key", "flag-key", env=env)

    first, second = server.requests
    assert (first.url.host, first.headers["authorization"]) == ("from-env", "Bearer env-key")
    assert second.headers["authorization"] == "Bearer flag-key"


def test_the_default_server_is_local_port_8080_without_a_key() -> None:
    server = ScriptedServer(lambda request: httpx.Response(200, json={"items": [], "nextCursor": None}))

    server.run("get", "workflows")

    (request,) = server.requests
    assert str(request.url).startswith("http://127.0.0.1:8080/workflows")
    assert "authorization" not in request.headers


def test_output_json_may_come_before_the_command(applied: RealServer) -> None:
    run = applied.run("--output", "json", "get", "workflow", "alpha")

    assert run.json()["workflowId"] == "alpha"
