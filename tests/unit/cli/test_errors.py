"""Every way the server can fail a command: one clear line on stderr, exit code 1, never a traceback; with
`--output json`, stdout holds one JSON document (the error) and nothing else."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from tests.unit.cli.conftest import (
    RealServer,
    ScriptedServer,
    assert_one_error_line,
    build_server,
    flow,
    problem,
    write,
)
from tests.unit.fakes import RecordingPublisher

from wfa.domain.clock import FakeClock


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


def timed_out(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


def dropped(request: httpx.Request) -> httpx.Response:
    raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)


FAILURES: dict[str, Callable[[httpx.Request], httpx.Response]] = {
    "connection refused": refused,
    "timeout": timed_out,
    "connection lost": dropped,
    "401": lambda request: problem(401, "Unauthorized", "a valid API key is needed"),
    "403": lambda request: problem(403, "Forbidden", "this key may only read"),
    "404": lambda request: problem(404, "Not Found", "no such thing"),
    "409": lambda request: problem(409, "Conflict", "busy", triggerStatus="busy", executionId="e1", reason="busy"),
    "422": lambda request: problem(
        422,
        "Unprocessable Content",
        "trigger.interval: too short",
        errors=[
            {"loc": ["body", "trigger", "interval"], "msg": "too short"},
            {"loc": ["query", "limit"], "msg": "big"},
        ],
    ),
    "500 not json": lambda request: httpx.Response(502, text="<html>Bad gateway</html>"),
    "200 not json": lambda request: httpx.Response(200, text="<html>a login page</html>"),
}

COMMANDS = [
    ["get", "workflows"],
    ["get", "workflow", "w"],
    ["versions", "w"],
    ["pause", "w"],
    ["resume", "w"],
    ["delete", "w"],
    ["trigger", "w", "--wait"],
    ["executions", "ls"],
    ["executions", "ls", "--workflow", "w"],
    ["executions", "get", "e1"],
    ["cancel", "e1"],
    ["retry", "e1"],
    ["diff", "-f", "{flow}"],
    ["apply", "-f", "{flow}"],
]


@pytest.fixture
def flow_file(tmp_path: Path) -> str:
    return str(write(tmp_path, "w.yaml", flow("w")))


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_failure_is_one_line_and_exit_1(failure: str, command: list[str], flow_file: str) -> None:
    server = ScriptedServer(FAILURES[failure])
    args = [part.replace("{flow}", flow_file) for part in command]

    text = server.run(*args)
    if command[0] == "diff" and failure == "404":
        assert text.code == 1 and "would be created w" in text.out  # missing on the server: a difference
        return
    as_json = server.run(*args, "--output", "json")

    line = assert_one_error_line(text)
    if command[0] != "apply" or failure in ("connection refused", "timeout", "connection lost", "401", "403"):
        assert len(text.err.splitlines()) == (3 if failure == "422" else 1), text.err
    assert as_json.code == 1
    document = json.loads(as_json.out)
    assert set(document) <= {"error", "dryRun", "workflows", "summary"}
    if "error" in document:
        assert document["error"]["message"] in line


def test_a_refused_connection_names_the_server() -> None:
    run = ScriptedServer(refused).run("get", "workflows", "--url", "http://wfa.test:9")

    assert run.err == "error: cannot reach the server at http://wfa.test:9: [Errno 111] Connection refused\n"


def test_a_422_shows_title_detail_and_each_loc_and_msg() -> None:
    run = ScriptedServer(FAILURES["422"]).run("get", "workflows")

    assert run.err.splitlines() == [
        "error: GET /workflows → 422 Unprocessable Content: trigger.interval: too short",
        "  body.trigger.interval: too short",
        "  query.limit: big",
    ]


def test_a_404_from_the_real_api_is_one_line(server: RealServer) -> None:
    run = server.run("get", "workflow", "missing")

    assert assert_one_error_line(run).startswith("error: GET /workflows/missing → 404 Not Found:")


def test_a_401_from_the_real_api_names_the_key_settings(clock: FakeClock, publisher: RecordingPublisher) -> None:
    guarded = build_server(clock, publisher, api_keys=["admin:admin-secret"])

    without = guarded.run("get", "workflows")
    wrong = guarded.run("get", "workflows", "--api-key", "nope")
    right = guarded.run("get", "workflows", env={"WFA_API_KEY": "admin-secret"})

    assert "401" in assert_one_error_line(without) and "WFA_API_KEY" in without.err
    assert "401" in assert_one_error_line(wrong)
    assert right.code == 0


@pytest.mark.parametrize(
    "args",
    [
        ["frobnicate"],
        ["get", "workflow"],
        ["apply"],
        ["apply", "-f", "/no/such/path.yaml"],
        ["trigger", "w", "--wait", "--timeout", "soon"],
        ["get", "workflows", "--output", "xml"],
    ],
)
def test_usage_errors_exit_2_without_a_traceback(args: list[str]) -> None:
    server = ScriptedServer(refused)

    run = server.run(*args)

    assert run.code == 2, (run.out, run.err)
    assert "Traceback" not in run.out + run.err
    assert server.requests == []


def test_an_unexpected_error_is_still_one_line() -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=["not", "a", "page"])

    run = ScriptedServer(broken).run("get", "workflows")

    assert assert_one_error_line(run).startswith("error: unexpected error")
