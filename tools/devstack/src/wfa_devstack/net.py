"""TCP helpers: pick a free port, tell whether a port answers, wait for it with a deadline."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

LOCALHOST = "127.0.0.1"


def free_port(host: str = LOCALHOST) -> int:
    """A port nobody listens on right now (the OS picks it; it may be taken again before it is used)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts a TCP connection on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(
    condition: Callable[[], bool],
    timeout: float,
    *,
    interval: float = 0.1,
    abort: Callable[[], str | None] | None = None,
    what: str = "condition",
) -> None:
    """Poll `condition` until it holds.

    Raises TimeoutError after `timeout` seconds, or RuntimeError as soon as `abort` returns a reason
    (a server process that exited, say): waiting any longer could not succeed.
    """
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if abort is not None and (reason := abort()) is not None:
            raise RuntimeError(f"gave up waiting for {what}: {reason}")
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not reached within {timeout:.0f}s")
        time.sleep(interval)


def wait_for_port(host: str, port: int, timeout: float = 30.0) -> None:
    """Return once host:port accepts TCP connections; TimeoutError after `timeout` seconds."""
    wait_until(lambda: port_open(host, port), timeout, what=f"{host}:{port} accepting connections")
