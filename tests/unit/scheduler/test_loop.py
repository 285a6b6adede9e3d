import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable

from prometheus_client import CollectorRegistry
from tests.unit.scheduler.fakes import sample

from wfa.domain.errors import DependencyUnavailable
from wfa.until_done import Backoff
from wfa_scheduler.changes import ChangesUnsupported, Wake, Wakeup, follow_changes
from wfa_scheduler.loop import Loop
from wfa_scheduler.metrics import SchedulerMetrics

DEADLINE = 5.0


async def _eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {DEADLINE}s: {what}")
        await asyncio.sleep(0.005)


class ScriptedStep:
    """A step that raises or returns what it is told, in order, then returns `rest` forever."""

    def __init__(self, script: list[float | Exception], rest: float = math.inf) -> None:
        self._script = list(script)
        self._rest = rest
        self.calls: list[float] = []

    async def __call__(self) -> float:
        self.calls.append(time.monotonic())
        if not self._script:
            return self._rest
        outcome = self._script.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def _metrics() -> SchedulerMetrics:
    return SchedulerMetrics(CollectorRegistry())


async def test_loop_survives_outages_and_backs_off_between_failed_passes() -> None:
    unavailable = DependencyUnavailable("mongodb", "down")
    step = ScriptedStep([unavailable, unavailable, RuntimeError("bug"), 0.0])
    metrics = _metrics()
    loop = Loop("t", step, max_sleep=60, metrics=metrics, backoff=Backoff(initial=0.02, cap=0.05))
    task = asyncio.create_task(loop.run())

    await _eventually(lambda: len(step.calls) >= 5, "a step after the failures")
    loop.stop()
    await asyncio.wait_for(task, DEADLINE)

    gaps = [b - a for a, b in zip(step.calls, step.calls[1:], strict=False)]
    # Jittered: each wait is at least half its nominal value.
    assert all(gap >= delay / 2 - 0.005 for gap, delay in zip(gaps, (0.02, 0.04, 0.05), strict=False))
    assert sample(metrics.loop_failures, loop="t") == 3


async def test_loop_sleeps_no_longer_than_its_cap() -> None:
    step = ScriptedStep([], rest=math.inf)
    loop = Loop("t", step, max_sleep=0.05, metrics=_metrics())
    task = asyncio.create_task(loop.run())

    await _eventually(lambda: len(step.calls) >= 3, "three steps")
    loop.stop()
    await asyncio.wait_for(task, DEADLINE)

    assert step.calls[2] - step.calls[0] < 0.5


async def test_loop_wakes_early_when_told() -> None:
    step = ScriptedStep([], rest=60.0)
    wake = asyncio.Event()
    loop = Loop("t", step, max_sleep=60, metrics=_metrics(), wake=wake)
    task = asyncio.create_task(loop.run())
    await _eventually(lambda: len(step.calls) == 1, "the first step")

    woken_at = time.monotonic()
    wake.set()
    await _eventually(lambda: len(step.calls) == 2, "a step after the wake-up")
    loop.stop()
    await asyncio.wait_for(task, DEADLINE)

    assert step.calls[1] - woken_at < 0.5


async def test_stop_ends_a_sleeping_loop_at_once() -> None:
    step = ScriptedStep([], rest=60.0)
    loop = Loop("t", step, max_sleep=60, metrics=_metrics())
    task = asyncio.create_task(loop.run())
    await _eventually(lambda: len(step.calls) == 1, "the first step")

    loop.stop()

    await asyncio.wait_for(task, 1.0)
    assert len(step.calls) == 1


class FakeChanges:
    """A change feed scripted per opening: a number of changes then a failure, or a plain end."""

    def __init__(self, openings: list[tuple[int, Exception | None]]) -> None:
        self._openings = list(openings)
        self.opened = 0

    async def watch(self) -> AsyncIterator[Wake]:
        self.opened += 1
        if not self._openings:
            await asyncio.Event().wait()  # stays open with no changes
        changes, failure = self._openings.pop(0)
        for _ in range(changes):
            yield Wake.ALL
        if failure is not None:
            raise failure


async def test_change_feed_wakes_every_subscriber() -> None:
    wakeup = Wakeup()
    firing, retries = wakeup.subscribe(Wake.FIRING), wakeup.subscribe(Wake.RETRIES)
    feed = asyncio.create_task(follow_changes(FakeChanges([(1, None)]), wakeup, retry_after=60))

    await _eventually(lambda: firing.is_set() and retries.is_set(), "both subscribers woken")
    feed.cancel()


async def test_broken_change_feed_is_reopened_after_a_pause() -> None:
    changes = FakeChanges([(0, ConnectionError("reset")), (0, ConnectionError("reset")), (1, None)])
    wakeup = Wakeup()
    woken = wakeup.subscribe(Wake.FIRING)
    feed = asyncio.create_task(follow_changes(changes, wakeup, retry_after=0.01))

    await _eventually(woken.is_set, "a change after two failures")
    assert changes.opened == 3
    feed.cancel()


async def test_unsupported_change_feed_is_given_up() -> None:
    changes = FakeChanges([(0, ChangesUnsupported("no change streams on a standalone server"))])

    await asyncio.wait_for(follow_changes(changes, Wakeup(), retry_after=0.01), DEADLINE)

    assert changes.opened == 1


def test_a_change_wakes_only_the_loops_it_concerns() -> None:
    wakeup = Wakeup()
    firing, retries = wakeup.subscribe(Wake.FIRING), wakeup.subscribe(Wake.RETRIES)

    wakeup.notify(Wake.RETRIES)

    assert (firing.is_set(), retries.is_set()) == (False, True)


async def test_stop_ends_a_loop_backing_off_after_failures_at_once() -> None:
    step = ScriptedStep([DependencyUnavailable("mongodb", "down")] * 100)
    metrics = _metrics()
    loop = Loop("t", step, max_sleep=60, metrics=metrics, backoff=Backoff(initial=60.0, cap=60.0))
    task = asyncio.create_task(loop.run())
    await _eventually(lambda: len(step.calls) == 1, "the first step")

    loop.stop()

    await asyncio.wait_for(task, 1.0)
    assert len(step.calls) == 1
    assert sample(metrics.loop_failures, loop="t") == 1


async def test_a_step_that_fails_while_the_loop_stops_is_counted() -> None:
    loop: Loop | None = None

    async def fails_as_the_loop_stops() -> float:
        assert loop is not None
        loop.stop()
        raise DependencyUnavailable("mongodb", "down")

    metrics = _metrics()
    loop = Loop("t", fails_as_the_loop_stops, max_sleep=60, metrics=metrics)

    await asyncio.wait_for(loop.run(), 1.0)

    assert sample(metrics.loop_failures, loop="t") == 1
