"""The runner process's work: prepare the stores, join the consumer group, run the worker until stopped.

Preparing (indexes, topics) and joining are retried in the background rather than failing the start: the
process serves /healthz and an honest /readyz while MongoDB or Kafka are down, and starts consuming as soon as
they are back. /readyz stays 503 until the group has assigned this member its partitions, so whoever waits for
readiness (tests, an orchestrator) never sends work before the runner listens.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Protocol

import structlog

from wfa.until_done import Backoff, log_failure, until_done
from wfa_runner.worker import Worker

log = structlog.get_logger(__name__)

Prepare = Callable[[], Awaitable[None]]
# After the worker's grace: committing, leaving the group. Bounded by the Kafka adapters' own timeouts.
_WIND_DOWN_SECONDS = 10.0


class GroupMember(Protocol):
    """The group consumer's life cycle (wfa.adapters.kafka.GroupConsumer)."""

    @property
    def assigned(self) -> bool: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class NotAssigned(Exception):
    pass


class RunnerService:
    def __init__(
        self,
        *,
        prepare: Prepare,
        consumer: GroupMember,
        worker: Worker,
        grace: float,
        retry_initial: float = 0.5,
        retry_cap: float = 10.0,
    ) -> None:
        self._prepare = prepare
        self._backoff = Backoff(initial=retry_initial, cap=retry_cap)
        self._consumer = consumer
        self._worker = worker
        self._grace = grace
        self._stopping = asyncio.Event()
        self._main: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._main = asyncio.create_task(self._run(), name="runner")

    async def check_assigned(self) -> None:
        """Readiness: raises until the consumer group has assigned partitions to this member."""
        if not self._consumer.assigned:
            raise NotAssigned("the consumer group has not assigned partitions to this runner yet")

    async def stop(self) -> None:
        """Stop fetching, let executions in flight finish within the grace period, commit, leave the group."""
        self._stopping.set()
        self._worker.stop()
        if self._main is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._main), self._grace + _WIND_DOWN_SECONDS)
            except TimeoutError:
                log.warning("runner.stop_timed_out")
                self._main.cancel()
                with suppress(asyncio.CancelledError):
                    await self._main
            except Exception:
                log.exception("runner.crashed")
        await self._consumer.stop()

    async def _run(self) -> None:
        if not await self._until_done("prepare", self._prepare):
            return
        if self._stopping.is_set() or not await self._until_done("join", self._consumer.start):
            return
        log.info("runner.consuming")
        await self._worker.run(grace=self._grace)

    async def _until_done(self, step: str, call: Prepare) -> bool:
        """Retry `call` with backoff while it fails; False when stopped first."""
        try:
            await until_done(
                call,
                retry_on=Exception,
                delays=self._backoff,
                give_up=self._stopping.is_set,
                on_retry=lambda error, wait: log_failure(
                    log, f"runner.{step}_failed", error, retry_in_s=round(wait, 3)
                ),
                sleep=self._pause,
            )
        except Exception:
            # Every error is retried, so one that comes out means it gave up: the runner is stopping.
            return False
        log.info(f"runner.{step}_done")
        return True

    async def _pause(self, seconds: float) -> None:
        with suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stopping.wait()
