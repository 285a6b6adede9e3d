"""`wfa` run in-process (Typer's CliRunner) against either the real workflows app over in-memory repositories (a
Starlette TestClient is the CLI's HTTP client) or a scripted server (httpx.MockTransport), for what the in-memory
app cannot show: executions that progress, endpoints built elsewhere, and every kind of failure."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from click.testing import Result
from fastapi import FastAPI
from tests.unit.fakes import RecordingPublisher
from typer.testing import CliRunner

from wfa.adapters.memory import InMemoryExecutionRepository, InMemoryWorkflowRepository
from wfa.adapters.memory_versions import InMemoryVersionRepository
from wfa.domain.clock import FakeClock
from wfa.service_layer.triggering import Triggering
from wfa_cli import Runtime, Settings, app
from wfa_cli.main import COMMAND_MODULES
from wfa_cli.watch import Clock
from wfa_workflows.api.auth import parse_api_keys
from wfa_workflows.app import ApiDependencies, create_app
from wfa_workflows.use_cases import WorkflowUseCases

with warnings.catch_warnings():
    # Starlette suggests another HTTP package for its TestClient; httpx is the one the CLI uses, so it stays.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

assert COMMAND_MODULES  # importing wfa_cli.main registers every command on `app`


@dataclass
class Run:
    """One `wfa` run: exit code, stdout, stderr."""

    result: Result

    @property
    def code(self) -> int:
        return self.result.exit_code

    @property
    def out(self) -> str:
        return self.result.stdout

    @property
    def err(self) -> str:
        return self.result.stderr

    def json(self) -> Any:
        """stdout as one JSON document (fails the test if it is anything else)."""
        return json.loads(self.out)


@dataclass
class Sleeps:
    """A clock for --wait that records the sleeps instead of sleeping."""

    slept: list[float] = field(default_factory=list)

    def clock(self) -> Clock:
        return Clock(sleep=self.slept.append, monotonic=lambda: sum(self.slept))


def invoke(
    runtime: Runtime, args: Sequence[str], *, stdin: str | None = None, env: Mapping[str, str] | None = None
) -> Run:
    environment = {"WFA_URL": None, "WFA_API_KEY": None, **(env or {})}
    result = CliRunner().invoke(app, list(args), input=stdin, obj=runtime, env=environment, catch_exceptions=False)
    return Run(result)


@dataclass
class RealServer:
    """The workflows app over in-memory repositories; `run` invokes wfa against it."""

    app: FastAPI
    workflows: InMemoryWorkflowRepository
    executions: InMemoryExecutionRepository
    sleeps: Sleeps = field(default_factory=Sleeps)

    def client(self, settings: Settings) -> httpx.Client:
        headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
        return TestClient(self.app, base_url=settings.url, headers=headers)

    def run(self, *args: str, stdin: str | None = None, env: Mapping[str, str] | None = None) -> Run:
        return invoke(Runtime(client_factory=self.client, clock=self.sleeps.clock()), args, stdin=stdin, env=env)

    def api(self) -> TestClient:
        return TestClient(self.app, base_url="http://127.0.0.1:8080")


def build_server(clock: FakeClock, publisher: RecordingPublisher, api_keys: Sequence[str] = ()) -> RealServer:
    workflows, executions = InMemoryWorkflowRepository(), InMemoryExecutionRepository()
    ids = count(1)
    triggering = Triggering(
        workflows=workflows,
        executions=executions,
        publisher=publisher,
        clock=clock,
        new_id=lambda: f"e{next(ids):04d}",
    )
    app = create_app(
        ApiDependencies(
            use_cases=WorkflowUseCases(triggering, InMemoryVersionRepository()), api_keys=parse_api_keys(api_keys)
        )
    )
    return RealServer(app, workflows, executions)


@pytest.fixture
def server(clock: FakeClock, publisher: RecordingPublisher) -> Iterator[RealServer]:
    # The in-process service logs; captured here so that its lines do not mix with the CLI's stdout.
    with structlog.testing.capture_logs():
        yield build_server(clock, publisher)


Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class ScriptedServer:
    """A server answering with `handler`; every request it saw is in `requests`."""

    handler: Handler
    requests: list[httpx.Request] = field(default_factory=list)
    sleeps: Sleeps = field(default_factory=Sleeps)

    def client(self, settings: Settings) -> httpx.Client:
        def record(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return self.handler(request)

        headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
        return httpx.Client(transport=httpx.MockTransport(record), base_url=settings.url, headers=headers)

    def run(self, *args: str, stdin: str | None = None, env: Mapping[str, str] | None = None) -> Run:
        return invoke(Runtime(client_factory=self.client, clock=self.sleeps.clock()), args, stdin=stdin, env=env)

    def sent(self, method: str) -> list[httpx.Request]:
        return [request for request in self.requests if request.method == method]


def problem(status: int, title: str, detail: str, **extra: Any) -> httpx.Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return httpx.Response(status, json=body, headers={"content-type": "application/problem+json"})


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def flow(workflow_id: str, message: str = "hello") -> str:
    """A small manual workflow as YAML."""
    return f"workflowId: {workflow_id}\ntrigger:\n  type: manual\nactions:\n  - type: log\n    message: {message}\n"


def assert_one_error_line(run: Run, *, code: int = 1) -> str:
    """The run failed with `code`, said why in one `error:` line on stderr, and showed no traceback."""
    assert run.code == code, (run.out, run.err)
    assert "Traceback" not in run.err + run.out
    first, *_ = run.err.splitlines()
    assert first.startswith("error: "), run.err
    return first
