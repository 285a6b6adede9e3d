"""A write that landed is a success, also when the driver sends it again.

PyMongo retries a write once when its connection fails after sending it (retryable writes): the first send may
have landed, its answer lost, and the second send then meets the state the first one left. Here every write of
the MongoDB repositories is sent twice, the first answer dropped, exactly as such a retry looks to our code: each
method must still answer as one send would have (not "duplicate", "lost", "not found" or "already finished").
The in-memory repositories have no driver and no such retry.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.contract.builders import T0, manual_workflow, ms, pending, running, seconds, stored, workflow

from wfa.adapters.mongo import MongoStore
from wfa.adapters.mongo.executions import MongoExecutionRepository
from wfa.adapters.mongo.workflows import MongoWorkflowRepository
from wfa.domain.execution import ExecutionPlan, ExecutionStatus
from wfa.domain.workflow import TriggerStatus
from wfa.ports.repositories import ExecutionFilter, SlotOutcome

pytestmark = pytest.mark.integration

LEASE = seconds(30)
WF = workflow("wf")
_WRITES = frozenset({"insert_one", "update_one", "replace_one"})


class SentTwice:
    """A collection whose every write is sent a second time at once; the caller gets the second answer."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.resent = 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)
        if name not in _WRITES:
            return method

        async def twice(*args: Any, **kwargs: Any) -> Any:
            await method(*args, **kwargs)
            self.resent += 1
            return await method(*args, **kwargs)

        return twice


class Repositories:
    def __init__(self, store: MongoStore) -> None:
        self.workflow_writes = SentTwice(store.workflows_collection)
        self.execution_writes = SentTwice(store.executions_collection)
        self.workflows = MongoWorkflowRepository(self.workflow_writes)  # type: ignore[arg-type]
        self.executions = MongoExecutionRepository(self.execution_writes)  # type: ignore[arg-type]
        # Arranging goes through the plain repositories: only the write under test is sent twice.
        self.plain = store


@pytest.fixture
async def repos(fresh_mongo_url: str) -> AsyncIterator[Repositories]:
    store = MongoStore.from_url(fresh_mongo_url, timeout_ms=10_000)
    await store.ensure_indexes()
    try:
        yield Repositories(store)
    finally:
        await store.close()


async def test_an_execution_inserted_twice_is_stored_once(repos: Repositories) -> None:
    execution = stored_execution = await stored(repos.plain.executions, WF, "other")
    del stored_execution

    await repos.executions.add(
        execution.model_copy(update={"execution_id": "ex"}), ExecutionPlan.of(WF), idempotency_key="k"
    )

    page = await repos.plain.executions.newest_first(ExecutionFilter(workflow_id="wf"), limit=10, cursor=None)
    assert sorted(item.execution_id for item in page.items) == ["ex", "other"]
    assert repos.execution_writes.resent == 1


async def test_a_run_claim_sent_twice_is_the_claim(repos: Repositories) -> None:
    await stored(repos.plain.executions, WF, "ex")

    claimed = await repos.executions.claim_for_run("ex", attempt=1, owner="claim-1", lease_until=T0 + LEASE, now=T0)

    assert claimed is not None and claimed.execution.status is ExecutionStatus.RUNNING
    assert await repos.plain.executions.renew_lease("ex", owner="claim-1", lease_until=T0 + LEASE)


async def test_a_final_save_sent_twice_succeeds(repos: Repositories) -> None:
    execution = await running(repos.plain.executions, WF, "ex", owner="claim-1", now=T0)
    execution.succeed(T0 + ms(5))

    assert await repos.executions.save_progress(execution, owner="claim-1", lease_until=T0 + LEASE)
    assert (await repos.plain.executions.get("ex")).status is ExecutionStatus.SUCCEEDED


async def test_a_cancel_sent_twice_answers_the_cancelled_execution(repos: Repositories) -> None:
    await stored(repos.plain.executions, WF, "ex")

    cancelled = await repos.executions.cancel("ex", now=T0 + ms(3))

    assert cancelled.status is ExecutionStatus.CANCELLED
    assert cancelled == await repos.plain.executions.get("ex")


async def test_a_retry_claim_sent_twice_is_the_claim(repos: Repositories) -> None:
    waiting = await pending(repos.plain.executions, WF, "ex", now=T0)
    assert waiting.next_retry_at is not None

    claimed = await repos.executions.claim_retry("ex", now=waiting.next_retry_at)

    assert claimed is not None
    assert (claimed.status, claimed.attempt) == (ExecutionStatus.QUEUED, 2)


async def test_a_lock_taken_with_a_resent_write_is_held(repos: Repositories) -> None:
    await repos.plain.workflows.add(manual_workflow("wf"))

    locked = await repos.workflows.try_acquire_trigger_lock("wf", execution_id="ex-1", now=T0)

    assert (locked.trigger.status, locked.trigger.execution_id) == (TriggerStatus.BUSY, "ex-1")


async def test_a_slot_claimed_with_a_resent_write_is_fired_once(repos: Repositories) -> None:
    await repos.plain.workflows.add(WF)
    slot = T0 + seconds(10)

    claim = await repos.workflows.claim_schedule_slot(
        "wf", slot=slot, next_run_at=slot + seconds(10), execution_id="ex-1", now=slot
    )

    assert claim.outcome is SlotOutcome.FIRED
    stored_workflow = await repos.plain.workflows.get("wf")
    assert (stored_workflow.trigger.next_run_at, stored_workflow.trigger.execution_id) == (slot + seconds(10), "ex-1")
    assert stored_workflow.trigger.skipped_fires == 0


async def test_a_workflow_added_with_a_resent_write_is_created(repos: Repositories) -> None:
    item = manual_workflow("wf")

    await repos.workflows.add(item)

    assert await repos.plain.workflows.get("wf") == item


async def test_a_definition_replaced_with_a_resent_write_is_one_new_version(repos: Repositories) -> None:
    await repos.plain.workflows.add(manual_workflow("wf"))
    revised = manual_workflow("wf", now=T0 + seconds(1)).model_copy(update={"version": 2, "description": "new"})

    replaced = await repos.workflows.replace_definition(revised, expected_version=1, reschedule=False)

    assert (replaced.version, replaced.description) == (2, "new")


async def test_a_delete_with_a_resent_write_is_one_delete(repos: Repositories) -> None:
    await repos.plain.workflows.add(manual_workflow("wf"))

    await repos.workflows.delete("wf", now=T0 + seconds(1))

    assert await repos.plain.workflows.ever_existed("wf")
    assert repos.workflow_writes.resent == 1
