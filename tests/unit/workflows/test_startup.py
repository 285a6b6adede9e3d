"""Start-up preparation (indexes, topics): retried until it succeeds, without holding the process back for long."""

from __future__ import annotations

import asyncio
import time

import pytest

from wfa.domain.errors import DependencyUnavailable
from wfa_workflows import startup


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(startup, "FIRST_RETRY_SECONDS", 0.01)
    monkeypatch.setattr(startup, "MAX_RETRY_SECONDS", 0.02)
    monkeypatch.setattr(startup, "FIRST_ATTEMPT_WAIT_SECONDS", 0.2)


class FlakyPrepare:
    def __init__(self, failures: int | None) -> None:
        self.failures = failures  # None: never succeeds
        self.calls = 0
        self.called = asyncio.Event()

    async def __call__(self) -> None:
        self.calls += 1
        self.called.set()
        if self.failures is None or self.calls <= self.failures:
            raise DependencyUnavailable("kafka", "down")


async def test_preparation_is_retried_until_it_succeeds() -> None:
    prepare = FlakyPrepare(failures=3)

    await asyncio.wait_for(startup.prepare_until_done(prepare), timeout=5)

    assert prepare.calls == 4


async def test_serving_waits_for_a_quick_preparation() -> None:
    prepare = FlakyPrepare(failures=1)

    async with startup.preparing(prepare):
        assert prepare.calls == 2


async def test_serving_starts_while_a_dependency_stays_down_and_retries_go_on() -> None:
    prepare = FlakyPrepare(failures=None)
    started = time.monotonic()

    async with startup.preparing(prepare):
        entered_after = time.monotonic() - started
        calls_at_entry = prepare.calls
        prepare.called.clear()
        await asyncio.wait_for(prepare.called.wait(), timeout=5)

    assert entered_after < 2
    assert prepare.calls > calls_at_entry
    calls_after_exit = prepare.calls
    await asyncio.sleep(0.1)  # several retry periods: a retry loop left running would have called again
    assert prepare.calls == calls_after_exit
