"""Detached server processes and the pidfiles that say which ones we started."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


def spawn_detached(
    argv: Sequence[str],
    log_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    die_with_parent: bool = False,
) -> subprocess.Popen[bytes]:
    """Start `argv` in its own session (so a Ctrl-C in the caller's terminal does not reach it),
    with stdout and stderr appended to `log_path` and no stdin.

    `die_with_parent` (Linux only; ignored elsewhere) has the kernel kill the process when the caller dies,
    so that a test run that is killed leaves no server behind.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=None if env is None else dict(env),
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_kill_when_parent_dies if die_with_parent and sys.platform == "linux" else None,
        )


def _kill_when_parent_dies() -> None:
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def is_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # The state letter follows the parenthesised command name, which may itself contain spaces.
    return stat.rpartition(")")[2].split()[0] != "Z"


def command_line(pid: int) -> list[str] | None:
    """The argv of a running process, or None where /proc is not available."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def terminate(pid: int, timeout: float = 10.0) -> None:
    """Stop the process group led by `pid`: SIGTERM, then SIGKILL once `timeout` has passed."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _reap(pid)
            if not is_alive(pid):
                return
            time.sleep(0.05)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


@dataclass(frozen=True)
class PidRecord:
    pid: int
    argv: list[str]


@dataclass(frozen=True)
class PidFile:
    """A JSON pidfile: the pid plus the argv it was started with, so that a recycled pid that now
    belongs to some other program is never signalled."""

    path: Path

    def write(self, pid: int, argv: Sequence[str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pid": pid, "argv": list(argv)}))
        tmp.replace(self.path)

    def read(self) -> PidRecord | None:
        try:
            data = json.loads(self.path.read_text())
            return PidRecord(pid=int(data["pid"]), argv=[str(arg) for arg in data["argv"]])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    def live_pid(self) -> int | None:
        """The recorded pid if that process still runs the recorded command, else None."""
        record = self.read()
        if record is None or not is_alive(record.pid):
            return None
        actual = command_line(record.pid)
        if actual is not None and actual != record.argv:
            return None
        return record.pid
