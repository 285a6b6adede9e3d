"""Run several long-lived commands in the foreground as one unit.

Each child gets its own process group, so a Ctrl-C in the terminal reaches only the supervisor, which
passes exactly one SIGINT on to every child (uvicorn treats a second one as "exit without draining").
When any child exits, or a signal arrives, the others are stopped: SIGINT/SIGTERM first, SIGKILL after
the grace period or on a second Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType

_POLL_SECONDS = 0.1


@dataclass(frozen=True)
class Command:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)


def _log(message: str) -> None:
    print(f"[supervisor] {message}", file=sys.stderr, flush=True)


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def supervise(commands: Sequence[Command], *, grace: float = 20.0) -> int:
    """Run `commands` until one exits or SIGINT/SIGTERM/SIGHUP arrives; return an exit code.

    The code is 128+signal when stopped by a signal, else the first child's non-zero code (1 if it
    exited with 0: a service is not supposed to end on its own).
    """
    received: list[signal.Signals] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        received.append(signal.Signals(signum))

    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, on_signal) for sig in handled}
    children: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for command in commands:
            children[command.name] = subprocess.Popen(
                list(command.argv),
                stdin=subprocess.DEVNULL,
                env={**os.environ, **command.env},
                process_group=0,
            )
            _log(f"started {command.name} (pid {children[command.name].pid}): {' '.join(command.argv)}")
        exit_code = _wait_for_first_event(children, received)
        _stop_all(children, received, grace)
        return exit_code
    finally:
        for process in children.values():
            if process.poll() is None:
                _signal_group(process, signal.SIGKILL)
                process.wait()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _wait_for_first_event(children: Mapping[str, subprocess.Popen[bytes]], received: list[signal.Signals]) -> int:
    while True:
        if received:
            _log(f"got {received[0].name}, stopping {', '.join(children)}")
            return 128 + received[0].value
        for name, process in children.items():
            code = process.poll()
            if code is not None:
                _log(f"{name} exited with code {code}; stopping the others")
                return code if code != 0 else 1
        time.sleep(_POLL_SECONDS)


def _stop_all(
    children: Mapping[str, subprocess.Popen[bytes]],
    received: list[signal.Signals],
    grace: float,
) -> None:
    first = received[0] if received else signal.SIGTERM
    polite = signal.SIGINT if first == signal.SIGINT else signal.SIGTERM
    signals_seen = len(received)
    for process in children.values():
        if process.poll() is None:
            _signal_group(process, polite)
    deadline = time.monotonic() + grace
    while any(process.poll() is None for process in children.values()):
        if time.monotonic() >= deadline or len(received) > signals_seen:
            reason = "grace period over" if time.monotonic() >= deadline else "second signal"
            for name, process in children.items():
                if process.poll() is None:
                    _log(f"{reason}: killing {name}")
                    _signal_group(process, signal.SIGKILL)
            break
        time.sleep(_POLL_SECONDS)
    for name, process in children.items():
        _log(f"{name} stopped (code {process.wait()})")
