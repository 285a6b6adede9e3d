"""The runner process's life cycle: prepare and join with retries, readiness on assignment, clean stop."""

from __future__ import annotations

import pytest
from tests.unit.runner.fakes import eventually
from tests.unit.runner.test_worker import FakeConsumer, FakeDeadLetters, FakeHandler, request_bytes

from wfa.domain.errors import DependencyUnavailable
from wfa_runner.service import NotAssigned, RunnerService
from wfa_runner.worker import Worker


class FakeMember(FakeConsumer):
    def __init__(self) -> None:
        super().__init__()
        self.assigned = False
        self.starts = 0
        self.failing_starts = 0
        self.stopped = False

    async def start(self) -> None:
        self.starts += 1
        if self.failing_starts:
            self.failing_starts -= 1
            raise DependencyUnavailable("kafka", "test broker is down")
        self.assigned = True

    async def stop(self) -> None:
        self.stopped = True
        self.assigned = False


class FlakyPrepare:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise DependencyUnavailable("mongodb", "test database is down")


def service(member: FakeMember, prepare: FlakyPrepare, handler: FakeHandler) -> RunnerService:
    worker = Worker(member, FakeDeadLetters(), handler, concurrency=2, commit_interval=0.0, poll_timeout_ms=5)
    return RunnerService(
        prepare=prepare, consumer=member, worker=worker, grace=1.0, retry_initial=0.001, retry_cap=0.001
    )


async def test_not_ready_until_the_group_has_assigned_partitions() -> None:
    member = FakeMember()
    runner = service(member, FlakyPrepare(failures=0), FakeHandler())

    with pytest.raises(NotAssigned):
        await runner.check_assigned()

    runner.start()
    try:
        await eventually(lambda: member.assigned, "joined")
        await runner.check_assigned()
    finally:
        await runner.stop()


async def test_preparing_and_joining_are_retried_while_dependencies_are_down() -> None:
    member = FakeMember()
    member.failing_starts = 2
    prepare = FlakyPrepare(failures=2)
    handler = FakeHandler()
    member.add(request_bytes("e1"))
    runner = service(member, prepare, handler)

    runner.start()
    try:
        await eventually(lambda: handler.done == ["e1"], "e1 run once everything is up")
    finally:
        await runner.stop()

    assert (prepare.calls, member.starts) == (3, 3)


async def test_stop_commits_and_leaves_the_group() -> None:
    member = FakeMember()
    handler = FakeHandler()
    member.add(request_bytes("e1"))
    runner = service(member, FlakyPrepare(failures=0), handler)
    runner.start()
    await eventually(lambda: handler.done == ["e1"], "e1 run")

    await runner.stop()

    assert member.stopped
    assert list(member.committed.values()) == [1]


async def test_stop_while_dependencies_are_down_returns_at_once() -> None:
    member = FakeMember()
    prepare = FlakyPrepare(failures=1_000)
    runner = service(member, prepare, FakeHandler())
    runner.start()
    await eventually(lambda: prepare.calls >= 1, "a first attempt")

    await runner.stop()

    assert member.starts == 0
