"""The service-process harness (wfa_devstack.services) keeps its promises, shown with a stand-in service: a small
HTTP server that reads WFA_HTTP_PORT like the real ones and answers /readyz once its start-up delay is over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest

from wfa_devstack import (
    RUNNER,
    SCHEDULER,
    WORKFLOWS,
    ServiceError,
    ServiceProcess,
    ServiceStack,
    free_port,
    port_open,
    service_stack,
    wait_until,
)
from wfa_devstack.process import is_alive

pytestmark = pytest.mark.integration

STAND_IN = textwrap.dedent(
    """
    import json, os, sys, time
    from http.server import BaseHTTPRequestHandler, HTTPServer

    if os.environ.get("STAND_IN_FAIL"):
        print("stand-in: cannot start: " + os.environ["STAND_IN_FAIL"], flush=True)
        sys.exit(3)
    ready_at = time.monotonic() + float(os.environ.get("STAND_IN_READY_AFTER", "0"))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/env":
                env = {k: v for k, v in os.environ.items() if k.startswith("WFA_")}
                body, status = json.dumps({"env": env, "cwd": os.getcwd()}).encode(), 200
            elif time.monotonic() >= ready_at:
                body, status = b'{"status": "ready"}', 200
            else:
                body, status = b'{"status": "starting"}', 503
            self.send_response(status)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer((os.environ["WFA_HTTP_HOST"], int(os.environ["WFA_HTTP_PORT"])), Handler)
    print("stand-in: listening", flush=True)
    server.serve_forever()
    """
)


@pytest.fixture
def stand_in(tmp_path: Path) -> list[str]:
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)
    return [sys.executable, str(script)]


def _process(stand_in: list[str], tmp_path: Path, name: str = "stand-in", **env: str) -> ServiceProcess:
    return ServiceProcess(name, free_port(), tmp_path / "logs" / f"{name}.log", env=env, argv=stand_in)


def test_wait_ready_returns_once_readyz_answers_200(stand_in: list[str], tmp_path: Path) -> None:
    service = _process(stand_in, tmp_path, STAND_IN_READY_AFTER="0.5")
    try:
        service.start().wait_ready(timeout=20)

        assert service.readyz()[0] == 200
        assert "stand-in: listening" in service.log_text()
    finally:
        service.terminate()


def test_wait_ready_reports_an_exit_with_the_log_tail(stand_in: list[str], tmp_path: Path) -> None:
    service = _process(stand_in, tmp_path, STAND_IN_FAIL="no database")

    with pytest.raises(ServiceError, match="exited with code 3") as failure:
        service.start().wait_ready(timeout=20)

    assert "stand-in: cannot start: no database" in str(failure.value)


def test_wait_ready_times_out_with_the_last_readyz_answer(stand_in: list[str], tmp_path: Path) -> None:
    service = _process(stand_in, tmp_path, STAND_IN_READY_AFTER="600")
    try:
        with pytest.raises(ServiceError, match="not reached within") as failure:
            service.start().wait_ready(timeout=1)

        assert "503" in str(failure.value) and "starting" in str(failure.value)
    finally:
        service.terminate()


def test_service_gets_its_port_and_env_but_not_the_callers_wfa_variables(
    stand_in: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WFA_API_KEYS", "from-the-callers-shell")
    service = _process(stand_in, tmp_path, WFA_TOPIC_PREFIX="mine.")
    try:
        service.start().wait_ready(timeout=20)
        with urllib.request.urlopen(f"{service.url}/env", timeout=5) as response:
            seen = json.loads(response.read())

        assert seen["env"] == {
            "WFA_TOPIC_PREFIX": "mine.",
            "WFA_HTTP_PORT": str(service.port),
            "WFA_HTTP_HOST": "127.0.0.1",
        }
        assert Path(seen["cwd"]) == service.log_path.parent
    finally:
        service.terminate()


def test_terminate_sends_sigterm_and_returns_the_exit_code(stand_in: list[str], tmp_path: Path) -> None:
    service = _process(stand_in, tmp_path).start().wait_ready(timeout=20)

    code = service.terminate(timeout=10)

    assert code == -signal.SIGTERM
    assert not service.is_running()
    assert not port_open("127.0.0.1", service.port)


def test_kill_then_restart_serves_again_on_the_same_port(stand_in: list[str], tmp_path: Path) -> None:
    service = _process(stand_in, tmp_path).start().wait_ready(timeout=20)
    first_pid, port = service.pid, service.port
    try:
        assert service.kill() == -signal.SIGKILL
        with pytest.raises(ServiceError, match="killed by SIGKILL"):
            service.check_running()

        service.restart(timeout=20)

        assert service.pid != first_pid
        assert (service.port, service.readyz()[0]) == (port, 200)
    finally:
        service.terminate()


def test_stack_reports_the_process_that_died_and_stops_the_others(stand_in: list[str], tmp_path: Path) -> None:
    stack = ServiceStack(
        {
            WORKFLOWS: _process(stand_in, tmp_path, WORKFLOWS),
            SCHEDULER: _process(stand_in, tmp_path, SCHEDULER, STAND_IN_FAIL="scheduler broke"),
            RUNNER: _process(stand_in, tmp_path, RUNNER, STAND_IN_READY_AFTER="600"),
        }
    )

    with pytest.raises(ServiceError, match="scheduler-svc exited with code 3") as failure:
        stack.start(timeout=20)

    assert "scheduler broke" in str(failure.value)
    assert not any(process.is_running() for process in stack)


def test_stack_as_context_manager_starts_all_and_stops_all(stand_in: list[str], tmp_path: Path) -> None:
    stack = ServiceStack({name: _process(stand_in, tmp_path, name) for name in (WORKFLOWS, SCHEDULER, RUNNER)})

    with stack:
        assert [process.readyz()[0] for process in stack] == [200, 200, 200]
        assert stack.api_url == stack.workflows.url

    assert not any(process.is_running() for process in stack)


def test_a_service_dies_with_the_process_that_started_it(stand_in: list[str], tmp_path: Path) -> None:
    # A parent that starts a service, prints its pid, and is then SIGKILLed as a stuck test run would be.
    parent_code = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from wfa_devstack import ServiceProcess, free_port
        service = ServiceProcess("orphan", free_port(), Path({str(tmp_path / "orphan.log")!r}), argv={stand_in!r})
        service.start().wait_ready(timeout=20)
        print(service.pid, flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        service_pid = int(parent.stdout.readline())
        assert is_alive(service_pid)

        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)

        wait_until(lambda: not is_alive(service_pid), 10, what="the orphaned service gone")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)


def test_stack_with_two_schedulers_runs_a_second_scheduler_process_of_its_own(tmp_path: Path) -> None:
    stack = service_stack("mongodb://127.0.0.1:1/db", "127.0.0.1:2", "p.", log_dir=tmp_path, schedulers=2)

    assert list(stack.processes) == [WORKFLOWS, SCHEDULER, f"{SCHEDULER}-2", RUNNER]
    assert [process.script for process in stack.schedulers] == [SCHEDULER, SCHEDULER]
    assert stack.schedulers[0] is stack.scheduler
    assert len({process.port for process in stack}) == 4
    assert stack.schedulers[1].log_path == tmp_path / f"{SCHEDULER}-2.log"
    assert stack.schedulers[1].env == stack.scheduler.env


def test_stack_with_two_runners_runs_a_second_runner_process_of_its_own(tmp_path: Path) -> None:
    stack = service_stack("mongodb://127.0.0.1:1/db", "127.0.0.1:2", "p.", log_dir=tmp_path, runners=2)

    assert list(stack.processes) == [WORKFLOWS, SCHEDULER, RUNNER, f"{RUNNER}-2"]
    assert [process.script for process in stack.runners] == [RUNNER, RUNNER]
    assert stack.runners[0] is stack.runner
    assert len({process.port for process in stack}) == 4
    assert stack.runners[1].log_path == tmp_path / f"{RUNNER}-2.log"
    assert stack.runners[1].env == stack.runner.env
