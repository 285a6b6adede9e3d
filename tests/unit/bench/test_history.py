from datetime import UTC, datetime, timedelta

from bench.history import finished_execution_documents

from wfa.adapters.mongo.documents import execution_from_document, plan_from_document
from wfa.domain.execution import ActionStatus, ExecutionStatus, Reason

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _documents(count: int = 400, seed: int = 1) -> list[dict[str, object]]:
    return list(finished_execution_documents(count, workflows=30, now=NOW, days=3, prefix="old", seed=seed))


def test_every_document_reads_back_as_a_succeeded_execution_with_its_plan() -> None:
    for document in _documents(50):
        execution = execution_from_document(document)
        plan = plan_from_document(document)

        assert execution.status is ExecutionStatus.SUCCEEDED
        assert [run.status for run in execution.actions] == [ActionStatus.SUCCEEDED]
        assert [action.type for action in plan.actions] == ["log"]
        assert execution.started_at is not None and execution.finished_at is not None
        assert execution.created_at <= execution.started_at <= execution.finished_at
        assert execution.duration_ms is not None


def test_documents_spread_over_the_workflows_and_the_days_before_now() -> None:
    documents = _documents()
    created = [execution_from_document(d).created_at for d in documents]

    assert len({d["workflowId"] for d in documents}) == 30
    assert all(NOW - timedelta(days=3) <= moment <= NOW for moment in created)
    assert max(created) - min(created) > timedelta(days=2)


def test_scheduled_executions_carry_their_slot_and_manual_ones_none() -> None:
    executions = [execution_from_document(d) for d in _documents()]
    scheduled = [e for e in executions if e.reason is Reason.SCHEDULE]

    assert scheduled and len(scheduled) < len(executions)
    assert all(e.scheduled_for is not None and e.scheduled_for < e.created_at for e in scheduled)
    assert all(e.scheduled_for is None for e in executions if e.reason is Reason.MANUAL)


def test_ids_are_unique_and_a_seed_gives_the_same_documents() -> None:
    documents = _documents()

    assert len({d["_id"] for d in documents}) == len(documents)
    assert documents == _documents()
    assert documents != _documents(seed=2)


def test_documents_are_stored_as_dispatched_and_unleased() -> None:
    document = _documents(1)[0]

    assert document["dispatchedAt"] == document["createdAt"]
    assert document["leaseOwner"] is None
