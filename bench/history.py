"""The history scenario: does the throughput of 200 executions at once hold up once the database stores tens of
thousands of finished executions?

The stored history is inserted directly (insert_many, in batches) as the scenario's setup: each document is
built through the domain model and `wfa.adapters.mongo.documents.execution_to_document`, so it is what the
services store for a finished execution of a one-`log`-action workflow, no hand-written look-alike.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient

from bench import scenarios
from bench.windows import ratio
from wfa.adapters.mongo.documents import Document, execution_to_document
from wfa.adapters.mongo.store import EXECUTIONS
from wfa.domain.execution import Execution, ExecutionPlan, Reason
from wfa.domain.workflow import LogAction, Trigger, TriggerType, Workflow

#: Targets: with the history stored, throughput at least this share of the empty database's ...
THROUGHPUT_SHARE_TARGET = 0.8
#: ... and trigger p99 at most this many times the empty database's.
P99_RATIO_TARGET = 2.0
SCHEDULED_SHARE = 0.25  # the rest are manual triggers
INSERT_BATCH = 1000
WARMUP_EXECUTIONS = 20


def _workflow(workflow_id: str, *, periodic: bool, created: datetime) -> Workflow:
    spec = {"type": TriggerType.PERIODIC, "interval": timedelta(minutes=1)} if periodic else {"type": "manual"}
    return Workflow(
        workflow_id=workflow_id,
        trigger=Trigger.model_validate(spec),
        actions=[LogAction(type="log", message="bench")],
        created_at=created,
        updated_at=created,
    )


def finished_execution_documents(
    count: int, *, workflows: int, now: datetime, days: float, prefix: str, seed: int = 0
) -> Iterator[Document]:
    """`count` stored documents of succeeded executions, spread over `workflows` workflows (`<prefix>-NNNN`) and
    created at random over the `days` before `now`; the same seed gives the same documents."""
    if count < 0 or workflows < 1 or days <= 0:
        raise ValueError(f"count >= 0, workflows >= 1 and days > 0, not {count}, {workflows}, {days}")
    rng = random.Random(seed)
    oldest = now - timedelta(days=days)
    definitions = [
        _workflow(f"{prefix}-{index:04d}", periodic=rng.random() < SCHEDULED_SHARE, created=oldest)
        for index in range(workflows)
    ]
    plans = [ExecutionPlan.of(workflow) for workflow in definitions]
    for _ in range(count):
        index = rng.randrange(workflows)
        workflow = definitions[index]
        created = oldest + timedelta(seconds=rng.uniform(0, days * 86400))
        periodic = workflow.trigger.type is TriggerType.PERIODIC
        execution = Execution.queued(
            execution_id=uuid.UUID(int=rng.getrandbits(128), version=4).hex,
            workflow=workflow,
            reason=Reason.SCHEDULE if periodic else Reason.MANUAL,
            input=None,
            now=created,
            scheduled_for=created - timedelta(milliseconds=rng.uniform(1, 20)) if periodic else None,
        )
        # The runner's steps for one `log` action, with the few milliseconds apart they take.
        started = created + timedelta(milliseconds=rng.uniform(2, 30))
        execution.start_attempt(started)
        execution.begin_action(0, started)
        done = started + timedelta(milliseconds=rng.uniform(0.2, 3))
        execution.complete_action(0, {"message": "bench"}, done)
        execution.succeed(done + timedelta(milliseconds=rng.uniform(1, 10)))
        yield execution_to_document(execution, plans[index], idempotency_key=None)


async def insert_history(mongo_url: str, documents: Iterator[Document], *, batch: int = INSERT_BATCH) -> int:
    """Insert `documents` into the executions collection of the database `mongo_url` names, `batch` at a time;
    how many were inserted."""
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_url)
    try:
        collection = client.get_default_database()[EXECUTIONS]
        inserted = 0
        chunk: list[Document] = []
        for document in documents:
            chunk.append(document)
            if len(chunk) >= batch:
                inserted += len((await collection.insert_many(chunk, ordered=False)).inserted_ids)
                chunk = []
        if chunk:
            inserted += len((await collection.insert_many(chunk, ordered=False)).inserted_ids)
        return inserted
    finally:
        await client.close()


async def stored_executions(mongo_url: str) -> int:
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_url)
    try:
        return await client.get_default_database()[EXECUTIONS].count_documents({})
    finally:
        await client.close()


async def history(
    ctx: scenarios.Context, *, mongo_url: str, executions: int, history_executions: int, concurrency: int
) -> dict[str, Any]:
    """The throughput scenario on the database as it is, then again after `history_executions` finished
    executions were stored; the second's figures against the first's."""
    # A cold first round (connections, caches, the consumer group settling) would flatter the second: warm up.
    await scenarios.throughput(ctx, executions=WARMUP_EXECUTIONS, concurrency=concurrency, name="history-warmup")
    before = await stored_executions(mongo_url)
    scenarios.progress(f"history: throughput with {before} executions stored")
    empty = await scenarios.throughput(ctx, executions=executions, concurrency=concurrency, name="history-empty")
    scenarios.progress(f"history: storing {history_executions} finished executions")
    started = time.monotonic()
    documents = finished_execution_documents(
        history_executions,
        workflows=300,
        now=datetime.now(UTC),
        days=3,
        prefix=f"{ctx.run_tag}-history-old",
    )
    inserted = await insert_history(mongo_url, documents)
    insert_seconds = time.monotonic() - started
    stored = await stored_executions(mongo_url)
    scenarios.progress(f"history: throughput with {stored} executions stored")
    full = await scenarios.throughput(ctx, executions=executions, concurrency=concurrency, name="history-full")
    share = ratio(empty["executions_per_second"], full["executions_per_second"])
    p99 = ratio(empty["client_ms"].get("p99"), full["client_ms"].get("p99"))
    server_p99 = ratio(empty["server_ms"].get("p99"), full["server_ms"].get("p99"))
    return {
        "executions": executions,
        "empty": {"stored_executions": before, **empty},
        "setup": {
            "inserted": inserted,
            "seconds": round(insert_seconds, 1),
            "documents_per_second": round(inserted / insert_seconds, 1) if insert_seconds > 0 else None,
        },
        "with_history": {"stored_executions": stored, **full},
        "throughput_share": None if share is None else round(share, 3),
        "client_p99_ratio": None if p99 is None else round(p99, 3),
        "server_p99_ratio": None if server_p99 is None else round(server_p99, 3),
        "targets": {
            "throughput_share_at_least": THROUGHPUT_SHARE_TARGET,
            "p99_ratio_at_most": P99_RATIO_TARGET,
            "met": None
            if share is None or p99 is None
            else share >= THROUGHPUT_SHARE_TARGET and p99 <= P99_RATIO_TARGET,
        },
    }
