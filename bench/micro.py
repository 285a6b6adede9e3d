"""The micro scenario: the embedded MongoDB's raw capacity for the commands one execution uses, without the
services in the way, so that the other scenarios' figures can be read against it ("is SecantusDB the wall?").

Each command runs on a collection of the bench's own, on documents shaped like a stored execution, first one at a
time and then with many in flight, for a bounded number of calls and at most a bounded time. Next to the rates:
the CPU the server and this client used meanwhile (from /proc), as a share of one core. The server near 100 %
while the client idles means the server is the wall.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import bson
from pymongo import AsyncMongoClient, InsertOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from bench.history import finished_execution_documents
from bench.scenarios import progress
from bench.stack import cpu_seconds, percent_of_core, seconds_between
from bench.stats import distribution
from wfa.adapters.mongo.documents import ID, Document, ExecutionFields
from wfa.adapters.mongo.executions import EXECUTION_INDEXES

COLLECTION = "bench_micro"
#: The same documents, indexed as the services index their executions: the writes' price there (SecantusDB
#: maintains every index, partial or not, on every write that changes a document).
INDEXED_COLLECTION = "bench_micro_indexed"
#: A server using this share of one core or more is taken to be the limit.
SATURATED_PERCENT = 90.0


@dataclass(frozen=True)
class Settings:
    calls: int  # per command and concurrency
    seconds: float  # at most, per command and concurrency
    concurrency: int  # the "many in flight" level
    batch: int  # documents per bulk_write, $in and bulk insert
    preload: int  # documents in the collection before the reads and updates


def _fresh(template: Document) -> Document:
    return {**template, ID: uuid.uuid4().hex}


async def _timed(
    call: Callable[[], Awaitable[object]], *, calls: int, seconds: float, concurrency: int
) -> tuple[list[float], float]:
    """Run `call` until `calls` have been made or `seconds` have passed, `concurrency` at a time; the latency of
    each call in milliseconds, and the elapsed seconds."""
    remaining = itertools.count()
    latencies: list[float] = []
    start = time.monotonic()
    deadline = start + seconds

    async def worker() -> None:
        while next(remaining) < calls and time.monotonic() < deadline:
            sent = time.monotonic()
            await call()
            latencies.append((time.monotonic() - sent) * 1000)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.monotonic() - start


async def _measure(
    name: str,
    call: Callable[[], Awaitable[object]],
    *,
    docs_per_call: int,
    settings: Settings,
    concurrency: int,
    server_pid: int | None,
) -> dict[str, Any]:
    server_before = None if server_pid is None else cpu_seconds(server_pid)
    client_before = cpu_seconds(os.getpid())
    latencies, elapsed = await _timed(call, calls=settings.calls, seconds=settings.seconds, concurrency=concurrency)
    server_after = None if server_pid is None else cpu_seconds(server_pid)
    server = percent_of_core(seconds_between(server_before, server_after), elapsed)
    client = percent_of_core(seconds_between(client_before, cpu_seconds(os.getpid())), elapsed)
    progress(f"micro: {name} x{concurrency}: {len(latencies) / elapsed:.0f} calls/s, server {server} % of a core")
    return {
        "concurrency": concurrency,
        "calls": len(latencies),
        "seconds": round(elapsed, 3),
        "calls_per_second": round(len(latencies) / elapsed, 1),
        "documents_per_second": round(len(latencies) * docs_per_call / elapsed, 1),
        "call_ms": distribution(latencies, digits=2),
        "cpu_percent": {"mongo server": server, "bench client": client},
        "server_saturated": None if server is None else server >= SATURATED_PERCENT,
    }


def _commands(
    collection: AsyncCollection[Document], template: Document, ids: list[str], batch: int
) -> dict[str, tuple[int, Callable[[], Awaitable[object]]]]:
    """`{command: (documents per call, call)}`: what one execution's life sends, one kind at a time."""
    picks = itertools.cycle(ids)

    def finished() -> Document:
        # A new finishedAt each time: an update that changes nothing is one a real MongoDB need not write.
        return {"$set": {ExecutionFields.STATUS: "succeeded", ExecutionFields.FINISHED_AT: datetime.now(UTC)}}

    def update(document_id: str) -> UpdateOne:
        return UpdateOne({ID: document_id}, finished())

    return {
        "insert_one": (1, lambda: collection.insert_one(_fresh(template))),
        "update_one by _id": (1, lambda: collection.update_one({ID: next(picks)}, finished())),
        "find_one by _id": (1, lambda: collection.find_one({ID: next(picks)})),
        f"bulk_write of {batch} UpdateOne": (
            batch,
            lambda: collection.bulk_write([update(next(picks)) for _ in range(batch)], ordered=False),
        ),
        f"find _id $in {batch}": (
            batch,
            lambda: collection.find({ID: {"$in": [next(picks) for _ in range(batch)]}}).to_list(),
        ),
        f"bulk_write of {batch} InsertOne": (
            batch,
            lambda: collection.bulk_write([InsertOne(_fresh(template)) for _ in range(batch)], ordered=False),
        ),
    }


def _indexed_writes(batch: int) -> tuple[str, ...]:
    """The writes measured on the indexed collection too (reads by `_id` do not touch the other indexes)."""
    return ("insert_one", "update_one by _id", f"bulk_write of {batch} UpdateOne")


async def micro(mongo_url: str, *, settings: Settings, server_pids: Mapping[str, int]) -> dict[str, Any]:
    """Every command of `_commands`, at concurrency 1 and `settings.concurrency`."""
    (template,) = finished_execution_documents(1, workflows=1, now=datetime.now(UTC), days=1, prefix="bench-micro")
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_url)
    try:
        collection = client.get_default_database()[COLLECTION]
        progress(f"micro: storing {settings.preload} documents to read and update")
        preload = [_fresh(template) for _ in range(settings.preload)]
        for start in range(0, len(preload), 1000):
            await collection.insert_many(preload[start : start + 1000], ordered=False)
        ids = [document[ID] for document in preload]
        indexed = client.get_default_database()[INDEXED_COLLECTION]
        await indexed.create_indexes(EXECUTION_INDEXES)
        for start in range(0, len(preload), 1000):
            await indexed.insert_many(preload[start : start + 1000], ordered=False)
        writes = _commands(indexed, template, ids, settings.batch)
        suffix = f", {len(EXECUTION_INDEXES)} indexes as executions"
        commands = {
            **_commands(collection, template, ids, settings.batch),
            **{name + suffix: writes[name] for name in _indexed_writes(settings.batch)},
        }
        results: dict[str, list[dict[str, Any]]] = {}
        for name, (docs_per_call, call) in commands.items():
            results[name] = [
                await _measure(
                    name,
                    call,
                    docs_per_call=docs_per_call,
                    settings=settings,
                    concurrency=level,
                    server_pid=server_pids.get("mongo"),
                )
                for level in sorted({1, settings.concurrency})
            ]
        await collection.drop()
        await indexed.drop()
    finally:
        await client.close()
    return {
        "settings": {
            "calls": settings.calls,
            "max_seconds": settings.seconds,
            "concurrency": settings.concurrency,
            "batch": settings.batch,
            "preloaded_documents": settings.preload,
            "indexes_of_the_indexed_collection": [index.document["name"] for index in EXECUTION_INDEXES],
            "document_bytes": len(bson.encode(template)),
        },
        "commands": results,
    }
