"""The three services as subprocesses, for end-to-end tests and benchmarks.

`ServiceProcess` runs one console script (`workflows-svc`, `scheduler-svc`, `runner-svc`) on a port of its own
with its output in a log file; `ServiceStack` runs all three against one MongoDB and one Kafka and is ready only
when each `/readyz` answers 200. Errors carry the tail of the log of the process that failed.

    with start_services(mongo_url, kafka_bootstrap, "test.abc.", log_dir=tmp) as stack:
        httpx.get(f"{stack.api_url}/workflows")
        stack.runner.kill()
        stack.runner.restart()

`service_stack(..., schedulers=2, runners=2)` runs more than one scheduler (or runner) process side by side, as
a deployment may.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self, TypedDict, Unpack

from wfa_devstack.net import LOCALHOST, free_port, port_open, wait_until
from wfa_devstack.process import spawn_detached

WORKFLOWS = "workflows-svc"
SCHEDULER = "scheduler-svc"
RUNNER = "runner-svc"
#: The console scripts of the contract, in start order.
SERVICE_SCRIPTS = (WORKFLOWS, SCHEDULER, RUNNER)

_READYZ_TIMEOUT_SECONDS = 3.0  # the services' own dependency checks give up after 2 s


class ServiceError(RuntimeError):
    """A service process exited, or did not become ready in time; the message ends with its log's last lines."""


def console_script(name: str) -> str:
    """The path of an installed console script: next to this interpreter (the venv), else on PATH."""
    path = Path(sys.executable).parent / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        raise ServiceError(f"{name} is not installed (run `make install`)")
    return found


def _stripped_environment() -> dict[str, str]:
    # A WFA_ variable exported in the caller's shell must not leak into a stack configured explicitly.
    return {key: value for key, value in os.environ.items() if not key.startswith("WFA_")}


class ServiceProcess:
    """One service as a subprocess in a process group of its own, its stdout and stderr appended to `log_path`.

    `argv` replaces the command line (default: the installed console script named `script`).
    The environment is the caller's without its `WFA_` variables, plus `env`, plus `WFA_HTTP_PORT=port` and
    `WFA_HTTP_HOST=host`. The working directory is the log's directory, so a `.env` file in the caller's
    directory is not read.

    With `die_with_parent` (the default; Linux only) the kernel kills the service when the thread that started
    it ends, so a killed test run leaves nothing behind: start services from a long-lived thread, such as the
    main one.
    """

    def __init__(
        self,
        script: str,
        port: int,
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        host: str = LOCALHOST,
        die_with_parent: bool = True,
        argv: Sequence[str] | None = None,
    ) -> None:
        self.script = script
        self.argv = None if argv is None else list(argv)
        self.port = port
        self.host = host
        self.log_path = log_path
        self.env = dict(env or {})
        self.die_with_parent = die_with_parent
        self.last_readyz: str = "(not asked yet)"
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def returncode(self) -> int | None:
        """The exit code of the last run once it has ended (negative: killed by that signal), else None."""
        return None if self._process is None else self._process.poll()

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> Self:
        """Launch the process without waiting for it to be ready (see `wait_ready`)."""
        if self.is_running():
            raise ServiceError(f"{self.script} is already running (pid {self.pid})")
        if port_open(self.host, self.port):
            raise ServiceError(f"{self.script}: {self.host}:{self.port} is already in use")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._log_offset = log.tell()
            stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
            log.write(f"--- {stamp} wfa-devstack: starting {self.script} on {self.url}\n".encode())
        env = {**_stripped_environment(), **self.env, "WFA_HTTP_PORT": str(self.port), "WFA_HTTP_HOST": self.host}
        self._process = spawn_detached(
            self.argv or [console_script(self.script)],
            self.log_path,
            env=env,
            cwd=self.log_path.parent,
            die_with_parent=self.die_with_parent,
        )
        self.last_readyz = "(not asked yet)"
        return self

    def readyz(self) -> tuple[int, str]:
        """One GET of /readyz: (status, body); status 0 when nothing answered."""
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=_READYZ_TIMEOUT_SECONDS) as response:
                return int(response.status), response.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read().decode(errors="replace")
        except (OSError, ValueError) as exc:
            return 0, f"no answer: {exc}"

    def is_ready(self) -> bool:
        status, body = self.readyz()
        self.last_readyz = f"{status} {body}" if status else body
        return status == 200

    def exit_reason(self) -> str | None:
        """Why the process is not running (None while it runs)."""
        if self._process is None:
            return "not started"
        code = self._process.poll()
        if code is None:
            return None
        if code < 0:
            return f"killed by {signal.Signals(-code).name}"
        return f"exited with code {code}"

    def wait_ready(self, timeout: float = 60.0) -> Self:
        """Return once /readyz answers 200. ServiceError if the process exits first or `timeout` passes; the
        process is left as it is (the log says what happened)."""
        try:
            wait_until(self.is_ready, timeout, interval=0.2, abort=self.exit_reason, what=f"{self.script} ready")
        except (TimeoutError, RuntimeError) as exc:
            raise self.error(f"{exc}; last /readyz: {self.last_readyz}") from exc
        return self

    def check_running(self) -> None:
        """ServiceError, with the log's tail, if the process has ended."""
        reason = self.exit_reason()
        if reason is not None:
            raise self.error(f"{self.script} (pid {self.pid}) {reason}")

    def terminate(self, timeout: float = 30.0) -> int | None:
        """SIGTERM to the process group; SIGKILL if it is still running after `timeout`. Returns the exit code
        (None if it was never started). Harmless when the process has already ended."""
        self.send_signal(signal.SIGTERM)
        return self.wait_stopped(timeout)

    def kill(self) -> int | None:
        """SIGKILL to the process group, as a crash would; returns the exit code."""
        self.send_signal(signal.SIGKILL)
        return self.wait_stopped(10.0)

    def restart(self, timeout: float = 60.0, *, stop_timeout: float = 30.0) -> Self:
        """Terminate (if running), start again on the same port, and wait until ready."""
        self.terminate(stop_timeout)
        wait_until(lambda: not port_open(self.host, self.port), 10.0, what=f"{self.host}:{self.port} released")
        return self.start().wait_ready(timeout)

    def send_signal(self, sig: signal.Signals) -> None:
        """`sig` to the whole process group, while its leader runs (never to a group whose id may be reused)."""
        if self._process is not None and self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, sig)

    def wait_stopped(self, timeout: float) -> int | None:
        """Wait for the process to end, SIGKILL it after `timeout`; the exit code. Sends no SIGTERM of its own:
        uvicorn takes a second one as "exit without draining"."""
        process = self._process
        if process is None:
            return None
        try:
            return process.wait(max(timeout, 0.0))
        except subprocess.TimeoutExpired:
            self.send_signal(signal.SIGKILL)
            return process.wait(10.0)

    def log_text(self, *, since_start: bool = True) -> str:
        """The log of the current run (or, with `since_start=False`, of every run)."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._log_offset if since_start else 0)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:]) or "(empty log)"

    def error(self, message: str, lines: int = 40) -> ServiceError:
        return ServiceError(f"{message}\n--- last lines of {self.log_path} ---\n{self.log_tail(lines)}")

    def __repr__(self) -> str:
        return f"ServiceProcess({self.script!r}, port={self.port}, pid={self.pid})"


class ServiceStack:
    """The three services as one unit: `start()` launches them all and returns once every one is ready;
    `stop()` terminates them all. As a context manager it starts (unless started) and stops."""

    def __init__(self, processes: Mapping[str, ServiceProcess]) -> None:
        missing = set(SERVICE_SCRIPTS) - set(processes)
        if missing:
            raise ValueError(f"missing services: {sorted(missing)}")
        self.processes = dict(processes)

    @property
    def workflows(self) -> ServiceProcess:
        return self.processes[WORKFLOWS]

    @property
    def scheduler(self) -> ServiceProcess:
        return self.processes[SCHEDULER]

    @property
    def schedulers(self) -> list[ServiceProcess]:
        """Every scheduler process, the first one (`scheduler`) first."""
        return [process for process in self if process.script == SCHEDULER]

    @property
    def runner(self) -> ServiceProcess:
        return self.processes[RUNNER]

    @property
    def runners(self) -> list[ServiceProcess]:
        """Every runner process, the first one (`runner`) first."""
        return [process for process in self if process.script == RUNNER]

    @property
    def api_url(self) -> str:
        """The REST API's base URL (the workflows service)."""
        return self.workflows.url

    def __iter__(self) -> Iterator[ServiceProcess]:
        return iter(self.processes.values())

    def start(self, timeout: float = 90.0) -> Self:
        """Launch every process, then wait until all are ready, all within `timeout`. On failure every process
        is stopped and the ServiceError names the one that failed, with its log's tail."""
        try:
            for process in self:
                if not process.is_running():
                    process.start()
            self.wait_ready(timeout)
        except BaseException:
            self.stop(timeout=10.0)
            raise
        return self

    def wait_ready(self, timeout: float = 90.0) -> Self:
        """Return once every process's /readyz answers 200; ServiceError as soon as one exits, or at `timeout`."""
        pending = list(self)

        def all_ready() -> bool:
            pending[:] = [process for process in pending if not process.is_ready()]
            return not pending

        def exited() -> str | None:
            for process in self:
                if (reason := process.exit_reason()) is not None:
                    return f"{process.script} {reason}"
            return None

        try:
            wait_until(all_ready, timeout, interval=0.2, abort=exited, what="the services ready")
        except RuntimeError as exc:
            culprit = next(process for process in self if process.exit_reason() is not None)
            raise culprit.error(str(exc)) from exc
        except TimeoutError as exc:
            culprit = pending[0]
            raise culprit.error(
                f"{culprit.script} not ready within {timeout:.0f}s; last /readyz: {culprit.last_readyz}"
            ) from exc
        return self

    def check_running(self) -> None:
        """ServiceError, with that process's log tail, if any service has ended."""
        for process in self:
            process.check_running()

    def stop(self, timeout: float = 30.0) -> dict[str, int | None]:
        """SIGTERM to every process at once, SIGKILL to those still running after `timeout`; the exit codes."""
        for process in self:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        return {process.script: process.wait_stopped(deadline - time.monotonic()) for process in self}

    def logs(self, lines: int = 40) -> str:
        """The tail of every log, for a failure report."""
        return "\n".join(f"--- {p.script} ({p.log_path}) ---\n{p.log_tail(lines)}" for p in self)

    def __enter__(self) -> Self:
        if not all(process.is_running() for process in self):
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def service_stack(
    mongo_url: str,
    kafka_bootstrap: str,
    topic_prefix: str,
    *,
    workflows_port: int | None = None,
    scheduler_port: int | None = None,
    runner_port: int | None = None,
    extra_env: Mapping[str, str] | None = None,
    log_dir: Path | None = None,
    host: str = LOCALHOST,
    die_with_parent: bool = True,
    schedulers: int = 1,
    runners: int = 1,
) -> ServiceStack:
    """The three services configured for one MongoDB database, one Kafka and one topic prefix, not started.

    Ports default to free ones; `extra_env` adds or overrides `WFA_` variables for all three; logs go to
    `log_dir/<name>.log` (default: a new temporary directory). `schedulers` > 1 adds scheduler processes, named
    `scheduler-svc-2`, `scheduler-svc-3` ... in `processes`, each on a free port; `runners` > 1 likewise
    (`runner-svc-2` ...), all in the one consumer group.
    """
    if schedulers < 1 or runners < 1:
        raise ValueError(f"at least one scheduler and one runner, not {schedulers} and {runners}")
    if log_dir is None:
        log_dir = Path(tempfile.mkdtemp(prefix="wfa-services-"))
    env = {
        "WFA_MONGO_URL": mongo_url,
        "WFA_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "WFA_TOPIC_PREFIX": topic_prefix,
        **(extra_env or {}),
    }
    # (name, script, port), in start order.
    members = [
        (WORKFLOWS, WORKFLOWS, workflows_port),
        (SCHEDULER, SCHEDULER, scheduler_port),
        *((f"{SCHEDULER}-{n}", SCHEDULER, None) for n in range(2, schedulers + 1)),
        (RUNNER, RUNNER, runner_port),
        *((f"{RUNNER}-{n}", RUNNER, None) for n in range(2, runners + 1)),
    ]
    return ServiceStack(
        {
            name: ServiceProcess(
                script,
                port if port is not None else free_port(host),
                log_dir / f"{name}.log",
                env=env,
                host=host,
                die_with_parent=die_with_parent,
            )
            for name, script, port in members
        }
    )


class StackOptions(TypedDict, total=False):
    """The keyword arguments of `service_stack`, so that `start_services` takes the same ones."""

    workflows_port: int | None
    scheduler_port: int | None
    runner_port: int | None
    extra_env: Mapping[str, str] | None
    log_dir: Path | None
    host: str
    die_with_parent: bool
    schedulers: int
    runners: int


def start_services(
    mongo_url: str,
    kafka_bootstrap: str,
    topic_prefix: str,
    *,
    timeout: float = 90.0,
    **options: Unpack[StackOptions],
) -> ServiceStack:
    """`service_stack(...)` started and ready within `timeout` seconds; use it as a context manager to stop it."""
    return service_stack(mongo_url, kafka_bootstrap, topic_prefix, **options).start(timeout)
