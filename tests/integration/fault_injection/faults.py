"""Faults at a chosen write: a crash of the process making it, or MongoDB failing it.

`FaultPlan` counts the writes made through every `Faulty` repository of one test (both aggregates together) and
strikes at the k-th. Reads pass untouched: a crash or an outage between two reads changes nothing a crash at
the write after them would not.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from wfa.domain.errors import DependencyUnavailable

# Every repository method that changes stored state, of either aggregate: the write boundaries.
WRITES = frozenset(
    {
        "add",
        "try_acquire_trigger_lock",
        "release_trigger_lock",
        "conclude_trigger_lock",
        "mark_trigger_pending",
        "mark_trigger_busy",
        "claim_schedule_slot",
        "replace_definition",
        "set_enabled",
        "delete",
        "claim_for_run",
        "save_progress",
        "renew_lease",
        "request_cancel",
        "cancel",
        "claim_retry",
        "mark_dispatched",
        "holders_looked_at",
        "join_queue",
        "start_waiting",
        "waiting_looked_at",
        "end_wait",
        "claim_idempotency_key",
        "reclaim_idempotency_key",
    }
)

# The component whose call is under way (the test sets it around each call), so a fault names who it hit.
component: contextvars.ContextVar[str] = contextvars.ContextVar("component", default="?")


class Crash(BaseException):
    """The process making the write died. A BaseException, so that no `except Exception` of the code under test
    runs anything after it, as nothing would run after a SIGKILL."""


class FaultMode(StrEnum):
    CRASH_BEFORE = "crash_before"  # the process dies just before the write: it never lands
    CRASH_AFTER = "crash_after"  # the write lands, then the process dies before seeing the reply
    OUTAGE = "outage"  # MongoDB is unreachable for this write and the next: DependencyUnavailable, nothing lands
    LOST_REPLY = "lost_reply"  # the write lands but its reply is lost: DependencyUnavailable all the same


OUTAGE_WRITES = 2  # the failing write and the one after it (the first retry of a caller that retries at once)


@dataclass(frozen=True)
class Write:
    number: int
    component: str
    method: str

    def __str__(self) -> str:
        return f"#{self.number} {self.component}.{self.method}"


@dataclass
class FaultPlan:
    """Strike at write `at` (1-based) in `mode`; `at=None` counts the writes and strikes nowhere."""

    mode: FaultMode | None = None
    at: int | None = None
    writes: list[Write] = field(default_factory=list)
    struck: Write | None = None

    @property
    def count(self) -> int:
        return len(self.writes)

    async def write(self, method: str, call: Any) -> Any:
        write = Write(self.count + 1, component.get(), method)
        self.writes.append(write)
        if self.at is None or self.mode is None or write.number < self.at:
            return await call
        if write.number == self.at:
            self.struck = write
            if self.mode in (FaultMode.CRASH_BEFORE, FaultMode.OUTAGE):
                call.close()
            else:
                await call
            if self.mode in (FaultMode.CRASH_BEFORE, FaultMode.CRASH_AFTER):
                raise Crash(str(write))
            raise DependencyUnavailable("mongodb", f"injected {self.mode.value} at {write}")
        if self.mode is FaultMode.OUTAGE and write.number < self.at + OUTAGE_WRITES:
            call.close()
            raise DependencyUnavailable("mongodb", f"injected outage (continued) at {write}")
        return await call


class Faulty:
    """A repository whose writes go through a FaultPlan; everything else is the wrapped repository's."""

    def __init__(self, inner: Any, plan: FaultPlan) -> None:
        self._inner = inner
        self._plan = plan

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)
        if name not in WRITES:
            return method

        async def write(*args: Any, **kwargs: Any) -> Any:
            return await self._plan.write(name, method(*args, **kwargs))

        return write
