"""What only the MongoDB implementation has to show: its failure mode, its indexes, its stored types and its cost
in round trips. The behaviour it shares with the in-memory repositories is in the other modules of this suite."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from tests.contract.builders import T0, ms, pending, queued, running, seconds, stored, workflow

from wfa.adapters.mongo import DatabaseClock, MongoStore
from wfa.adapters.mongo.metrics import COMMANDS
from wfa.domain.errors import DependencyUnavailable
from wfa.domain.execution import ExecutionPlan, ExecutionStatus
from wfa.ports.repositories import ExecutionFilter, LockPosition
from wfa_devstack import free_port

LEASE = seconds(30)


def commands_sent(command: str | None = None) -> float:
    """What `wfa_mongodb_commands_total` says this process has sent so far (of one command, or of all)."""
    return sum(
        sample.value
        for metric in COMMANDS.collect()
        for sample in metric.samples
        if sample.name == "wfa_mongodb_commands_total" and command in (None, sample.labels["command"])
    )


async def test_ping_fails_fast_with_dependency_unavailable_when_nothing_listens() -> None:
    store = MongoStore.from_url(f"mongodb://127.0.0.1:{free_port()}/wfa", timeout_ms=300)
    started = time.monotonic()
    try:
        with pytest.raises(DependencyUnavailable) as raised:
            await store.ping()
    finally:
        await store.close()
    assert raised.value.dependency == "mongodb"
    assert time.monotonic() - started < 5


async def test_a_repository_call_fails_with_dependency_unavailable_when_nothing_listens() -> None:
    store = MongoStore.from_url(f"mongodb://127.0.0.1:{free_port()}/wfa", timeout_ms=300)
    try:
        with pytest.raises(DependencyUnavailable):
            await store.workflows.get("wf")
        with pytest.raises(DependencyUnavailable):
            await store.executions.claim_retry("ex", now=T0)
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("url", "database"),
    [("mongodb://127.0.0.1:1", "wfa"), ("mongodb://127.0.0.1:1/", "wfa"), ("mongodb://127.0.0.1:1/other?w=1", "other")],
)
async def test_the_database_is_the_one_the_url_names(url: str, database: str) -> None:
    store = MongoStore.from_url(url, timeout_ms=300)
    try:
        assert store.database_name == database
    finally:
        await store.close()


@pytest.mark.integration
async def test_ping_succeeds_while_the_server_answers(store: MongoStore) -> None:
    await store.ping()


@pytest.mark.integration
async def test_the_clock_following_a_server_on_the_same_machine_is_off_by_less_than_a_second(
    store: MongoStore,
) -> None:
    clock = DatabaseClock(store.server_time)

    offset = await clock.sync()

    assert (await store.server_time()).tzinfo is not None
    assert abs(offset) < 1
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=1)


@pytest.mark.integration
async def test_ensure_indexes_creates_the_query_indexes_and_can_run_again(store: MongoStore) -> None:
    await store.ensure_indexes()

    workflow_indexes = await store.workflows_collection.index_information()
    execution_indexes = await store.executions_collection.index_information()
    assert {"schedule", "locks"} <= set(workflow_indexes)
    assert {
        "workflow_newest",
        "workflow_status_newest",
        "idempotency_key",
        "retries",
        "queued",
        "leases",
        "finished",
    } <= set(execution_indexes)


@pytest.mark.integration
async def test_queried_and_sorted_fields_are_stored_as_dates(store: MongoStore) -> None:
    wf = workflow("wf", next_run_at=T0 + seconds(10))
    await store.workflows.add(wf)
    await store.workflows.try_acquire_trigger_lock("wf", execution_id="ex", now=T0)
    await pending(store.executions, wf, "ex", now=T0)
    await running(store.executions, wf, "ex-running", now=T0)

    workflow_document = await store.workflows_collection.find_one({"_id": "wf"})
    pending_document = await store.executions_collection.find_one({"_id": "ex"})
    running_document = await store.executions_collection.find_one({"_id": "ex-running"})

    assert workflow_document is not None and pending_document is not None and running_document is not None
    trigger = workflow_document["trigger"]
    for value in (
        trigger["nextRunAt"],
        trigger["lockedAt"],
        workflow_document["createdAt"],
        pending_document["createdAt"],
        pending_document["nextRetryAt"],
        pending_document["dispatchedAt"],
        running_document["leaseUntil"],
    ):
        assert isinstance(value, datetime)
    assert trigger["interval"] == "10s"


@pytest.mark.integration
async def test_a_deleted_workflow_stays_as_a_tombstone(store: MongoStore) -> None:
    await store.workflows.add(workflow("wf"))
    await store.workflows.delete("wf", now=T0)

    tombstone = await store.workflows_collection.find_one({"_id": "wf"})

    assert tombstone is not None
    assert tombstone["deleted"] is True


@pytest.mark.integration
async def test_every_command_is_counted_by_name(store: MongoStore) -> None:
    before = commands_sent("find")
    await store.workflows.ever_existed("wf")
    assert commands_sent("find") == before + 1


@pytest.mark.integration
def commands_by_name() -> dict[str, float]:
    return {
        sample.labels["command"]: sample.value
        for metric in COMMANDS.collect()
        for sample in metric.samples
        if sample.name == "wfa_mongodb_commands_total"
    }


# The round trips of each method when it succeeds. No findAndModify anywhere: SecantusDB answers it by scanning the
# whole collection, so its cost would grow with stored history; a conditional update by _id, and a read by _id
# where the caller needs the document, cost the same at any size (and on MongoDB, both are served by _id).
_WRITE_THEN_READ = ["update", "find"]
_ROUND_TRIPS: dict[str, list[str]] = {
    "workflows.add": ["update"],
    "workflows.claim_schedule_slot": _WRITE_THEN_READ,
    "workflows.try_acquire_trigger_lock": _WRITE_THEN_READ,
    "workflows.replace_definition": _WRITE_THEN_READ,
    "workflows.set_enabled": _WRITE_THEN_READ,
    "workflows.mark_trigger_pending": ["update"],
    "workflows.mark_trigger_busy": ["update"],
    "workflows.release_trigger_lock": ["update"],
    # An execution's end: one write, whatever it counts (a second and a read only when it pauses the workflow).
    "workflows.conclude_trigger_lock": ["update"],
    "workflows.delete": ["update"],
    "executions.add": ["insert"],
    "executions.claim_retry": _WRITE_THEN_READ,
    "executions.mark_dispatched": ["update"],
    "executions.claim_for_run": _WRITE_THEN_READ,
    "executions.renew_lease": ["update"],
    "executions.save_progress": ["update"],
    "executions.cancel": _WRITE_THEN_READ,
    # Which of them refer to large outputs stored beside them (none here: no delete of those).
    "executions.remove_finished": ["find", "delete"],
}


async def test_every_repository_method_takes_its_round_trips_at_a_cost_independent_of_history(
    store: MongoStore,
) -> None:
    workflows, executions = store.workflows, store.executions
    wf = workflow("wf", next_run_at=T0)
    later = T0 + LEASE + LEASE
    await stored(executions, wf, "done")
    await executions.cancel("done", now=T0)
    waiting = await pending(executions, wf, "waiting", now=T0)
    assert waiting.next_retry_at is not None
    retry_at = waiting.next_retry_at
    await running(executions, wf, "to-cancel", owner="r", now=T0)
    fresh = queued(wf, "ex")
    progress = fresh.model_copy(update={"status": ExecutionStatus.RUNNING, "started_at": T0})
    steps: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        ("workflows.add", lambda: workflows.add(wf)),
        ("workflows.get", lambda: workflows.get("wf")),
        ("workflows.ever_existed", lambda: workflows.ever_existed("wf")),
        ("workflows.list", lambda: workflows.list(limit=10, cursor=None)),
        ("workflows.due_for_schedule", lambda: workflows.due_for_schedule(now=T0, limit=10)),
        ("workflows.earliest_next_run_at", lambda: workflows.earliest_next_run_at()),
        (
            "workflows.claim_schedule_slot",
            lambda: workflows.claim_schedule_slot(
                "wf", slot=T0, next_run_at=T0 + seconds(10), execution_id="x", now=T0
            ),
        ),
        ("workflows.mark_trigger_pending", lambda: workflows.mark_trigger_pending("wf", execution_id="x")),
        ("workflows.mark_trigger_busy", lambda: workflows.mark_trigger_busy("wf", execution_id="x")),
        ("workflows.find_locked_since", lambda: workflows.find_locked_since(before=later, limit=10)),
        (
            "workflows.find_locked_since after a position",
            lambda: workflows.find_locked_since(before=later, after=LockPosition(T0 - ms(1), "wf"), limit=10),
        ),
        ("workflows.release_trigger_lock", lambda: workflows.release_trigger_lock("wf", execution_id="x")),
        (
            "workflows.try_acquire_trigger_lock",
            lambda: workflows.try_acquire_trigger_lock("wf", execution_id="y", now=T0),
        ),
        (
            "workflows.conclude_trigger_lock",
            lambda: workflows.conclude_trigger_lock(
                "wf", execution_id="y", status=ExecutionStatus.FAILED, pause_after_failures=3
            ),
        ),
        (
            "workflows.replace_definition",
            lambda: workflows.replace_definition(
                wf.model_copy(update={"version": 2}), expected_version=1, reschedule=True
            ),
        ),
        ("workflows.set_enabled", lambda: workflows.set_enabled("wf", enabled=False, next_run_at=None, now=T0)),
        ("workflows.delete", lambda: workflows.delete("wf", now=T0)),
        ("executions.add", lambda: executions.add(fresh, ExecutionPlan.of(wf), idempotency_key="k")),
        ("executions.get", lambda: executions.get("ex")),
        ("executions.find_by_idempotency_key", lambda: executions.find_by_idempotency_key("wf", "k", since=T0)),
        (
            "executions.newest_first",
            lambda: executions.newest_first(ExecutionFilter(workflow_id="wf"), limit=10, cursor=None),
        ),
        ("executions.earliest_retry_at", lambda: executions.earliest_retry_at()),
        ("executions.due_retries", lambda: executions.due_retries(now=retry_at, limit=10)),
        ("executions.claim_retry", lambda: executions.claim_retry("waiting", now=retry_at)),
        ("executions.mark_dispatched", lambda: executions.mark_dispatched("waiting", attempt=2, now=retry_at)),
        (
            "executions.claim_for_run",
            lambda: executions.claim_for_run("ex", attempt=1, owner="r", lease_until=later, now=T0),
        ),
        ("executions.renew_lease", lambda: executions.renew_lease("ex", owner="r", lease_until=later)),
        ("executions.save_progress", lambda: executions.save_progress(progress, owner="r", lease_until=later)),
        ("executions.find_unconsumed", lambda: executions.find_unconsumed(dispatched_before=later, limit=10)),
        ("executions.find_expired_leases", lambda: executions.find_expired_leases(now=later, limit=10)),
        ("executions.cancel", lambda: executions.cancel("to-cancel", now=T0 + ms(1))),
        ("executions.find_finished_before", lambda: executions.find_finished_before(before=later, limit=10)),
        ("executions.keep_last_boundary", lambda: executions.keep_last_boundary("wf", keep_last=2)),
        ("executions.remove_finished", lambda: executions.remove_finished(["done"], finished_before=later)),
    ]

    returns_nothing = {"workflows.add", "workflows.delete", "executions.add", "executions.mark_dispatched"}

    for name, step in steps:
        before = commands_by_name()
        result = await step()
        after = commands_by_name()
        sent = sorted(command for command, count in after.items() for _ in range(int(count - before.get(command, 0))))
        assert sent == sorted(_ROUND_TRIPS.get(name, ["find"])), name  # the rest are reads
        assert name in returns_nothing or result not in (None, False, []), f"{name} did not succeed: {result!r}"
