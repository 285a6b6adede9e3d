"""Test-only fault injection: a process that kills itself at a chosen point of a trigger.

`WFA_TEST_CRASH_AT=after_lock` (or `after_store`) makes a workflows or scheduler process SIGKILL itself right
after it took a workflow's lock (or stored the execution) and before it published the request: the windows
that the execution-as-outbox design and the scheduler's repair sweep must cover, hit deterministically by the
e2e tests. Unset (the default, and the only sane production value) it does nothing. A real SIGKILL rather than
an exception: nothing after that point may run, no `finally`, no lock release, exactly as in a crash.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

import structlog

from wfa.service_layer.triggering import TriggerStep, no_checkpoint

log = structlog.get_logger(__name__)


def crash_at(step: TriggerStep | None) -> Callable[[TriggerStep], None]:
    """The checkpoint for `Triggering`: SIGKILL this process on reaching `step`; a no-op for None."""
    if step is None:
        return no_checkpoint
    log.warning("fault_injection.armed", crash_at=step.value, detail="test-only: this process kills itself there")

    def checkpoint(reached: TriggerStep) -> None:
        if reached is step:
            log.warning("fault_injection.crashing", crash_at=step.value)
            os.kill(os.getpid(), signal.SIGKILL)

    return checkpoint
