"""Group commit: the single-document writes and reads by `_id` that concurrent callers make of one collection,
sent to the server together.

Each command costs the server (and the embedded one most) a fixed price, while a bulk write of many documents
costs a fraction of it per document. So while a command of one kind is in flight, the calls of that kind that
arrive queue up, and go together as one `bulk_write` (updates), one `insert_many` (inserts, and inserts of
immutable documents that may exist already) or one `find({_id: {$in}})` (reads) as soon as it returns. Nothing
waits for a timer: an idle collection sends each call at once, as before; a loaded one sends fewer, larger
commands. Every caller still gets its own answer only once
its own write is acknowledged, so batching never moves a write past the point where the caller depends on it.

A bulk update tells how many of its updates matched, not which. So each update also stamps its document with a
token of its own (`LAST_WRITE`), a batch holds at most one update per document, and when fewer matched than were
sent, the documents are read back: an update applied exactly where its token is found.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pymongo import InsertOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from wfa.adapters.mongo.documents import ID, LAST_WRITE, Document

T = TypeVar("T")
A = TypeVar("A")


@dataclass
class _Call(Generic[A, T]):
    argument: A
    answer: asyncio.Future[T] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def resolve(self, value: T) -> None:
        if not self.answer.done():  # a caller that was cancelled meanwhile wants no answer
            self.answer.set_result(value)

    def fail(self, exc: BaseException) -> None:
        if not self.answer.done():
            self.answer.set_exception(exc)


class _Queue(Generic[A, T]):
    """Calls of one kind: the first one sends at once; those arriving while a command is in flight go together
    in the next one."""

    def __init__(self, send: Callable[[list[_Call[A, T]]], Any], key: Callable[[A], Hashable] | None = None) -> None:
        self._send = send
        self._key = key
        self._waiting: list[_Call[A, T]] = []
        self._sending = False
        # The loop keeps only a weak reference to a task: without this one, a drain could be collected mid-way and
        # leave its callers waiting forever.
        self._drainer: asyncio.Task[None] | None = None

    async def call(self, argument: A) -> T:
        call: _Call[A, T] = _Call(argument)
        if self._sending:
            self._waiting.append(call)
            return await call.answer
        # Nothing in flight: this call is sent from the caller's own task, with no hop through another one (an
        # idle process pays nothing for the grouping); whatever arrives meanwhile goes next, together.
        self._sending = True
        try:
            await self._send([call])
        finally:
            if self._waiting:
                self._drainer = asyncio.get_running_loop().create_task(self._drain())
            else:
                self._sending = False
        return call.answer.result()

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._next_batch()
                try:
                    await self._send(batch)
                except BaseException as exc:  # handed to every caller of the batch: their write failed
                    for call in batch:
                        call.fail(exc)
                    if not isinstance(exc, Exception):
                        raise
        finally:
            self._sending = False

    def _next_batch(self) -> tuple[list[_Call[A, T]], list[_Call[A, T]]]:
        """The waiting calls, but of those with the same key only the first (the rest wait for the next batch)."""
        if self._key is None:
            return self._waiting, []
        batch: list[_Call[A, T]] = []
        later: list[_Call[A, T]] = []
        keys: set[Hashable] = set()
        for call in self._waiting:
            key = self._key(call.argument)
            (later if key in keys else batch).append(call)
            keys.add(key)
        return batch, later


@dataclass(frozen=True)
class _Update:
    filter: Document
    update: Document
    token: str = field(default_factory=lambda: uuid.uuid4().hex)

    def stamped(self) -> Document:
        return {**self.update, "$set": {**self.update.get("$set", {}), LAST_WRITE: self.token}}


class GroupCommit:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._collection = collection
        self._updates: _Queue[_Update, bool] = _Queue(self._send_updates, key=lambda update: update.filter[ID])
        self._inserts: _Queue[Document, None] = _Queue(self._send_inserts)
        self._new: _Queue[list[Document], None] = _Queue(self._send_new)
        self._reads: dict[Hashable, _Queue[Any, Document | None]] = {}

    async def update(self, filter: Document, update: Document) -> bool:
        """One conditional update (`$set`, `$inc`) of the document `filter[_id]`; True when it applied."""
        return await self._updates.call(_Update(filter, update))

    async def insert(self, document: Document) -> None:
        """Raises DuplicateKeyError when a document with its `_id` exists."""
        await self._inserts.call(document)

    async def insert_new(self, documents: list[Document]) -> None:
        """Insert each of `documents` unless one with its `_id` exists: for immutable documents whose `_id` names
        their content, where an existing one is this very document, written before."""
        await self._new.call(documents)

    async def find(self, document_id: Any, *, projection: Document | None = None) -> Document | None:
        key = tuple(sorted((projection or {}).items()))
        queue = self._reads.get(key)
        if queue is None:
            queue = self._reads[key] = _Queue(lambda batch: self._send_reads(batch, projection))
        return await queue.call(document_id)

    async def _send_updates(self, batch: list[_Call[_Update, bool]]) -> None:
        if len(batch) == 1:  # the idle case: the plain command, its own answer
            one = batch[0].argument
            single = await self._collection.update_one(one.filter, one.stamped())
            batch[0].resolve(single.matched_count == 1)
            return
        result = await self._collection.bulk_write(
            [UpdateOne(call.argument.filter, call.argument.stamped()) for call in batch], ordered=False
        )
        if result.matched_count == len(batch):
            for call in batch:
                call.resolve(True)
            return
        ids = [call.argument.filter[ID] for call in batch]
        cursor = self._collection.find({ID: {"$in": ids}}, projection={LAST_WRITE: 1})
        marks = {document[ID]: document.get(LAST_WRITE) async for document in cursor}
        for call in batch:
            call.resolve(marks.get(call.argument.filter[ID]) == call.argument.token)

    async def _send_inserts(self, batch: list[_Call[Document, None]]) -> None:
        try:
            if len(batch) == 1:
                await self._collection.insert_one(batch[0].argument)
            else:
                await self._collection.bulk_write([InsertOne(call.argument) for call in batch], ordered=False)
        except DuplicateKeyError as exc:
            batch[0].fail(exc)
            return
        except BulkWriteError as exc:
            failed = {error["index"]: error for error in exc.details.get("writeErrors", [])}
            for index, call in enumerate(batch):
                error = failed.get(index)
                if error is None:
                    call.resolve(None)
                elif error.get("code") == 11000:
                    call.fail(DuplicateKeyError(error.get("errmsg", ""), 11000, error))
                else:
                    call.fail(exc)
            return
        for call in batch:
            call.resolve(None)

    async def _send_new(self, batch: list[_Call[list[Document], None]]) -> None:
        owners = [call for call in batch for _ in call.argument]
        try:
            await self._collection.insert_many([d for call in batch for d in call.argument], ordered=False)
        except BulkWriteError as exc:
            for error in exc.details.get("writeErrors", []):
                if error.get("code") != 11000:
                    owners[error["index"]].fail(exc)
        for call in batch:
            call.resolve(None)

    async def _send_reads(self, batch: list[_Call[Any, Document | None]], projection: Document | None) -> None:
        if len(batch) == 1:
            batch[0].resolve(await self._collection.find_one({ID: batch[0].argument}, projection=projection))
            return
        ids = list({call.argument for call in batch})
        cursor = self._collection.find({ID: {"$in": ids}}, projection=projection)
        found = {document[ID]: document async for document in cursor}
        for call in batch:
            call.resolve(found.get(call.argument))
