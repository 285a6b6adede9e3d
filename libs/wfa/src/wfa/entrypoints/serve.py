"""Serving a process: uvicorn runs the ASGI app; the app's lifespan starts and stops the process's work.

SIGINT and SIGTERM are handled by uvicorn: it stops accepting connections, then runs the lifespan shutdown,
where each service stops taking new work and lets work in flight finish within its grace period.
"""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any

import uvicorn

from wfa.settings import Settings


def serve(app: Any, settings: Settings) -> None:
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,  # our logging configuration (wfa.observability.logging) applies
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
    )
    # uvicorn handles SIGINT and SIGTERM (the lifespan shutdown drains the work in flight), then restores the
    # handlers it found and raises the signal again, so the process would end "killed by SIGTERM" (exit 143), or
    # with a KeyboardInterrupt traceback for the Ctrl-C of `make up`, after a clean drain. With these as the
    # handlers it found, a drained process exits 0, as an orchestrator (and a person at a terminal) expects.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, _exit_cleanly)
    uvicorn.Server(config).run()


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)
