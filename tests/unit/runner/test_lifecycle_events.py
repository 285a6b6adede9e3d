"""Lifecycle events: sent in order per execution, without making the execution wait for them."""

from __future__ import annotations

import asyncio

from tests.unit.runner.fakes import START, eventually

from wfa.events import LifecycleEvent, LifecycleEventType
from wfa_runner.lifecycle_events import LifecycleEvents


async def let_tasks_run() -> None:
    """Give every ready task a few turns of the event loop (no time passes)."""
    for _ in range(20):
        await asyncio.sleep(0)


def event(event_type: LifecycleEventType, execution_id: str = "e1") -> LifecycleEvent:
    return LifecycleEvent(
        type=event_type, execution_id=execution_id, workflow_id="w", attempt=1, status="running", occurred_at=START
    )


class GatedPublisher:
    """Each publish waits until the test opens its gate, as a slow broker acknowledgement would."""

    def __init__(self) -> None:
        self.gates: dict[tuple[str, str], asyncio.Event] = {}
        self.sent: list[tuple[str, str]] = []
        self.started: list[tuple[str, str]] = []

    def gate(self, execution_id: str, event_type: LifecycleEventType) -> asyncio.Event:
        return self.gates.setdefault((execution_id, event_type.value), asyncio.Event())

    async def publish_event(self, event: LifecycleEvent) -> None:
        key = (event.execution_id, event.type.value)
        self.started.append(key)
        await self.gates.setdefault(key, asyncio.Event()).wait()
        self.sent.append(key)


async def test_emit_returns_before_the_event_is_acknowledged() -> None:
    publisher = GatedPublisher()
    events = LifecycleEvents(publisher)

    events.emit(event(LifecycleEventType.EXECUTION_STARTED))

    assert publisher.sent == []
    publisher.gate("e1", LifecycleEventType.EXECUTION_STARTED).set()
    assert await events.drain(5.0)
    assert publisher.sent == [("e1", "execution.started")]


async def test_an_executions_events_are_sent_in_order() -> None:
    publisher = GatedPublisher()
    events = LifecycleEvents(publisher)
    order = [
        LifecycleEventType.EXECUTION_STARTED,
        LifecycleEventType.ACTION_SUCCEEDED,
        LifecycleEventType.EXECUTION_SUCCEEDED,
    ]
    for event_type in order:
        events.emit(event(event_type))
    # The last ones are acknowledged first if sent: they must not even start before their predecessors.
    publisher.gate("e1", order[2]).set()
    publisher.gate("e1", order[1]).set()
    await let_tasks_run()
    assert publisher.started == [("e1", "execution.started")]

    publisher.gate("e1", order[0]).set()

    assert await events.drain(5.0)
    assert publisher.sent == [("e1", t.value) for t in order]


async def test_executions_do_not_wait_for_each_others_events() -> None:
    publisher = GatedPublisher()
    events = LifecycleEvents(publisher)
    events.emit(event(LifecycleEventType.EXECUTION_STARTED, "slow"))
    events.emit(event(LifecycleEventType.EXECUTION_STARTED, "fast"))

    publisher.gate("fast", LifecycleEventType.EXECUTION_STARTED).set()

    await eventually(lambda: publisher.sent == [("fast", "execution.started")], "the fast execution's event")
    publisher.gate("slow", LifecycleEventType.EXECUTION_STARTED).set()
    assert await events.drain(5.0)


async def test_a_publisher_that_raises_does_not_break_the_chain() -> None:
    sent: list[str] = []

    class Flaky:
        async def publish_event(self, event: LifecycleEvent) -> None:
            if event.type is LifecycleEventType.EXECUTION_STARTED:
                raise RuntimeError("broken publisher")
            sent.append(event.type.value)

    events = LifecycleEvents(Flaky())
    events.emit(event(LifecycleEventType.EXECUTION_STARTED))
    events.emit(event(LifecycleEventType.EXECUTION_SUCCEEDED))

    assert await events.drain(5.0)
    assert sent == ["execution.succeeded"]


async def test_events_beyond_the_pending_limit_are_dropped() -> None:
    publisher = GatedPublisher()
    events = LifecycleEvents(publisher, max_pending=2)

    for execution_id in ("a", "b", "c"):
        events.emit(event(LifecycleEventType.EXECUTION_STARTED, execution_id))
    for gate in ("a", "b", "c"):
        publisher.gate(gate, LifecycleEventType.EXECUTION_STARTED).set()

    assert await events.drain(5.0)
    assert sorted(publisher.sent) == [("a", "execution.started"), ("b", "execution.started")]
