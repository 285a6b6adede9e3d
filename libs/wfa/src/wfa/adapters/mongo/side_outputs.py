"""Large action outputs, stored beside their execution rather than inside it.

An execution is one document, and MongoDB refuses a document over 16 MiB: 100 actions whose outputs hold 256 KiB
each (WFA_ACTION_OUTPUT_MAX_BYTES) would make 25 MiB. So an output larger than INLINE_MAX_BYTES is written to its
own document in `execution_outputs`, and the execution holds `{"sideOutput": <its _id>}` in its place; reads put
the outputs back, so nothing above the repository knows.

- The `_id` is the execution id and a hash of the output's stored text: writing an output is idempotent (the same
  text of the same execution is the same document) and a stored one never changes, so it needs no lock, no
  version, and a write sent twice or by two runners is harmless.
- Written before the execution write that refers to it, and acknowledged first: a reference never points at
  nothing. The ids known to be stored (written, or seen in a read) are remembered, so the record that is saved
  after every action does not send the earlier outputs again.
- Read back with one `find({_id: {$in}})` per read or page, and only when it refers to any: small outputs, the
  common case, cost no command at all.
- Removed with their execution (retention), before it: a crash in between leaves an execution without its large
  outputs that the next pass removes, never an output that nothing refers to and nothing would remove. A side
  output missing on a read (that window, or a read racing the removal) reads as a null output, with a warning.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Final

import structlog
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection

from wfa.adapters.mongo.documents import ID, OUTPUT, RUN_LISTS, Document, runs_of
from wfa.adapters.mongo.group_commit import GroupCommit

log = structlog.get_logger(__name__)

SIDE_OUTPUTS: Final = "execution_outputs"
INLINE_MAX_BYTES: Final = 16 * 1024
"""Outputs up to this size stay in the execution. 16 KiB keeps every output of an ordinary API call inline (no extra
command), while the most a record can hold inline, a few hundred runs (100 actions, their compensations and failure
handlers) of 16 KiB, stays a few MiB under the 16 MiB limit with its input and errors."""
_REF: Final = "sideOutput"  # an output is stored as JSON text or null: a document in its place is a reference
_EXECUTION_ID: Final = "executionId"
_TEXT: Final = "text"
_KNOWN_STORED: Final = 16_384
"""How many stored ids are remembered: more than the large outputs of every execution a runner has in flight."""

REFERENCES: Final = {f"{name}.{OUTPUT}.{_REF}": 1 for name in RUN_LISTS}
"""A projection of a stored execution that keeps its references and leaves its outputs out."""

SIDE_OUTPUT_INDEXES: Final = [
    # Retention removes them by execution.
    IndexModel([(_EXECUTION_ID, ASCENDING)], name="execution"),
]


class SideOutputs:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._collection = collection
        self._group = GroupCommit(collection)
        self._stored: OrderedDict[str, None] = OrderedDict()

    async def set_aside(self, execution_id: str, document: Document) -> Document:
        """`document` (an execution, or the fields of one, as stored) with each large output replaced by a
        reference, once those outputs are stored."""
        new: dict[str, Document] = {}
        replaced: Document = dict(document)
        for name, runs in _run_lists(document):
            replaced[name] = [self._referring(execution_id, run, new) for run in runs]
        if new:
            await self._group.insert_new(list(new.values()))
            self._remember(new)
        return replaced

    async def put_back(self, documents: Sequence[Document]) -> None:
        """Replace, in place, the references in `documents` (stored executions) by the outputs they refer to."""
        referring = [run for document in documents for run in runs_of(document) if _is_ref(run.get(OUTPUT))]
        if not referring:
            return
        ids = list({run[OUTPUT][_REF] for run in referring})
        texts = {found[ID]: found[_TEXT] async for found in self._collection.find({ID: {"$in": ids}})}
        self._remember(texts)
        for run in referring:
            side_id = run[OUTPUT][_REF]
            if side_id not in texts:
                log.warning("side output missing", side_output=side_id)
            run[OUTPUT] = texts.get(side_id)

    async def remove(self, documents: Sequence[Document]) -> None:
        """Remove the side outputs of `documents` (stored executions, projected by REFERENCES at least); no command
        when they refer to none."""
        ids = [document[ID] for document in documents if any(_is_ref(run.get(OUTPUT)) for run in runs_of(document))]
        if ids:
            await self._collection.delete_many({_EXECUTION_ID: {"$in": ids}})

    def _referring(self, execution_id: str, run: Document, new: dict[str, Document]) -> Document:
        text = run.get(OUTPUT)
        # At most 4 bytes a character in UTF-8: most outputs are judged without encoding them.
        if not isinstance(text, str) or len(text) * 4 <= INLINE_MAX_BYTES:
            return run
        data = text.encode()
        if len(data) <= INLINE_MAX_BYTES:
            return run
        side_id = f"{execution_id}/{hashlib.sha256(data).hexdigest()}"
        if side_id not in self._stored:
            new[side_id] = {ID: side_id, _EXECUTION_ID: execution_id, _TEXT: text}
        return {**run, OUTPUT: {_REF: side_id}}

    def _remember(self, ids: Iterable[str]) -> None:
        for side_id in ids:
            self._stored[side_id] = None
            self._stored.move_to_end(side_id)
        while len(self._stored) > _KNOWN_STORED:
            self._stored.popitem(last=False)


def _run_lists(document: Document) -> list[tuple[str, list[Document]]]:
    return [(name, document[name]) for name in RUN_LISTS if document.get(name) is not None]


def _is_ref(output: object) -> bool:
    return isinstance(output, dict) and _REF in output
